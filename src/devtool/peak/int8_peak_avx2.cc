#include <immintrin.h>

#include "devtool/peak/int8_peak.h"

namespace amanuensis {

// vpmaddwd: 16 int16 multiply-adds per instruction, the exact product the AVX2
// attention backend uses (vpmaddubsw saturates and is not used). Each product
// is added to one of ten accumulators, as the kernels do. In assembly: from
// intrinsics GCC computes the same product once an iteration, or (with a
// barrier) keeps an accumulator in memory, and either caps the rate below
// what the kernels reach.
double int8_peak_loop_avx2(long iterations) {
  constexpr int kChains = 10;
  __m256i c0 = _mm256_set1_epi32(0), c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2),
          c3 = _mm256_set1_epi32(3), c4 = _mm256_set1_epi32(4), c5 = _mm256_set1_epi32(5),
          c6 = _mm256_set1_epi32(6), c7 = _mm256_set1_epi32(7), c8 = _mm256_set1_epi32(8),
          c9 = _mm256_set1_epi32(9);
  const __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(-2);
#define AMANUENSIS_PRODUCT(acc, tmp) \
  "vpmaddwd %[b], %[a], %%" tmp "\n\tvpaddd %%" tmp ", %[" acc "], %[" acc "]\n\t"
  for (long i = 0; i < iterations; ++i)
    // clang-format off
    __asm__ volatile(AMANUENSIS_PRODUCT("c0", "ymm12") AMANUENSIS_PRODUCT("c1", "ymm13")
                     AMANUENSIS_PRODUCT("c2", "ymm14") AMANUENSIS_PRODUCT("c3", "ymm15")
                     AMANUENSIS_PRODUCT("c4", "ymm12") AMANUENSIS_PRODUCT("c5", "ymm13")
                     AMANUENSIS_PRODUCT("c6", "ymm14") AMANUENSIS_PRODUCT("c7", "ymm15")
                     AMANUENSIS_PRODUCT("c8", "ymm12") AMANUENSIS_PRODUCT("c9", "ymm13")
                     : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4),
                       [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7), [c8] "+x"(c8), [c9] "+x"(c9)
                     : [a] "x"(a), [b] "x"(b)
                     : "xmm12", "xmm13", "xmm14", "xmm15");
    // clang-format on
#undef AMANUENSIS_PRODUCT
  __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), c2),
                                 _mm256_add_epi32(_mm256_add_epi32(c3, c4), c5));
  sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_add_epi32(c6, c7), _mm256_add_epi32(c8, c9)));
  alignas(32) int lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
  volatile int sink = lanes[0];
  (void)sink;
  return double(iterations) * kChains * 16 * 2;
}

}  // namespace amanuensis
