// AVX2 block kernel for CPUs without AVX-512 VNNI. The activations are stored
// as u8 = q + 128; flipping the top bit gives q as s8. vpmaddubsw then takes
// |q| (u8) times sign(q) * w (s8): every product is at most 128 * 127 and a
// pair of them at most 32512, so its int16 sums never saturate and the result
// is the exact integer dot product (vpmaddwd with ones widens to int32). One
// 32-byte weight vector holds 8 channels x 4 k, so each int32 lane ends as one
// channel's whole 4-k dot product.
//
// A tile is kR rows x kV vectors of 8 channels; the rows share each weight
// load. Many rows (a prompt, the encoder) go in 2 x 32 tiles, whose 8
// accumulators stay in registers. Up to 5 rows (a decoding step: one per beam)
// go in one tile of the whole 64-channel block, so that the weights stream in
// once while every row computes on them; its 40 accumulators spill to L1. In
// 2-row passes the weights (more than the cache holds, for the 51,865-column
// output projection) arrived during the first pass while the others only
// computed: memory and arithmetic did not overlap, and the step's GEMMs took
// 1.5x longer (docs/PERFORMANCE.md).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

// acc[r][v] = dot products of rows x + r * stride with the 8 channels
// [c0 + 8 v, +8) of block nb, over every 4-k group of w.
template <int kR, int kV>
void tile(const uint8_t* x, size_t stride, const QuantizedWeights& w, int nb, int c0,
          int32_t (*out)[8 * kV]) {
  const int groups = w.k_pad / kGroupK;
  const int8_t* wp = w.packed.data() + size_t(nb) * groups * kBlockN * kGroupK + c0 * kGroupK;
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(char(0x80));
  __m256i acc[kR][kV];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_si256();
  // Unrolled whole, so that no array is indexed at run time.
  for (int g = 0; g < groups; ++g) {
    __m256i wv[kV];
#pragma GCC unroll 8
    for (int v = 0; v < kV; ++v)
      wv[v] = _mm256_loadu_si256((const __m256i*)(wp + (size_t(g) * kBlockN + 8 * v) * kGroupK));
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) {
      int32_t four;
      std::memcpy(&four, x + r * stride + kGroupK * g, 4);
      const __m256i q = _mm256_xor_si256(_mm256_set1_epi32(four), flip);  // s8
      const __m256i q_abs = _mm256_sign_epi8(q, q);
#pragma GCC unroll 8
      for (int v = 0; v < kV; ++v) {
        const __m256i pairs = _mm256_maddubs_epi16(q_abs, _mm256_sign_epi8(wv[v], q));
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int v = 0; v < kV; ++v) _mm256_storeu_si256((__m256i*)(out[r] + 8 * v), acc[r][v]);
}

// Rows [m0, m0 + kR) x channels [c0, c0 + 8 kV) of block nb, into y.
template <int kR, int kV>
void rows_x_channels(const QuantizedRows& x, const QuantizedWeights& w,
                     const QuantizedWeights* w_out, int m0, int nb, int c0, float* y) {
  constexpr int kCols = 8 * kV;
  int32_t dots[kR][kCols], dots_out[kR][kCols];
  tile<kR, kV>(x.q.data() + size_t(m0) * x.k_pad, x.k_pad, w, nb, c0, dots);
  if (w_out)
    tile<kR, kV>(x.q_out.data() + size_t(m0) * x.outliers_pad, x.outliers_pad, *w_out, nb, c0,
                 dots_out);
  const int n0 = nb * kBlockN + c0;
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < kCols && n0 + c < w.n; ++c) {
      const int n = n0 + c, m = m0 + r;
      float sum = float(dots[r][c]) * x.scale[m];
      if (w_out) sum = sum + float(dots_out[r][c]) * x.scale_out[m];
      y[size_t(m) * w.n + n] = sum * w.scale[n] + w.bias[n];
    }
}

template <int kR>
void few_rows(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
              int m0, int nb, float* y) {
  rows_x_channels<kR, kBlockN / 8>(x, w, w_out, m0, nb, 0, y);
}

void avx2_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                int m0, int m1, int nb, float* y) {
  switch (m1 - m0) {
    case 1:
      return few_rows<1>(x, w, w_out, m0, nb, y);
    case 2:
      return few_rows<2>(x, w, w_out, m0, nb, y);
    case 3:
      return few_rows<3>(x, w, w_out, m0, nb, y);
    case 4:
      return few_rows<4>(x, w, w_out, m0, nb, y);
    case 5:
      return few_rows<5>(x, w, w_out, m0, nb, y);
    default:
      break;
  }
  for (int c0 = 0; c0 < kBlockN && nb * kBlockN + c0 < w.n; c0 += 32) {
    int r = m0;
    for (; r + 2 <= m1; r += 2) rows_x_channels<2, 4>(x, w, w_out, r, nb, c0, y);
    if (r < m1) rows_x_channels<1, 4>(x, w, w_out, r, nb, c0, y);
  }
}

}  // namespace

BlockFn avx2_block_fn() { return avx2_block; }

}  // namespace amanuensis::gemm
