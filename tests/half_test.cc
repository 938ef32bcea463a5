// The half conversions (kernels/half) against IEEE's definitions computed
// independently in double, and every backend's bulk conversions against the
// scalar ones.
#include "kernels/half/half.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace amanuensis {
namespace {

// The value of half h from its fields (NaN for exponent 31 with a mantissa).
double half_value(int h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0x1f)
    v = mantissa ? std::nan("") : INFINITY;
  else if (exponent == 0)
    v = std::ldexp(mantissa, -24);
  else
    v = std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -v : v;
}

TEST(Half, ToFloatIsExact) {
  for (int h = 0; h < 65536; ++h) {
    const float f = half_to_float(Half(h));
    const double want = half_value(h);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(f)) << h;
    } else {
      EXPECT_EQ(double(f), want) << h;
      EXPECT_EQ(std::signbit(f), bool(h & 0x8000)) << h;
    }
  }
}

// The half nearest x, ties to the even bit pattern, inf from 65520 on:
// searched among all finite halves, in double.
int nearest_half(float x) {
  const double a = std::fabs(double(x));
  const int sign = std::signbit(x) ? 0x8000 : 0;
  if (a >= 65520.0) return sign | 0x7c00;
  int lo = 0, hi = 0x7bff;  // positive finite halves rise with their bits
  while (lo < hi) {         // the first half >= a
    const int mid = (lo + hi) / 2;
    if (half_value(mid) >= a)
      hi = mid;
    else
      lo = mid + 1;
  }
  int best = lo;
  if (lo > 0) {
    const double up = half_value(lo) - a, down = a - half_value(lo - 1);
    if (down < up || (down == up && (lo - 1) % 2 == 0)) best = lo - 1;
  }
  return sign | best;
}

// Floats across the whole range: every 2^13 + 1'th bit pattern (every
// exponent, many mantissas, both signs), the halves' midpoints and their
// neighbours, and the edges.
std::vector<float> float_sweep() {
  std::vector<float> x;
  for (uint64_t bits = 0; bits < (uint64_t(1) << 32); bits += 8193) {
    float f;
    const uint32_t b = uint32_t(bits);
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  for (int h = 0; h < 0x7bff; ++h) {
    const float mid = float((half_value(h) + half_value(h + 1)) / 2);  // exact in float
    x.insert(x.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid});
  }
  x.insert(x.end(), {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e30f, INFINITY, -INFINITY,
                     std::ldexp(1.0f, -25), std::ldexp(1.0f, -24), std::ldexp(1.5f, -25),
                     std::ldexp(1.0f, -14), 1e-30f, std::nanf("")});
  return x;
}

TEST(Half, FromFloatRoundsToNearestEven) {
  for (float x : float_sweep()) {
    const Half h = float_to_half(x);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(half_to_float(h))) << x;
      continue;
    }
    ASSERT_EQ(int(h), nearest_half(x)) << std::hexfloat << x;
  }
}

TEST(Half, EveryBackendConvertsAsTheScalarCode) {
  // (Half to float in the SIMD copies: decoder_attention_test, every finite half.)
  const std::vector<float> floats = float_sweep();
  std::vector<Half> want_halves(floats.size());
  for (size_t i = 0; i < floats.size(); ++i) want_halves[i] = float_to_half(floats[i]);
  for (Backend b : supported_backends()) {
    std::vector<Half> got_halves(floats.size());
    floats_to_halves_fn(b)(floats.data(), floats.size(), got_halves.data());
    EXPECT_TRUE(got_halves == want_halves) << to_string(b);
  }
}

}  // namespace
}  // namespace amanuensis
