// AVX2 backend for machines without AVX-512 VNNI. AVX2 has no exact u8 x s8
// dot product (vpmaddubsw saturates), so both products run on int16 pairs
// with vpmaddwd, which is exact. Queries sit in the 8 lanes of a vector.
// Row state (max, sum) is scalar per row, with the shared spec.h primitives.
// Two-plane Q/K (spec.h): hi_q times 254 hi_k + lo_k (one int16), plus lo_q.hi_k.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/attention/backends.h"

namespace amanuensis::attn {
namespace {

// The spec's u16 tables widened for vpgatherdd.
struct Tables {
  int32_t exp16[kExp16.size()];
};
constexpr Tables kTables = [] {
  Tables t{};
  for (size_t f = 0; f < kExp16.size(); ++f) t.exp16[f] = kExp16[f];
  return t;
}();

inline uint32_t pair16(int16_t a, int16_t b) {
  return uint32_t(uint16_t(a)) | (uint32_t(uint16_t(b)) << 16);
}

// Two dims of one query as int16 pairs: [64 / 2][kTile].
template <int kTile>
void query_pairs(const int8_t* q, uint32_t (&q16)[kHeadDim / 2][kTile]) {
  for (int i = 0; i < kTile; ++i)
    for (int d = 0; d < kHeadDim / 2; ++d)
      q16[d][i] = pair16(q[i * kHeadDim + 2 * d], q[i * kHeadDim + 2 * d + 1]);
}

// Both products' inner loop: for i < n (even), with a_i the i-th row of `a` (rows
// a_stride bytes apart) and b_r,i the i-th pair of row r of `b` (rows b_stride
// bytes apart),
//   acc[r][v] += vpmaddwd(a_i[8v .. 8v + 7], broadcast(b_r,i))  for r < 2, v < 4.
// Each row of `a` is loaded once for both broadcasts. In assembly because GCC 12,
// from the same intrinsics, folds the loads back into every vpmaddwd and copies
// each accumulator twice a product: that loop took about 4 % longer on Zen 3
// (docs/PERFORMANCE.md, changelog). Integer sums, so any order gives the same
// bytes.
inline void madd_2x4(const uint32_t* a, long a_stride, const uint32_t* b, long b_stride, long n,
                     __m256i (&acc)[2][4]) {
  // Two rows an iteration (the loop's own instructions were a tenth of it): n is even.
  __m256i s0 = acc[0][0], s1 = acc[0][1], s2 = acc[0][2], s3 = acc[0][3];
  __m256i s4 = acc[1][0], s5 = acc[1][1], s6 = acc[1][2], s7 = acc[1][3];
  // clang-format off
#define AMANUENSIS_MADD(row, tmp, sum) \
  "vpmaddwd %%" row ", %%" tmp ", %%ymm15\n\tvpaddd %%ymm15, %[" sum "], %[" sum "]\n\t"
  // One row of `a` at (a + a_index), its two pairs of `b` at b_offset(b) and
  // b_offset(b + b_stride), into the 8 sums.
#define AMANUENSIS_ROW(a_index, b_offset)                    \
  "vmovdqa (%[a]" a_index "), %%ymm8\n\t"                   \
  "vmovdqa 32(%[a]" a_index "), %%ymm9\n\t"                 \
  "vmovdqa 64(%[a]" a_index "), %%ymm10\n\t"                \
  "vmovdqa 96(%[a]" a_index "), %%ymm11\n\t"                \
  "vpbroadcastd " b_offset "(%[b]), %%ymm12\n\t"             \
  "vpbroadcastd " b_offset "(%[b],%[b_stride]), %%ymm13\n\t" \
  AMANUENSIS_MADD("ymm12", "ymm8", "s0")                     \
  AMANUENSIS_MADD("ymm12", "ymm9", "s1")                     \
  AMANUENSIS_MADD("ymm12", "ymm10", "s2")                    \
  AMANUENSIS_MADD("ymm12", "ymm11", "s3")                    \
  AMANUENSIS_MADD("ymm13", "ymm8", "s4")                     \
  AMANUENSIS_MADD("ymm13", "ymm9", "s5")                     \
  AMANUENSIS_MADD("ymm13", "ymm10", "s6")                    \
  AMANUENSIS_MADD("ymm13", "ymm11", "s7")
  // clang-format on
  asm volatile("1:\n\t"                             //
               AMANUENSIS_ROW("", "")               // row i
               AMANUENSIS_ROW(",%[a_stride]", "4")  // row i + 1
               "lea (%[a],%[a_stride],2), %[a]\n\t"
               "add $8, %[b]\n\t"
               "sub $2, %[n]\n\t"
               "jnz 1b\n\t"
               : [s0] "+x"(s0), [s1] "+x"(s1), [s2] "+x"(s2), [s3] "+x"(s3), [s4] "+x"(s4),
                 [s5] "+x"(s5), [s6] "+x"(s6), [s7] "+x"(s7), [a] "+r"(a), [b] "+r"(b), [n] "+r"(n)
               : [a_stride] "r"(a_stride), [b_stride] "r"(b_stride)
               : "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm15", "cc", "memory");
#undef AMANUENSIS_ROW
#undef AMANUENSIS_MADD
  acc[0][0] = s0, acc[0][1] = s1, acc[0][2] = s2, acc[0][3] = s3;
  acc[1][0] = s4, acc[1][1] = s5, acc[1][2] = s6, acc[1][3] = s7;
}

// acc[r][v] += the products above for kRows rows of `b` and kVecs vectors of
// `a` (strides in uint32s): the assembly for 2 x 4, intrinsics otherwise.
template <int kRows, int kVecs>
void add_products(const uint32_t* a, int a_stride, const uint32_t* b, int b_stride, int n,
                  __m256i (&acc)[kRows][kVecs]) {
  if constexpr (kRows == 2 && kVecs == 4) {
    madd_2x4(a, 4L * a_stride, b, 4L * b_stride, n, acc);
  } else {
    for (int i = 0; i < n; ++i)
      for (int r = 0; r < kRows; ++r) {
        const __m256i br = _mm256_set1_epi32(int32_t(b[r * b_stride + i]));
        for (int v = 0; v < kVecs; ++v)
          acc[r][v] = _mm256_add_epi32(
              acc[r][v],
              _mm256_madd_epi16(_mm256_load_si256((const __m256i*)&a[i * a_stride + 8 * v]), br));
      }
  }
}

template <int kTile, int kPlanes>
void avx2_tile(const QuantizedAttention& p, const Avx2Pairs& pairs, int h, int q0,
               TileResult& out) {
  constexpr int kVecs = kTile / 8;
  // Eight accumulators a block: up to 4 query vectors by 2 or more keys (or
  // channels), so that each query vector loaded feeds two products or more.
  constexpr int kQueryVecs = std::min(kVecs, 4);
  constexpr int kKeyBlock = 8 / kQueryVecs;
  constexpr int kChanBlock = 8 / kQueryVecs;
  constexpr int kLo = kPlanes == 2 ? 1 : 0;  // the second planes' arrays are empty with one
  constexpr int kPairs = kHeadDim / 2;
  const uint32_t* k16 = pairs.k.data() + size_t(h) * p.kv_pad * kPairs;
  const uint32_t* k16_both = kLo ? pairs.k_both.data() + size_t(h) * p.kv_pad * kPairs : nullptr;
  const int v_stride = p.kv_pad / 2;
  const uint32_t* v16 = pairs.v.data() + size_t(h) * kHeadDim * v_stride;

  alignas(32) uint32_t q16[kHeadDim / 2][kTile], q16_lo[kLo ? kHeadDim / 2 : 1][kTile];
  query_pairs(p.q_head(h) + size_t(q0) * kHeadDim, q16);
  if constexpr (kLo) query_pairs(p.q_lo_head(h) + size_t(q0) * kHeadDim, q16_lo);
  alignas(32) int32_t L[kTile][kTile];            // [key][query]
  alignas(32) int32_t P[kTile][kTile];            // [key][query], P16
  alignas(32) uint32_t P8x2[kTile / 2][kTile];    // P8 of two keys of one query as int16
  alignas(32) int32_t acc[kHeadDim][kTile] = {};  // [channel][query]
  int32_t m[kTile], l[kTile] = {};
  std::fill(m, m + kTile, kLogitMasked);
  alignas(32) int32_t tile_max[kTile], part_mul[kTile], part_shift[kTile], part_round[kTile];

  const int32_t* k_mul = p.k_mul_head(h);
  __m256i q_mul[kVecs];
  for (int v = 0; v < kVecs; ++v)
    q_mul[v] = _mm256_loadu_si256((const __m256i*)(p.q_mul_head(h) + q0 + 8 * v));
  const __m256i score_round = _mm256_set1_epi32(1 << (kScoreMulBits - 1));
  const __m256i logit_round = _mm256_set1_epi32(1 << (p.logit_shift[h] - 1));
  const __m128i logit_shift = _mm_cvtsi32_si128(p.logit_shift[h]);

  const int k_end = p.keys_visible(q0 + kTile - 1);
  for (int k0 = 0; k0 < k_end; k0 += kTile) {
    // Pass 1: S = Q.K^T and logits.
    for (int jb = 0; jb < kTile; jb += kKeyBlock)
      for (int v0 = 0; v0 < kVecs; v0 += kQueryVecs) {
        __m256i s[kKeyBlock][kQueryVecs];
        for (int b = 0; b < kKeyBlock; ++b)
          for (int v = 0; v < kQueryVecs; ++v) s[b][v] = _mm256_setzero_si256();
        auto products = [&](const uint32_t(&queries)[kHeadDim / 2][kTile], const uint32_t* keys) {
          add_products(&queries[0][8 * v0], kTile, keys + size_t(k0 + jb) * kPairs, kPairs, kPairs,
                       s);
        };
        if constexpr (kLo) {  // hi.(254 hi + lo) + lo.hi, then S as spec.h's two_plane_score
          products(q16, k16_both);
          products(q16_lo, k16);
          for (int b = 0; b < kKeyBlock; ++b)
            for (int v = 0; v < kQueryVecs; ++v)
              s[b][v] = _mm256_srai_epi32(
                  _mm256_add_epi32(s[b][v], _mm256_set1_epi32(kTwoPlaneRound)), kTwoPlaneShift);
        } else {
          products(q16, k16);
        }
        for (int b = 0; b < kKeyBlock; ++b) {
          const __m256i km = _mm256_set1_epi32(k_mul[k0 + jb + b]);
          for (int v = 0; v < kQueryVecs; ++v) {
            const __m256i t = _mm256_srai_epi32(
                _mm256_add_epi32(_mm256_mullo_epi32(s[b][v], q_mul[v0 + v]), score_round),
                kScoreMulBits);
            _mm256_store_si256(
                (__m256i*)&L[jb + b][8 * (v0 + v)],
                _mm256_sra_epi32(_mm256_add_epi32(_mm256_mullo_epi32(t, km), logit_round),
                                 logit_shift));
          }
        }
      }
    // Masks and row maxima (scalar: cheap next to the products).
    for (int i = 0; i < kTile; ++i) {
      const int visible = p.keys_visible(q0 + i) - k0;
      for (int j = std::max(visible, 0); j < kTile; ++j) L[j][i] = kLogitMasked;
      tile_max[i] = kLogitMasked;
    }
    for (int j = 0; j < kTile; ++j)
      for (int i = 0; i < kTile; ++i) tile_max[i] = std::max(tile_max[i], L[j][i]);

    // Pass 2: P relative to the tile's row max (0 for masked keys).
    alignas(32) int32_t p_ref[kTile];
    for (int i = 0; i < kTile; ++i) p_ref[i] = tile_max[i] == kLogitMasked ? 0 : tile_max[i];
    int32_t l_tile[kTile] = {};
    for (int j = 0; j < kTile; ++j)
      for (int v = 0; v < kVecs; ++v) {
        const __m256i x = _mm256_sub_epi32(_mm256_load_si256((const __m256i*)&p_ref[8 * v]),
                                           _mm256_load_si256((const __m256i*)&L[j][8 * v]));
        const __m256i e = _mm256_i32gather_epi32(
            kTables.exp16, _mm256_and_si256(x, _mm256_set1_epi32(kLogitFracMask)), 4);
        _mm256_store_si256((__m256i*)&P[j][8 * v],
                           _mm256_srlv_epi32(e, _mm256_srai_epi32(x, kLogitFracBits)));
      }
    for (int j = 0; j < kTile; ++j)
      for (int i = 0; i < kTile; ++i) l_tile[i] += P[j][i];
    for (int jp = 0; jp < kTile / 2; ++jp)
      for (int i = 0; i < kTile; ++i)
        P8x2[jp][i] = uint32_t(p8_of(P[2 * jp][i])) | (uint32_t(p8_of(P[2 * jp + 1][i])) << 16);

    // Row state.
    for (int i = 0; i < kTile; ++i) {
      const int32_t m_new = std::max(m[i], tile_max[i]);
      const int32_t d_run = m_new - m[i], d_tile = m_new - tile_max[i];
      if (d_run != 0)
        for (int c = 0; c < kHeadDim; ++c) acc[c][i] = int32_t(rescale(acc[c][i], d_run));
      l[i] = int32_t(rescale(l[i], d_run) + rescale(l_tile[i], d_tile));
      m[i] = m_new;
      const int32_t n = d_tile >> kLogitFracBits;
      part_mul[i] = n > kRescaleMaxShift ? 0 : kRescale[d_tile & kLogitFracMask];
      part_shift[i] = kRescaleBits + std::min(n, kRescaleMaxShift);
      part_round[i] = 1 << (part_shift[i] - 1);
    }

    // Pass 3: partial = P.V, rescaled into acc.
    for (int cb = 0; cb < kHeadDim; cb += kChanBlock)
      for (int v0 = 0; v0 < kVecs; v0 += kQueryVecs) {
        __m256i o[kChanBlock][kQueryVecs];
        for (int c = 0; c < kChanBlock; ++c)
          for (int v = 0; v < kQueryVecs; ++v) o[c][v] = _mm256_setzero_si256();
        add_products(&P8x2[0][8 * v0], kTile, v16 + size_t(cb) * v_stride + k0 / 2, v_stride,
                     kTile / 2, o);
        for (int c = 0; c < kChanBlock; ++c)
          for (int v = 0; v < kQueryVecs; ++v) {
            const int lane = 8 * (v0 + v);
            const __m256i scaled = _mm256_srav_epi32(
                _mm256_add_epi32(
                    _mm256_mullo_epi32(o[c][v], _mm256_load_si256((const __m256i*)&part_mul[lane])),
                    _mm256_load_si256((const __m256i*)&part_round[lane])),
                _mm256_load_si256((const __m256i*)&part_shift[lane]));
            __m256i* a = (__m256i*)&acc[cb + c][lane];
            _mm256_store_si256(a, _mm256_add_epi32(_mm256_load_si256(a), scaled));
          }
      }
  }

  for (int i = 0; i < kTile; ++i) {
    out.l[i] = l[i];
    for (int c = 0; c < kHeadDim; ++c) out.acc[i][c] = acc[c][i];
  }
}

template <int kTile>
void avx2_tile_any(const QuantizedAttention& p, const Avx2Pairs& pairs, int h, int q0,
                   TileResult& out) {
  if (p.qk_planes == 2)
    avx2_tile<kTile, 2>(p, pairs, h, q0, out);
  else
    avx2_tile<kTile, 1>(p, pairs, h, q0, out);
}

}  // namespace

Avx2Pairs avx2_pairs(const QuantizedAttention& p, ThreadPool& pool) {
  constexpr int kPairs = kHeadDim / 2;
  const size_t keys = size_t(p.kv_pad) * kPairs;  // pairs a head, for K and for V alike
  Avx2Pairs out;
  out.k.resize(size_t(p.heads) * keys);
  out.v.resize(size_t(p.heads) * keys);
  if (p.qk_planes == 2) out.k_both.resize(size_t(p.heads) * keys);
  pool.parallel_for(p.heads, [&](int h) {
    const int8_t* k = p.k_head(h);
    uint32_t* k16 = out.k.data() + size_t(h) * keys;
    for (size_t i = 0; i < keys; ++i) k16[i] = pair16(k[2 * i], k[2 * i + 1]);
    if (p.qk_planes == 2) {
      // 254 hi + lo (at most 254 * 128 + 128 < 2^15 in magnitude) as one
      // int16, so that one product of hi_q with it is spec.h's
      // 254 hi.hi + hi.lo: the same integers in two products, not three.
      static_assert(kPlaneRatio * 128 + 128 < (1 << 15));
      const int8_t* lo = p.k_lo_head(h);
      auto both = [&](size_t at) { return int16_t(kPlaneRatio * k[at] + lo[at]); };
      uint32_t* kb = out.k_both.data() + size_t(h) * keys;
      for (size_t i = 0; i < keys; ++i) kb[i] = pair16(both(2 * i), both(2 * i + 1));
    }
    const int8_t* v_t = p.v_t_head(h);
    uint32_t* v16 = out.v.data() + size_t(h) * keys;  // [64][kv_pad / 2]
    for (size_t i = 0; i < keys; ++i) v16[i] = pair16(v_t[2 * i], v_t[2 * i + 1]);
  });
  return out;
}

Avx2TileFn avx2_tile_fn(int tile) {
  switch (tile) {
    case 16:
      return avx2_tile_any<16>;
    case 32:
      return avx2_tile_any<32>;
    case 64:
      return avx2_tile_any<64>;
    default:
      return nullptr;
  }
}

}  // namespace amanuensis::attn
