// Half conversions in integer arithmetic: no dependence on the FPU's
// rounding mode or on denormals-are-zero, which a library loaded into the
// process may have set.
#include <cstring>

#include "kernels/half/half.h"

namespace amanuensis {

float half_to_float(Half h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);  // inf or NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalize
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Half float_to_half(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u, a = bits & 0x7fffffffu;
  if (a > 0x7f800000u) return Half(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN, made quiet
  if (a >= 0x477ff000u) return Half(sign | 0x7c00u);  // 65520 and up round past 65504: inf
  if (a >= 0x38800000u)  // a normal half: drop 13 mantissa bits, a carry is the right result
    return Half(sign | ((a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13));
  if (a <= 0x33000000u) return Half(sign);  // up to 2^-25, half the least subnormal: zero
  // A subnormal half counts units of 2^-24: the float's significand
  // (implicit bit included) shifted right, rounded to nearest even. A
  // result of 0x400 is the least normal half, correctly encoded.
  const uint32_t significand = (a & 0x7fffffu) | 0x800000u;
  const int shift = 126 - int(a >> 23);  // 14 ... 24
  uint32_t q = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1), halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (q & 1u))) ++q;
  return Half(sign | q);
}

FloatsToHalves floats_to_halves_fn(Backend b) {
  b = resolve_backend(b);
  return b == Backend::kReference ? half_kernels::floats_to_halves_reference
                                  : half_kernels::floats_to_halves_f16c;
}

namespace half_kernels {

void floats_to_halves_reference(const float* in, size_t n, Half* out) {
  for (size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}

}  // namespace half_kernels
}  // namespace amanuensis
