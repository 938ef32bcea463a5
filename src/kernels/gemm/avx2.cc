// AVX2 block kernel for CPUs without AVX-512 VNNI. vpmaddubsw would saturate,
// so weights are widened to int16 and multiplied with vpmaddwd (exact). Each
// int32 lane holds half of one channel's 4-k dot product; halves are added at
// the end.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

constexpr int kHalf = kBlockN / 2;  // 32 channels per pass: 8 accumulators

// One row of u8 values xr against channels [half * 32, half * 32 + 32) of
// block nb: each channel's dot product as two int32 halves, pairs[2c] + pairs[2c + 1].
void half_block_dots(const uint8_t* xr, const QuantizedWeights& w, int nb, int half,
                     int32_t* pairs) {
  const int groups = w.k_pad / kGroupK;
  const int8_t* wp = w.packed.data() + size_t(nb) * groups * kBlockN * kGroupK;
  __m256i acc[8];
  for (auto& a : acc) a = _mm256_setzero_si256();
  for (int g = 0; g < groups; ++g) {
    const int16_t xs[4] = {int16_t(xr[4 * g] - 128), int16_t(xr[4 * g + 1] - 128),
                           int16_t(xr[4 * g + 2] - 128), int16_t(xr[4 * g + 3] - 128)};
    int64_t pattern;
    std::memcpy(&pattern, xs, 8);
    const __m256i xv = _mm256_set1_epi64x(pattern);
    const int8_t* wg = wp + (size_t(g) * kBlockN + half * kHalf) * kGroupK;
    for (int a = 0; a < 8; ++a) {  // 4 channels x 4 k = 16 bytes each
      const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(wg + 16 * a)));
      acc[a] = _mm256_add_epi32(acc[a], _mm256_madd_epi16(wv, xv));
    }
  }
  for (int a = 0; a < 8; ++a) _mm256_storeu_si256((__m256i*)(pairs + 8 * a), acc[a]);
}

void avx2_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                int m0, int m1, int nb, float* y) {
  const int n0 = nb * kBlockN;
  for (int r = m0; r < m1; ++r)
    for (int half = 0; half < 2; ++half) {
      int32_t pairs[kHalf * 2], pairs_out[kHalf * 2];
      half_block_dots(x.q.data() + size_t(r) * x.k_pad, w, nb, half, pairs);
      if (w_out)
        half_block_dots(x.q_out.data() + size_t(r) * x.outliers_pad, *w_out, nb, half, pairs_out);
      for (int c = 0; c < kHalf; ++c) {
        const int n = n0 + half * kHalf + c;
        if (n >= w.n) break;
        float sum = float(pairs[2 * c] + pairs[2 * c + 1]) * x.scale[r];
        if (w_out) sum = sum + float(pairs_out[2 * c] + pairs_out[2 * c + 1]) * x.scale_out[r];
        y[size_t(r) * w.n + n] = sum * w.scale[n] + w.bias[n];
      }
    }
}

}  // namespace

BlockFn avx2_block_fn() { return avx2_block; }

}  // namespace amanuensis::gemm
