// GELU, nn.GELU()'s erf form: x / 2 * (1 + erf(x / sqrt 2)). The one
// definition: the float pass (layers/float_ops.h) and the int8 GEMM's fused
// output (kernels/gemm, Activation::kGelu) both call gelu_range, so a value
// gets the same bytes either way, on every instruction set.
#pragma once

#include <cstddef>

namespace amanuensis {

// erf(x) = x P(x^2) / Q(x^2) on |x| <= 4 (least-squares rational fit,
// tools/erf_fit.py), +-1 beyond, where erf differs from 1 by < 2e-8; with it
// GELU is within 4e-7 of the exact one. Inline in every instruction set's
// copy of the loops that call it: as an out-of-line call it stays scalar and
// the loop does not vectorize.
inline __attribute__((always_inline)) float erf_inline(float x) {
  constexpr float p0 = 1.128378987f, p1 = 0.1923081875f, p2 = 0.05298176408f, p3 = 0.003844706342f,
                  p4 = 0.0002861880057f, p5 = 2.027286655e-06f;
  constexpr float q1 = 0.5037605762f, q2 = 0.1148795336f, q3 = 0.01512442902f, q4 = 0.001181057421f,
                  q5 = 3.792855568e-05f;
  x = x < -4.0f ? -4.0f : x;  // ternaries, not std::min: they vectorize (minps, maxps)
  x = x > 4.0f ? 4.0f : x;
  const float z = x * x;
  const float p = ((((p5 * z + p4) * z + p3) * z + p2) * z + p1) * z + p0;
  const float q = ((((q5 * z + q4) * z + q3) * z + q2) * z + q1) * z + 1.0f;
  return x * p / q;
}

// x[i] = GELU(x[i]) for i in [b, e). Plain C++ for kernels/per_isa.h.
[[gnu::always_inline]] inline void gelu_range(float* x, size_t b, size_t e) {
  for (size_t i = b; i < e; ++i) x[i] = 0.5f * x[i] * (1.0f + erf_inline(x[i] * 0.70710678f));
}

}  // namespace amanuensis
