// The spec's tables and scalar primitives against their defining formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/attention/spec.h"

namespace amanuensis::attn {
namespace {

TEST(AttentionSpec, TablesMatchTheirFormulas) {
  for (int f = 0; f < 32; ++f) {
    EXPECT_EQ(kExp[f], std::lround(510 * std::exp2(-f / 32.0))) << f;
    EXPECT_EQ(kRescale[f], std::lround(512 * std::exp2(-f / 32.0))) << f;
  }
}

TEST(AttentionSpec, PIsWithinTablePrecisionOfExp2) {
  EXPECT_EQ(p_of(0), kPMax);
  for (int32_t x = 0; x < 40 * 32; ++x) {
    const double exact = kPMax * std::exp2(-x / 32.0);
    // Table entry rounding, the floor of the shift and the final rounding.
    EXPECT_NEAR(p_of(x), exact, 1.0 + 0.002 * exact) << x;
  }
  EXPECT_EQ(p_of(1 << 30), 0);
}

TEST(AttentionSpec, RescaleIsExp2WithinTableRounding) {
  for (int64_t x : {int64_t{-2072640}, int64_t{-77}, int64_t{0}, int64_t{1}, int64_t{16320},
                    int64_t{2072640}, int64_t{1} << 30}) {
    EXPECT_EQ(rescale(x, 0), x);
    for (int32_t d = 0; d < (kRescaleMaxShift + 1) * 32; d += 7) {
      const double exact = double(x) * std::exp2(-d / 32.0);
      EXPECT_NEAR(double(rescale(x, d)), exact, 0.5 + std::fabs(exact) * (0.5 / kRescale[31] + 1e-5)) << x << " " << d;
    }
  }
  EXPECT_EQ(rescale(123456, (kRescaleMaxShift + 1) * 32), 0);
}

TEST(AttentionSpec, LogitOfExtremeScoresDoesNotOverflow) {
  const int32_t s_max = kHeadDim * 127 * 127;
  const LogitScale widest{(1 << kLogitMulBits) - 1, kLogitMinShift};
  const int64_t exact = (int64_t{s_max} * widest.mul + (1 << (widest.shift - 1))) >> widest.shift;
  EXPECT_EQ(logit(s_max, widest), exact);
  EXPECT_EQ(logit(-s_max, widest), (-int64_t{s_max} * widest.mul + (1 << 7)) >> 8);
  EXPECT_GT(logit(-s_max, widest), kLogitMasked / 8);
}

}  // namespace
}  // namespace amanuensis::attn
