// Rounding. round_up: to a multiple. round_even: half to even, as nearbyint in
// the default rounding mode, without a libm call: adding and removing
// 1.5 * 2^23 rounds any |y| < 2^22 to an integer. Plain IEEE adds, so it
// vectorizes and every instruction set gives the same result.
#pragma once

namespace amanuensis {

// x rounded up to a multiple of m > 0.
template <typename T>
constexpr T round_up(T x, T m) {
  return (x + m - 1) / m * m;
}

inline float round_even(float y) {
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23
  return (y + kRoundMagic) - kRoundMagic;
}

}  // namespace amanuensis
