// The quantized attention problem: what every backend reads, in one layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/attention/spec.h"
#include "kernels/backend.h"
#include "util/round.h"
#include "util/thread_pool.h"
#include "util/uninit_vector.h"

namespace amanuensis::attn {


struct QuantizedAttention {
  int heads = 0;
  int q_len = 0;   // valid queries
  int kv_len = 0;  // valid keys
  int q_pad = 0;   // q_len rounded up to kPadTo; padding rows are zero
  int kv_pad = 0;
  bool causal = false;  // query i sees keys j <= i + (kv_len - q_len)

  int qk_planes = 1;  // 1, or 2 (spec.h); set by quantize_attention
  // The int8 tensors are large and written once, so they skip a vector's zero
  // fill; their padding rows (and V's padding columns) are zeroed explicitly.
  UninitVector<int8_t> q;            // [heads][q_pad][64], per-token scale, channel-smoothed
  UninitVector<int8_t> k;            // [heads][kv_pad][64], mean removed, per-token scale, smoothed
  UninitVector<int8_t> q_lo, k_lo;   // the second planes, as q and k; empty with one plane
  std::vector<int32_t> q_mul;        // [heads][q_pad]   see spec.h, logit()
  std::vector<int32_t> k_mul;        // [heads][kv_pad]
  std::vector<int32_t> logit_shift;  // [heads]
  // [heads][kv_pad]: what the u8 x s8 products (q + 128 against k) add to the
  // score accumulator beyond the score: 128 * sum_d k with one plane,
  // 128 * (255 * sum_d k + sum_d k_lo) with two (docs/attention.md).
  std::vector<int32_t> score_offset;
  UninitVector<int8_t> v_t;    // [heads][64][kv_pad], channel-major, mean removed
  std::vector<float> v_scale;  // [heads][64]
  std::vector<float> v_mean;   // [heads][64]

  const int8_t* q_head(int h) const { return q.data() + size_t(h) * q_pad * kHeadDim; }
  const int8_t* k_head(int h) const { return k.data() + size_t(h) * kv_pad * kHeadDim; }
  const int32_t* q_mul_head(int h) const { return q_mul.data() + size_t(h) * q_pad; }
  const int32_t* k_mul_head(int h) const { return k_mul.data() + size_t(h) * kv_pad; }
  const int8_t* q_lo_head(int h) const { return q_lo.data() + size_t(h) * q_pad * kHeadDim; }
  const int8_t* k_lo_head(int h) const { return k_lo.data() + size_t(h) * kv_pad * kHeadDim; }
  const int32_t* score_offset_head(int h) const { return score_offset.data() + size_t(h) * kv_pad; }
  const int8_t* v_t_head(int h) const { return v_t.data() + size_t(h) * kHeadDim * kv_pad; }
  // Number of keys query row i may see (causal) or kv_len.
  int keys_visible(int i) const;
};

// A float tensor [heads][len][64] anywhere in memory: element (h, t, c) is at
// data[h * head_stride + t * row_stride + c]. The encoder's Q, K and V are
// views into its [len][3][heads][64] projection, so nothing is copied.
template <typename T>
struct Heads {
  T* data = nullptr;
  size_t head_stride = 0, row_stride = 0;
  T* row(int h, int t) const { return data + h * head_stride + t * row_stride; }
};
using HeadsIn = Heads<const float>;
using HeadsOut = Heads<float>;
template <typename T>
Heads<T> contiguous_heads(T* data, int len) {  // [heads][len][64], packed
  return {data, size_t(len) * kHeadDim, size_t(kHeadDim)};
}

// Throws std::invalid_argument on bad shapes, non-finite values, values so
// large that centring or scaling them overflows float32, or logit scales out
// of the integer range. softmax_scale <= 0 means 1/sqrt(64). Heads
// are split over `pool` if given; backend picks the loops' instruction set.
// qk_planes: 2 (the default: two int8 planes each for Q and K, ~250x less
// rounding error in the logits, three times the Q.K^T products) or 1 (int8
// Q/K: faster, accurate where the attention is not sharp; docs/attention.md §5).
QuantizedAttention quantize_attention(HeadsIn q, HeadsIn k, HeadsIn v, int heads, int q_len,
                                      int kv_len, bool causal, float softmax_scale = 0,
                                      ThreadPool* pool = nullptr, int qk_planes = kDefaultQkPlanes,
                                      Backend backend = Backend::kAuto);
// The same for packed [heads][len][64] tensors.
inline QuantizedAttention quantize_attention(const float* q, const float* k, const float* v,
                                             int heads, int q_len, int kv_len, bool causal,
                                             float softmax_scale = 0, ThreadPool* pool = nullptr,
                                             int qk_planes = kDefaultQkPlanes,
                                             Backend backend = Backend::kAuto) {
  return quantize_attention(contiguous_heads(q, q_len), contiguous_heads(k, kv_len),
                            contiguous_heads(v, kv_len), heads, q_len, kv_len, causal,
                            softmax_scale, pool, qk_planes, backend);
}

// The integer state of one query tile after all its key tiles: acc [tile][64], l [tile].
// Every backend must produce exactly these integers for the rows below q_len;
// a backend may leave rows past q_len (padding) unset.
struct TileResult {
  int32_t acc[kMaxTile][kHeadDim];
  int32_t l[kMaxTile];
};

// Output for the first `rows` rows of a tile of head h: float [rows][64],
// rows `row_stride` floats apart.
void finalize_f32(const QuantizedAttention& p, int h, int rows, const TileResult& r, float* out,
                  size_t row_stride = kHeadDim);
// Int8 output with one scale: round(o / out_scale), clamped to [-127, 127].
void finalize_i8(const QuantizedAttention& p, int h, int rows, const TileResult& r, float out_scale,
                 int8_t* out);

}  // namespace amanuensis::attn
