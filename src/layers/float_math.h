// exp and log with the same bytes on every machine. libm's may differ by an
// ulp between its FMA and non-FMA variants (glibc picks one at load time), and
// the decoder's softmax and log-probabilities must not: beam search compares
// them, so one ulp can change a transcript. Plain IEEE operations only (the
// build disables FMA contraction), branch-free so that loops vectorize.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace amanuensis {

// Eight floats as one value (GCC's vector extension): element-wise IEEE
// operations, so a loop written with them vectorizes in every per-ISA copy
// (GCC leaves a plain loop over exp_nonpositive scalar in its AVX2 and AVX-512
// copies) and computes the same bytes as the scalar code.
typedef float Floats8 __attribute__((vector_size(32), aligned(4)));
// Sixteen: one register in the AVX-512 copy, two or four in the others.
typedef float Floats16 __attribute__((vector_size(64), aligned(4)));

// e^x = 2^k e^r for x = k ln2 + r, |r| <= ln2 / 2 (ln2 split in two so that
// k ln2 is exact): e^r by Taylor to degree 7 (remainder < 1e-8 on
// |r| <= 0.35). T is float, Floats8 or Floats16: the same operations either way.
// (Results through a reference: a 32-byte vector returned by value would
// have a different ABI in the copies without AVX.)
template <typename T>
inline __attribute__((always_inline)) void exp_of_remainder(const T& x, const T& k, T& p) {
  const T r = (x - k * 0.693359375f) - k * -2.12194440e-4f;
  p = T{} + 1.98412698e-4f;
  p = p * r + 1.38888889e-3f;
  p = p * r + 8.33333333e-3f;
  p = p * r + 4.16666667e-2f;
  p = p * r + 1.66666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
}

// e^x for x <= 0 (softmax arguments after the max is subtracted); at and
// below -87 it returns 0 (e^-87 < 2e-38, nothing next to a softmax's 1).
// Relative error < 2e-7.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float k = float(int(x * 1.44269504f - 0.5f));  // round to nearest for x <= 0
  float p;
  exp_of_remainder(x, k, p);
  const int32_t bits = (int32_t(k) + 127) << 23;  // 2^k, k >= -126
  float scale;
  std::memcpy(&scale, &bits, 4);
  return x <= -87.0f ? 0.0f : p * scale;
}

// The integer vector of as many lanes as V (Floats8 or Floats16).
typedef int32_t Int32x8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t Int32x16 __attribute__((vector_size(64), aligned(4)));
template <size_t kBytes>
struct IntLanesOf;
template <>
struct IntLanesOf<32> {
  using type = Int32x8;
};
template <>
struct IntLanesOf<64> {
  using type = Int32x16;
};

// exp_nonpositive of x[0..lanes of V), in place: the same operations in the
// same order, on every lane at once. (In place rather than by value: a vector
// argument would have a different ABI in the copies without AVX.)
template <typename V>
inline __attribute__((always_inline)) void exp_nonpositive_lanes(float* xs) {
  using I = typename IntLanesOf<sizeof(V)>::type;
  V x;
  std::memcpy(&x, xs, sizeof x);
  const V floor = V{} - 87.0f;
  x = x < floor ? floor : x;
  const V k = __builtin_convertvector(__builtin_convertvector(x * 1.44269504f - 0.5f, I), V);
  V p;
  exp_of_remainder(x, k, p);
  const I bits = (__builtin_convertvector(k, I) + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const V y = x <= floor ? V{} : p * scale;
  std::memcpy(xs, &y, sizeof y);
}
inline __attribute__((always_inline)) void exp_nonpositive_8(float* xs) {
  exp_nonpositive_lanes<Floats8>(xs);
}

// Natural log of x > 0 (finite), in double: x = m 2^e with m in [sqrt(1/2),
// sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172.
inline double log_positive(double x) {
  int e = 0;
  if (x < 0x1p-1022) {  // subnormal: scale into the normal range first (exact)
    x *= 0x1p54;
    e = -54;
  }
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  e += int((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  // m in [1, 2)
  double m;
  std::memcpy(&m, &bits, 8);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  // 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...); terms to s^21 leave < 1e-17.
  double t = 1.0 / 21;
  for (int n = 19; n >= 1; n -= 2) t = t * s2 + 1.0 / n;
  return 2.0 * s * t + double(e) * 0.69314718055994530942;
}

}  // namespace amanuensis
