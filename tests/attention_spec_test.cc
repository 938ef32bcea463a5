// The spec's tables and scalar primitives against their defining formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/attention/spec.h"

namespace amanuensis::attn {
namespace {

TEST(AttentionSpec, TablesMatchTheirFormulas) {
  for (int f = 0; f <= kLogitFracMask; ++f) {
    EXPECT_EQ(kExp16[f], std::lround(kP16Max * std::exp2(-f / 64.0))) << f;
    EXPECT_EQ(kRescale[f], std::lround(512 * std::exp2(-f / 64.0))) << f;
  }
}

TEST(AttentionSpec, PIsExp2WithinTableAndRounding) {
  EXPECT_EQ(p16_of(0), kP16Max);
  EXPECT_EQ(p8_of(p16_of(0)), kP8Max);
  for (int32_t x = 0; x < 40 << kLogitFracBits; ++x) {
    const double exact16 = kP16Max * std::exp2(-x / 64.0);
    // Table entry rounding and the floor of the shift.
    EXPECT_NEAR(p16_of(x), exact16, 1.0 + 1e-5 * exact16) << x;
    EXPECT_NEAR(p8_of(p16_of(x)), exact16 / 256, 0.51) << x;
  }
  EXPECT_EQ(p16_of(1 << 30), 0);
}

TEST(AttentionSpec, RescaleIsExp2WithinTableRounding) {
  for (int64_t x : {int64_t{-2072640}, int64_t{-77}, int64_t{0}, int64_t{1}, int64_t{16320},
                    int64_t{2072640}, int64_t{1} << 30}) {
    EXPECT_EQ(rescale(x, 0), x);
    for (int32_t d = 0; d < (kRescaleMaxShift + 1) << kLogitFracBits; d += 7) {
      const double exact = double(x) * std::exp2(-d / 64.0);
      EXPECT_NEAR(double(rescale(x, d)), exact,
                  0.5 + std::fabs(exact) * (0.5 / kRescale[kLogitFracMask] + 1e-5))
          << x << " " << d;
    }
  }
  EXPECT_EQ(rescale(123456, (kRescaleMaxShift + 1) << kLogitFracBits), 0);
}

TEST(AttentionSpec, LogitOfExtremeScoresDoesNotOverflow) {
  const int32_t mul = 1 << kScoreMulBits;
  for (int32_t s : {int32_t(kMaxScore), -int32_t(kMaxScore)})
    for (int32_t shift : {kLogitMinShift, kLogitMaxShift}) {
      const int64_t t = (int64_t{s} * mul + (1 << (kScoreMulBits - 1))) >> kScoreMulBits;
      const int64_t exact = (t * mul + (int64_t{1} << (shift - 1))) >> shift;
      EXPECT_EQ(logit(s, mul, mul, shift), exact) << s << " " << shift;
      // Real logits stay far above the mask sentinel: tile_max - L never overflows.
      EXPECT_GT(logit(s, mul, mul, shift), kLogitMasked / 4);
      EXPECT_LT(logit(s, mul, mul, shift), -(kLogitMasked / 4));
    }
}

}  // namespace
}  // namespace amanuensis::attn
