// AVX2 block kernel for CPUs without AVX-512 VNNI. The activations are stored
// as u8 = q + 128; flipping the top bit gives q as s8. vpmaddubsw then takes
// |q| (u8) times sign(q) * w (s8): every product is at most 128 * 127 and a
// pair of them at most 32512, so its int16 sums never saturate and the result
// is the exact integer dot product (vpmaddwd with ones widens to int32). One
// 32-byte weight vector holds 8 channels x 4 k, so each int32 lane ends as one
// channel's whole 4-k dot product. Two rows share each weight load.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

constexpr int kHalf = kBlockN / 2;  // 32 channels per pass: 4 vectors of 8
constexpr int kVecs = kHalf / 8;

// acc[r][v] += dot products of rows x + r * stride with channels
// [half * 32 + 8 v, +8) of block nb, over every 4-k group of w.
template <int kR>
void half_block(const uint8_t* x, size_t stride, const QuantizedWeights& w, int nb, int half,
                int32_t (*out)[kHalf]) {
  const int groups = w.k_pad / kGroupK;
  const int8_t* wp = w.packed.data() + size_t(nb) * groups * kBlockN * kGroupK + half * kHalf * kGroupK;
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(char(0x80));
  __m256i acc[kR][kVecs];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_si256();
  for (int g = 0; g < groups; ++g) {
    __m256i wv[kVecs];
    for (int v = 0; v < kVecs; ++v)
      wv[v] = _mm256_loadu_si256((const __m256i*)(wp + (size_t(g) * kBlockN + 8 * v) * kGroupK));
    for (int r = 0; r < kR; ++r) {
      int32_t four;
      std::memcpy(&four, x + r * stride + kGroupK * g, 4);
      const __m256i q = _mm256_xor_si256(_mm256_set1_epi32(four), flip);  // s8
      const __m256i q_abs = _mm256_sign_epi8(q, q);
      for (int v = 0; v < kVecs; ++v) {
        const __m256i pairs = _mm256_maddubs_epi16(q_abs, _mm256_sign_epi8(wv[v], q));
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int v = 0; v < kVecs; ++v) _mm256_storeu_si256((__m256i*)(out[r] + 8 * v), acc[r][v]);
}

template <int kR>
void rows_x_half(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                 int m0, int nb, int half, float* y) {
  int32_t dots[kR][kHalf], dots_out[kR][kHalf];
  half_block<kR>(x.q.data() + size_t(m0) * x.k_pad, x.k_pad, w, nb, half, dots);
  if (w_out)
    half_block<kR>(x.q_out.data() + size_t(m0) * x.outliers_pad, x.outliers_pad, *w_out, nb,
                   half, dots_out);
  const int n0 = nb * kBlockN + half * kHalf;
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < kHalf && n0 + c < w.n; ++c) {
      const int n = n0 + c, m = m0 + r;
      float sum = float(dots[r][c]) * x.scale[m];
      if (w_out) sum = sum + float(dots_out[r][c]) * x.scale_out[m];
      y[size_t(m) * w.n + n] = sum * w.scale[n] + w.bias[n];
    }
}

void avx2_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                int m0, int m1, int nb, float* y) {
  for (int half = 0; half < 2; ++half) {
    if (nb * kBlockN + half * kHalf >= w.n) break;
    int r = m0;
    for (; r + 2 <= m1; r += 2) rows_x_half<2>(x, w, w_out, r, nb, half, y);
    if (r < m1) rows_x_half<1>(x, w, w_out, r, nb, half, y);
  }
}

}  // namespace

BlockFn avx2_block_fn() { return avx2_block; }

}  // namespace amanuensis::gemm
