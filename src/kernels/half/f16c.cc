// Half conversions with F16C's instructions, eight at a time (this file is
// compiled with -mavx2 -mf16c). Same bits as reference.cc: both are IEEE's
// conversions, rounding to nearest even (set here, not taken from MXCSR).
#include <immintrin.h>

#include "kernels/half/half.h"

namespace amanuensis::half_kernels {

void halves_to_floats_f16c(const Half* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  halves_to_floats_reference(in + i, n - i, out + i);
}

void floats_to_halves_f16c(const float* in, size_t n, Half* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  floats_to_halves_reference(in + i, n - i, out + i);
}

}  // namespace amanuensis::half_kernels
