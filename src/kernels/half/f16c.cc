// The float-to-half conversion with F16C's instructions, eight at a time (this file is
// compiled with -mavx2 -mf16c). Same bits as reference.cc: both are IEEE's
// conversions, rounding to nearest even (set here, not taken from MXCSR).
#include <immintrin.h>

#include "kernels/half/half.h"

namespace amanuensis::half_kernels {

void floats_to_halves_f16c(const float* in, size_t n, Half* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  floats_to_halves_reference(in + i, n - i, out + i);
}

}  // namespace amanuensis::half_kernels
