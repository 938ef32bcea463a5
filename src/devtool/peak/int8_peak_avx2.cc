#include <immintrin.h>

#include "devtool/peak/int8_peak.h"

namespace amanuensis {

// vpmaddwd: 16 int16 multiply-adds per instruction, the exact product the AVX2
// attention backend uses (vpmaddubsw saturates and is not used).
double int8_peak_loop_avx2(long iterations) {
  constexpr int kChains = 10;
  __m256i acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_epi32(c);
  __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(-2);
  for (long i = 0; i < iterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(a, b));
    __asm__ volatile("" : "+x"(a), "+x"(b));
  }
  __m256i sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_epi32(sum, acc[c]);
  alignas(32) int lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
  volatile int sink = lanes[0];
  (void)sink;
  return double(iterations) * kChains * 16 * 2;
}

}  // namespace amanuensis
