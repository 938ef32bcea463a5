#include "layers/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/per_isa.h"
#include "layers/blas.h"
#include "layers/float_math.h"

namespace amanuensis {
namespace {

void attention_f32(attn::HeadsIn q, attn::HeadsIn k, attn::HeadsIn v, int heads, int len,
                   attn::HeadsOut out, ThreadPool& pool) {
  const float scale = 1.0f / std::sqrt(float(kHeadDim));
  pool.parallel_for(heads, [&](int h) {
    std::vector<float> s(size_t(len) * len);
    blas::sgemm(CblasNoTrans, CblasTrans, len, len, kHeadDim, scale, q.row(h, 0),
                int(q.row_stride), k.row(h, 0), int(k.row_stride), 0.0f, s.data(), len);
    for (int i = 0; i < len; ++i) {
      float* row = s.data() + size_t(i) * len;
      float mx = row[0];
      for (int j = 1; j < len; ++j) mx = std::max(mx, row[j]);
      double sum = 0;
      for (int j = 0; j < len; ++j) sum += (row[j] = std::exp(row[j] - mx));
      const float inv = float(1.0 / sum);
      for (int j = 0; j < len; ++j) row[j] *= inv;
    }
    blas::sgemm(CblasNoTrans, CblasNoTrans, len, kHeadDim, len, 1.0f, s.data(), len,
                v.row(h, 0), int(v.row_stride), 0.0f, out.row(h, 0), int(out.row_stride));
  });
}

constexpr float kScoreScale = 0.125f;  // 1/sqrt(64): exact, so the bytes equal scaling q first

// The loops below are written in a vector type V: Floats16 in the AVX-512
// copy (one register), Floats8 elsewhere. GCC splits a 16-float vector into
// two AVX2 registers through the stack: each broadcast built from scalar
// stores that a vector load cannot forward, the sums kept in memory (a decoder
// step 5-10x slower on Zen 3). Each lane does the same operations either way.
template <typename V>
constexpr int kLanes = int(sizeof(V) / sizeof(float));

// Scores of queries q[0..Q) (rows q_stride apart) against keys [j0, j0 + n)
// of one head's K, 32 keys at a time; each score adds its 64 products in
// channel order. Reads keys up to n rounded up to 32: K blocks are padded.
// With 16-float vectors two queries (Q = 2) share each K load: four
// independent sums where one query has two. With 8-float vectors one query
// already has four, and two would not fit AVX2's 16 registers.
template <typename V>
constexpr int kQueriesPerKeyLoad = kLanes<V> == 16 ? 2 : 1;

template <typename V, int Q>
inline __attribute__((always_inline)) void scores(const float* q, size_t q_stride, const float* k,
                                                  int j0, int n, float* p, size_t p_stride) {
  static_assert(Q <= kQueriesPerKeyLoad<V>);
  for (int j = j0; j < j0 + n; j += kKeyBlock) {
    const float* kb = k + key_offset(j, 0);
    if constexpr (kLanes<V> == 16) {
      V a[Q][2] = {};
      for (int c = 0; c < kHeadDim; ++c) {
        V k0, k1;
        std::memcpy(&k0, kb + c * kKeyBlock, sizeof k0);
        std::memcpy(&k1, kb + c * kKeyBlock + 16, sizeof k1);
        for (int i = 0; i < Q; ++i) {
          const float qc = q[i * q_stride + c];
          a[i][0] += qc * k0;
          a[i][1] += qc * k1;
        }
      }
      for (int i = 0; i < Q; ++i) std::memcpy(p + i * p_stride + j, a[i], sizeof a[i]);
    } else {
      V a0{}, a1{}, a2{}, a3{};
      for (int c = 0; c < kHeadDim; ++c) {
        const float qc = q[c];
        V k0, k1, k2, k3;
        std::memcpy(&k0, kb + c * kKeyBlock, sizeof k0);
        std::memcpy(&k1, kb + c * kKeyBlock + 8, sizeof k1);
        std::memcpy(&k2, kb + c * kKeyBlock + 16, sizeof k2);
        std::memcpy(&k3, kb + c * kKeyBlock + 24, sizeof k3);
        a0 += qc * k0;
        a1 += qc * k1;
        a2 += qc * k2;
        a3 += qc * k3;
      }
      std::memcpy(p + j, &a0, sizeof a0);
      std::memcpy(p + j + 8, &a1, sizeof a1);
      std::memcpy(p + j + 16, &a2, sizeof a2);
      std::memcpy(p + j + 24, &a3, sizeof a3);
    }
  }
}

// o[c] += p[j] * v[j][c] for j in [j0, j1), in order of j. The sums are
// named variables so that they stay in registers (as an array GCC kept them
// on the stack, each add waiting on a store).
template <typename V>
inline __attribute__((always_inline)) void weighted_sum(const float* pr, const float* v, int j0,
                                                        int j1, float* o) {
  static_assert(kHeadDim == 64 && kLanes<V> >= 8);
  constexpr int L = kLanes<V>;
  V a0, a1, a2, a3, a4{}, a5{}, a6{}, a7{};  // a4..a7: only when V holds 8 floats
  std::memcpy(&a0, o, sizeof a0);
  std::memcpy(&a1, o + L, sizeof a1);
  std::memcpy(&a2, o + 2 * L, sizeof a2);
  std::memcpy(&a3, o + 3 * L, sizeof a3);
  if constexpr (L == 8) {
    std::memcpy(&a4, o + 32, sizeof a4);
    std::memcpy(&a5, o + 40, sizeof a5);
    std::memcpy(&a6, o + 48, sizeof a6);
    std::memcpy(&a7, o + 56, sizeof a7);
  }
  for (int j = j0; j < j1; ++j) {
    const float pj = pr[j];
    const float* vj = v + size_t(j) * kHeadDim;
    V v0, v1, v2, v3;
    std::memcpy(&v0, vj, sizeof v0);
    std::memcpy(&v1, vj + L, sizeof v1);
    std::memcpy(&v2, vj + 2 * L, sizeof v2);
    std::memcpy(&v3, vj + 3 * L, sizeof v3);
    a0 += pj * v0;
    a1 += pj * v1;
    a2 += pj * v2;
    a3 += pj * v3;
    if constexpr (L == 8) {
      V v4, v5, v6, v7;
      std::memcpy(&v4, vj + 32, sizeof v4);
      std::memcpy(&v5, vj + 40, sizeof v5);
      std::memcpy(&v6, vj + 48, sizeof v6);
      std::memcpy(&v7, vj + 56, sizeof v7);
      a4 += pj * v4;
      a5 += pj * v5;
      a6 += pj * v6;
      a7 += pj * v7;
    }
  }
  std::memcpy(o, &a0, sizeof a0);
  std::memcpy(o + L, &a1, sizeof a1);
  std::memcpy(o + 2 * L, &a2, sizeof a2);
  std::memcpy(o + 3 * L, &a3, sizeof a3);
  if constexpr (L == 8) {
    std::memcpy(o + 32, &a4, sizeof a4);
    std::memcpy(o + 40, &a5, sizeof a5);
    std::memcpy(o + 48, &a6, sizeof a6);
    std::memcpy(o + 56, &a7, sizeof a7);
  }
}

// p[j] = exp(p[j] / 8 - max) for j < len, returns 1 / sum. The max and the
// exponentials go a vector V at a time (the max is the same whatever the
// order; each exponential is exp_nonpositive's bytes); the sum keeps its 16
// interleaved lanes.
template <typename V>
[[gnu::always_inline]] inline float softmax_numerators(float* p, int len) {
  constexpr int L = kLanes<V>;
  const int body_v = len / L * L;
  V mx_v = V{} - 3.0e38f;
  for (int j = 0; j < body_v; j += L) {
    V v;
    std::memcpy(&v, p + j, sizeof v);
    v *= kScoreScale;
    std::memcpy(p + j, &v, sizeof v);
    mx_v = v > mx_v ? v : mx_v;
  }
  float mx = -3.0e38f;
  for (int l = 0; l < L; ++l) mx = mx_v[l] > mx ? mx_v[l] : mx;
  for (int j = body_v; j < len; ++j) {
    p[j] *= kScoreScale;
    mx = p[j] > mx ? p[j] : mx;
  }
  for (int j = 0; j < body_v; j += L) {
    // One vector load and store: scalar stores read back as one vector load
    // cannot be forwarded to it, and the softmax took 9 TSC cycles a key
    // waiting on them (docs/PERFORMANCE.md, decoder step).
    V v;
    std::memcpy(&v, p + j, sizeof v);
    v -= mx;
    std::memcpy(p + j, &v, sizeof v);
    exp_nonpositive_lanes<V>(p + j);
  }
  for (int j = body_v; j < len; ++j) p[j] = exp_nonpositive(p[j] - mx);
  constexpr int kSumLanes = 16;
  float lanes[kSumLanes] = {};
  const int body = len / kSumLanes * kSumLanes;
  for (int j = 0; j < body; j += kSumLanes)
    for (int l = 0; l < kSumLanes; ++l) lanes[l] += p[j + l];
  for (int j = body; j < len; ++j) lanes[j - body] += p[j];
  float sum = 0.0f;
  for (int l = 0; l < kSumLanes; ++l) sum += lanes[l];
  return 1.0f / sum;
}

}  // namespace

SequenceAttention::SequenceAttention(Precision precision, Backend backend, int qk_planes)
    : precision_(precision), backend_(backend), qk_planes_(qk_planes) {}

void SequenceAttention::apply(attn::HeadsIn q, attn::HeadsIn k, attn::HeadsIn v, int heads,
                              int len, attn::HeadsOut out, ThreadPool& pool) const {
  if (precision_ == Precision::kFp32) return attention_f32(q, k, v, heads, len, out, pool);
  const attn::QuantizedAttention p =
      attn::quantize_attention(q, k, v, heads, len, len, false, 0, &pool, qk_planes_, backend_);
  attn::run_attention(p, backend_, attn::kMaxTile, pool, out);
}

namespace {

constexpr int kChunk = 64;  // keys: 16 KB of K, then of V, as floats (8 KB as halves)

// Asks for the next chunk's halves while this one is worked on: streamed
// from memory, they arrive meanwhile rather than when a load stalls. (With
// the chunks converted into a buffer: the Xeon 52.5 -> 50.6 ms a step. With
// the kernels converting in registers: Zen 3 the same with or without.)
inline __attribute__((always_inline)) void prefetch(const Half* x, size_t count) {
  for (size_t i = 0; i < count; i += 64 / sizeof(Half)) __builtin_prefetch(x + i);
}

// Each query's scores turned into softmax numerators, 1 / sum kept in the
// last slot of its scratch row; its output zeroed for the sums to come.
template <typename V>
[[gnu::always_inline]] inline void begin_sums(float* p, size_t stride, int nq, int len, float* out,
                                              size_t out_stride) {
  for (int r = 0; r < nq; ++r) {
    float* pr = p + size_t(r) * stride;
    pr[stride - 1] = softmax_numerators<V>(pr, len);
    float* o = out + r * out_stride;
    for (int c = 0; c < kHeadDim; ++c) o[c] = 0.0f;
  }
}

// Each query's output times its 1 / sum.
[[gnu::always_inline]] inline void end_sums(const float* p, size_t stride, int nq, float* out,
                                            size_t out_stride) {
  for (int r = 0; r < nq; ++r) {
    const float inv = p[size_t(r) * stride + stride - 1];
    float* o = out + r * out_stride;
    for (int c = 0; c < kHeadDim; ++c) o[c] *= inv;
  }
}

template <typename V>
[[gnu::always_inline]] inline void attend_loop(const float* q, size_t q_stride, int nq,
                                               const float* common_k, const float* common_v,
                                               int common_len, const KeyValues* own, int len,
                                               float* p, float* out, size_t out_stride) {
  const size_t stride = size_t(padded_len(len));
  // A chunk starts at a key block (64 is two), so its keys are contiguous.
  for (int j0 = 0; j0 < common_len; j0 += kChunk) {
    const int n = std::min(kChunk, common_len - j0);
    const float* k = common_k + size_t(j0) * kHeadDim;
    constexpr int kQ = kQueriesPerKeyLoad<V>;
    int r = 0;
    for (; r + kQ <= nq; r += kQ)
      scores<V, kQ>(q + r * q_stride, q_stride, k, 0, n, p + size_t(r) * stride + j0, stride);
    if (r < nq) scores<V, 1>(q + r * q_stride, 0, k, 0, n, p + size_t(r) * stride + j0, 0);
  }
  for (int r = 0; r < nq; ++r)
    for (int j0 = common_len; j0 < len; j0 += kChunk)
      scores<V, 1>(q + r * q_stride, 0, own[r].k, j0, std::min(kChunk, len - j0),
                   p + size_t(r) * stride, 0);
  begin_sums<V>(p, stride, nq, len, out, out_stride);
  for (int j0 = 0; j0 < common_len; j0 += kChunk) {
    const int n = std::min(kChunk, common_len - j0);
    const float* v = common_v + size_t(j0) * kHeadDim;
    for (int r = 0; r < nq; ++r)
      weighted_sum<V>(p + size_t(r) * stride + j0, v, 0, n, out + r * out_stride);
  }
  for (int r = 0; r < nq; ++r)
    if (common_len < len)
      weighted_sum<V>(p + size_t(r) * stride, own[r].v, common_len, len, out + r * out_stride);
  end_sums(p, stride, nq, out, out_stride);
}

}  // namespace

void attend(Backend backend, const float* q, size_t q_stride, int nq, const KeyValues& common,
            int common_len, const KeyValues* own, int len, float* p, float* out,
            size_t out_stride) {
  // attend_loop<V> for the backend, V the vector that fits its registers.
  if (vector_isa(backend) == Backend::kAvx512)
    return PerIsa<attend_loop<Floats16>>::avx512(q, q_stride, nq, common.k, common.v, common_len,
                                                 own, len, p, out, out_stride);
  per_isa<attend_loop<Floats8>>(backend, q, q_stride, nq, common.k, common.v, common_len, own, len,
                                p, out, out_stride);
}

void attend(Backend backend, const float* q, size_t q_stride, int nq, const HalfKeyValues& kv,
            int len, float* p, float* out, size_t out_stride) {
  // (q k_scale) . (K / k_scale) is q . K product by product: both scalings are
  // by powers of two, exact.
  std::vector<float> scaled;
  if (kv.k_scale != 1.0f) {
    scaled.resize(size_t(nq) * kHeadDim);
    for (int r = 0; r < nq; ++r)
      for (int c = 0; c < kHeadDim; ++c)
        scaled[size_t(r) * kHeadDim + c] = q[r * q_stride + c] * kv.k_scale;
    q = scaled.data();
    q_stride = kHeadDim;
  }
  // The kernels convert the halves in registers and add in attend_loop's
  // order: the same bytes.
  const decoder_attention::HalfKernels kernels = decoder_attention::half_kernels_for(backend);
  const size_t stride = size_t(padded_len(len));
  for (int j0 = 0; j0 < len; j0 += kChunk) {
    const int n = std::min(kChunk, len - j0);
    if (j0 + kChunk < len)
      prefetch(kv.k + size_t(j0 + kChunk) * kHeadDim,
               size_t(round_up(std::min(kChunk, len - j0 - kChunk), kKeyBlock)) * kHeadDim);
    kernels.scores(q, q_stride, nq, kv.k + size_t(j0) * kHeadDim, n, p + j0, stride);
  }
  if (vector_isa(backend) == Backend::kAvx512)
    PerIsa<begin_sums<Floats16>>::avx512(p, stride, nq, len, out, out_stride);
  else
    per_isa<begin_sums<Floats8>>(backend, p, stride, nq, len, out, out_stride);
  // A chunk of V stays in L1 for the kernel's passes over channel groups.
  for (int j0 = 0; j0 < len; j0 += kChunk) {
    const int n = std::min(kChunk, len - j0);
    if (j0 + kChunk < len)
      prefetch(kv.v + size_t(j0 + kChunk) * kHeadDim,
               size_t(std::min(kChunk, len - j0 - kChunk)) * kHeadDim);
    kernels.weighted_sums(p + j0, stride, nq, kv.v + size_t(j0) * kHeadDim, n, out, out_stride);
  }
  per_isa<end_sums>(backend, p, stride, nq, out, out_stride);
  if (kv.v_scale != 1.0f)
    for (int r = 0; r < nq; ++r)
      for (int c = 0; c < kHeadDim; ++c) out[r * out_stride + c] *= kv.v_scale;
}

}  // namespace amanuensis
