// Decoding-side math and rules: exp/log of float_math.h against libm,
// log_softmax against a float64 reference, every rule of openai-whisper's
// ApplyTimestampRules / SuppressBlank / SuppressTokens (and faster-whisper's
// repetition penalty and no-repeat n-grams) on hand-made logits, and the
// default suppressed set against faster-whisper's converted config.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"  // model_cache_dir
#include "decoding/logit_rules.h"
#include "decoding/loops.h"
#include "decoding/search.h"
#include "layers/float_math.h"
#include "text/tokenizer.h"

namespace amanuensis::decoding {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------- float_math

TEST(FloatMath, ExpNonpositiveMatchesLibmOverMinus87To0) {
  // Every 61st float bit pattern from -0 down to -87 (about 1.8e7 values,
  // every binade from the subnormals up), plus an even grid.
  uint32_t lo_bits;
  const float lo = -87.0f;
  std::memcpy(&lo_bits, &lo, 4);
  double worst = 0;
  float worst_x = 0;
  auto check = [&](float x) {
    const double want = std::exp(double(x));
    const double got = exp_nonpositive(x);
    const double rel = std::fabs(got - want) / want;
    if (rel > worst) {
      worst = rel;
      worst_x = x;
    }
  };
  for (uint32_t b = 0x80000000u; b < lo_bits; b += 61) {
    float x;
    std::memcpy(&x, &b, 4);
    check(x);
  }
  for (int i = 0; i < 1000000; ++i) check(-87.0f * float(i) / 1000000.0f);  // [-87 .. 0), i=0: 0
  check(0.0f);
  check(-0.0f);
  check(std::nextafter(-87.0f, 0.0f));
  EXPECT_LT(worst, 3e-7) << "worst at x = " << worst_x;
  RecordProperty("exp_max_rel_error", std::to_string(worst));
  std::printf("exp_nonpositive: max relative error %.3g at x = %.9g\n", worst, worst_x);
  EXPECT_EQ(exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(exp_nonpositive(-0.0f), 1.0f);
}

TEST(FloatMath, ExpNonpositiveIsZeroBelowMinus87) {
  // The documented cutoff: "below -87 it returns 0" (-87 itself gives 0 too,
  // though e^-87 = 1.6e-38 is a normal float; harmless for softmax).
  for (float x : {std::nextafter(-87.0f, -100.0f), -87.5f, -88.0f, -100.0f, -1e4f, -1e30f, -FLT_MAX,
                  kNegInf}) {
    const float y = exp_nonpositive(x);
    EXPECT_EQ(y, 0.0f) << "x = " << x;
    EXPECT_FALSE(std::signbit(y)) << "x = " << x;
  }
  for (float x = -87.0f; x > -200.0f; x -= 0.37f) EXPECT_EQ(exp_nonpositive(x), 0.0f) << x;
}

TEST(FloatMath, ExpNonpositiveIsMonotonic) {
  // Softmax ranks tokens by it: a larger argument must never give less.
  float prev = exp_nonpositive(-87.0f);
  for (int i = 1; i <= 2000000; ++i) {
    const float x = -87.0f + 87.0f * float(i) / 2000000.0f;
    const float y = exp_nonpositive(x);
    ASSERT_GE(y, prev) << "x = " << x;
    prev = y;
  }
}

TEST(FloatMath, ExpOfEightAndSixteenFloatsHasTheScalarBytes) {
  // Every float in [-88, 0] 1 in 64 (~16 M), plus both zeros, -87 exactly,
  // far below, and lanes that differ from each other in one vector; as 8 and
  // as 16 lanes (the AVX-512 copies' width).
  std::vector<float> xs = {0.0f, -0.0f, -87.0f, -87.00001f, -86.99999f, -1e30f, -FLT_MIN};
  for (uint32_t bits = 0x80000000u; bits <= 0xc2b00000u; bits += 64) {  // -0 .. -88
    float x;
    std::memcpy(&x, &bits, 4);
    xs.push_back(x);
  }
  while (xs.size() % 16) xs.push_back(-1.0f);
  for (size_t i = 0; i < xs.size(); i += 16) {
    float y8[16], y16[16];
    std::copy_n(&xs[i], 16, y8);
    std::copy_n(&xs[i], 16, y16);
    exp_nonpositive_8(y8);
    exp_nonpositive_8(y8 + 8);
    exp_nonpositive_lanes<Floats16>(y16);
    for (int l = 0; l < 16; ++l) {
      const float want = exp_nonpositive(xs[i + l]);
      ASSERT_EQ(std::memcmp(&y8[l], &want, 4), 0) << "x = " << xs[i + l];
      ASSERT_EQ(std::memcmp(&y16[l], &want, 4), 0) << "16 lanes, x = " << xs[i + l];
    }
  }
}

// log_positive's error budget: s = (m-1)/(m+1) has 2 roundings (m-1 is exact),
// the series and 2*s*t about 2 more, e*ln2 one more plus ln2's own rounding;
// m in [sqrt(1/2), sqrt(2)) keeps |log m| <= |log x| (no cancellation with
// e*ln2 except near the boundary, where |log x| >= 0.34). Each is <= 0.5 ulp
// of the result, so 8 ulp (1.8e-15 relative) is generous and a term dropped
// from the series or a wrong constant (>= 1e-13) fails it.
constexpr double kLogRelTol = 1.8e-15;

void expect_log_close(double x) {
  const double want = std::log(x), got = log_positive(x);
  if (want == 0.0) {
    EXPECT_EQ(got, 0.0) << "x = " << x;
    return;
  }
  EXPECT_LE(std::fabs(got - want), kLogRelTol * std::fabs(want))
      << "x = " << x << " got " << got << " want " << want;
}

TEST(FloatMath, LogPositiveMatchesLibmAcrossMagnitudes) {
  std::mt19937_64 rng(7);
  double worst = 0;
  // Random bit patterns of every normal double.
  for (int i = 0; i < 400000; ++i) {
    uint64_t bits = rng() & 0x7fffffffffffffffULL;
    const uint64_t exp = (bits >> 52) & 0x7ff;
    if (exp == 0 || exp == 0x7ff) continue;  // subnormal, inf, nan
    double x;
    std::memcpy(&x, &bits, 8);
    expect_log_close(x);
    const double want = std::log(x);
    if (want != 0) worst = std::max(worst, std::fabs(log_positive(x) - want) / std::fabs(want));
  }
  // Dense around 1 (where log x ~ x - 1 is small), around the sqrt(2) split,
  // and the range log_sum_exp uses ([1, n_vocab]).
  for (int i = -20000; i <= 20000; ++i) {
    expect_log_close(1.0 + i * 1e-9);
    expect_log_close(1.0 + i * 0x1p-52);
    expect_log_close(1.4142135623730951 + i * 0x1p-52);
    expect_log_close(0.7071067811865476 + i * 0x1p-53);
  }
  for (double x = 1.0; x < 60000.0; x *= 1.0007) expect_log_close(x);
  for (double x : {1.0, 2.0, 0.5, 3.0, 10.0, 51865.0, DBL_MIN, DBL_MAX, 1e-300, 1e300,
                   std::nextafter(1.0, 2.0), std::nextafter(1.0, 0.0)})
    expect_log_close(x);
  EXPECT_EQ(log_positive(1.0), 0.0);
  std::printf("log_positive: max relative error %.3g over random normal doubles\n", worst);
}

// Subnormal x: the exponent field is 0, and log_positive reads the mantissa as
// if it had the implicit leading 1, so log(4.9e-324) comes out as -709.1
// instead of -744.4. Unreachable from log_sum_exp (its argument is >= 1), but
// the header promises any finite x > 0. Fix: for bits < 2^52 scale x by 2^54
// first and subtract 54 from e (or document "normal x").
TEST(FloatMath, LogPositiveSubnormals) {
  for (double x : {4.9406564584124654e-324, 1e-310, DBL_MIN / 2, DBL_MIN / 3}) expect_log_close(x);
}

// ---------------------------------------------------------------- log_softmax

std::vector<double> log_softmax_ref(const std::vector<float>& x) {
  double m = -std::numeric_limits<double>::infinity();
  for (float v : x) m = std::max(m, double(v));
  double s = 0;
  for (float v : x) s += std::exp(double(v) - m);
  const double lse = m + std::log(s);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = double(x[i]) - lse;
  return out;
}

std::vector<float> random_logits(int n, uint64_t seed, float sigma) {
  std::mt19937 rng{uint32_t(seed)};
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = g(rng);
  return x;
}

TEST(DecodingLogSoftmax, MatchesFloat64Reference) {
  double worst = 0;
  for (int n : {1, 2, 15, 16, 17, 100, 1000, 51865}) {
    for (float sigma : {0.1f, 3.0f, 30.0f}) {
      std::vector<float> x = random_logits(n, n * 31 + int(sigma * 10), sigma);
      std::vector<float> out(n);
      log_softmax(x.data(), n, out.data());
      const std::vector<double> ref = log_softmax_ref(x);
      for (int i = 0; i < n; ++i) {
        // lse carries the float lane sums' relative error (a few 1e-7 for
        // tens of thousands of terms); the output adds one float rounding.
        const double tol = 2e-6 + 2e-7 * std::fabs(ref[i]);
        const double err = std::fabs(double(out[i]) - ref[i]);
        worst = std::max(worst, err);
        ASSERT_LE(err, tol) << "n " << n << " sigma " << sigma << " i " << i;
      }
      // Probabilities sum to one.
      double total = 0;
      for (float v : out) total += std::exp(double(v));
      EXPECT_NEAR(total, 1.0, 2e-6) << "n " << n << " sigma " << sigma;
    }
  }
  std::printf("log_softmax: max abs error %.3g\n", worst);
}

TEST(DecodingLogSoftmax, NegativeInfinityEntries) {
  const int n = 51865;
  std::vector<float> x = random_logits(n, 3, 2.0f);
  for (int i = 0; i < n; i += 3) x[i] = kNegInf;
  x[n - 1] = kNegInf;
  std::vector<float> out(n);
  log_softmax(x.data(), n, out.data());
  const std::vector<double> ref = log_softmax_ref(x);
  for (int i = 0; i < n; ++i) {
    if (x[i] == kNegInf) {
      EXPECT_EQ(out[i], kNegInf) << i;
    } else {
      ASSERT_TRUE(std::isfinite(out[i])) << i;
      ASSERT_NEAR(out[i], ref[i], 2e-6 + 2e-7 * std::fabs(ref[i])) << i;
    }
  }
  // A single finite entry: log-probability exactly 0.
  std::vector<float> one(100, kNegInf);
  one[42] = 17.5f;
  log_softmax(one.data(), 100, out.data());
  EXPECT_EQ(out[42], 0.0f);
  for (int i = 0; i < 100; ++i)
    if (i != 42) {
      EXPECT_EQ(out[i], kNegInf);
    }
  // Huge spread: entries whose exp underflows still get finite log-probabilities.
  std::vector<float> spread = {0.0f, -1000.0f, 1000.0f};
  log_softmax(spread.data(), 3, out.data());
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[0], -1000.0f);
  EXPECT_EQ(out[1], -2000.0f);
}

TEST(DecodingLogSoftmax, SameBytesTwiceAndInPlace) {
  const int n = 51865;
  std::vector<float> x = random_logits(n, 11, 4.0f);
  std::vector<float> a(n), b(n);
  log_softmax(x.data(), n, a.data());
  log_softmax(x.data(), n, b.data());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), n * sizeof(float)));
  std::vector<float> in_place = x;  // search.cc calls it in place
  log_softmax(in_place.data(), n, in_place.data());
  EXPECT_EQ(0, std::memcmp(a.data(), in_place.data(), n * sizeof(float)));
  // Invariant to a shift of all logits (up to the float rounding of x + c).
  std::vector<float> shifted(n), c(n);
  for (int i = 0; i < n; ++i) shifted[i] = x[i] + 0.5f;  // rounds by <= 1 ulp (~1e-6 here)
  log_softmax(shifted.data(), n, c.data());
  for (int i = 0; i < n; ++i) ASSERT_NEAR(a[i], c[i], 2e-6) << i;
}

// log_softmax's normalizer is a sum in 16 float lanes, lane l taking every
// 16th term from l, the lanes then added in order in double: written out
// here with the scalar exp, so the vector code must give its bytes.
TEST(DecodingLogSoftmax, SumsInSixteenLanesInAFixedOrder) {
  for (int n : {1, 15, 16, 17, 51865}) {
    std::vector<float> x = random_logits(n, n + 5, 5.0f);
    if (n > 3) x[n / 3] = kNegInf;
    const float m = *std::max_element(x.begin(), x.end());
    float lanes[16] = {};
    for (int i = 0; i < n; ++i) lanes[i % 16] += exp_nonpositive(x[i] - m);
    double total = 0;
    for (float l : lanes) total += l;
    const double lse = double(m) + log_positive(total);
    std::vector<float> out(n);
    log_softmax(x.data(), n, out.data());
    for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], float(double(x[i]) - lse)) << n << " " << i;
  }
}

// top_k against std::partial_sort on values with many ties and -inf.
TEST(DecodingTopK, PartialSortOrderWithTies) {
  std::mt19937 rng(7);
  for (int n : {1, 9, 10, 11, 1000, 51865})
    for (int k : {1, 5, 10, 32}) {
      if (k > n) continue;
      std::vector<float> x(n);
      for (float& v : x) v = float(int(rng() % 50)) - 40.0f;  // ~n/50 copies of each value
      for (int i = 0; i < n; i += 7) x[i] = kNegInf;
      std::vector<int> want(n);
      for (int i = 0; i < n; ++i) want[i] = i;
      std::partial_sort(want.begin(), want.begin() + k, want.end(),
                        [&](int a, int b) { return x[a] != x[b] ? x[a] > x[b] : a < b; });
      std::vector<int> got(k);
      top_k(x.data(), n, k, got.data());
      for (int j = 0; j < k; ++j)
        ASSERT_EQ(got[j], want[j]) << "n " << n << " k " << k << " #" << j;
    }
  // Rising values (every block beats the k-th best) and falling ones (none
  // after the first k), with lengths around the 16-value blocks that follow
  // the first k = 10: one block ending at n (26), one and a value (27), two
  // ending at n (42), none (15), many (1000).
  for (int n : {15, 26, 27, 42, 1000})
    for (const bool rising : {true, false}) {
      std::vector<float> x(n);
      for (int i = 0; i < n; ++i) x[i] = rising ? float(i / 3) : float(-i / 3);
      std::vector<int> want(n);
      for (int i = 0; i < n; ++i) want[i] = i;
      std::stable_sort(want.begin(), want.end(), [&](int a, int b) { return x[a] > x[b]; });
      int got[10];
      top_k(x.data(), n, 10, got);
      ASSERT_EQ(std::vector<int>(got, got + 10), std::vector<int>(want.begin(), want.begin() + 10))
          << n << " " << rising;
    }
  // All -inf: the first k indices.
  std::vector<float> all(20, kNegInf);
  int got[4];
  top_k(all.data(), 20, 4, got);
  EXPECT_EQ(std::vector<int>(got, got + 4), (std::vector<int>{0, 1, 2, 3}));
}

// ---------------------------------------------------------------- logit rules

constexpr int kVocab = 51865;

struct LogitRulesTest : ::testing::Test {
  text::SpecialTokens sp = text::special_tokens(kVocab);
  int ts = sp.timestamp_begin;
  LogitRules rules() const {
    LogitRules r;
    r.special = sp;
    return r;
  }
  static bool allowed(const std::vector<float>& l, int i) { return l[i] != kNegInf; }
  // Every id in [b, e) suppressed / allowed.
  static void expect_range(const std::vector<float>& l, int b, int e, bool allow,
                           const std::string& what) {
    int bad = -1, count = 0;
    for (int i = b; i < e; ++i)
      if (allowed(l, i) != allow) {
        if (bad < 0) bad = i;
        ++count;
      }
    EXPECT_EQ(count, 0) << what << ": [" << b << ", " << e << ") should be "
                        << (allow ? "allowed" : "suppressed") << "; first wrong id " << bad;
  }
  // Logits every id allowed, distinct finite values.
  static std::vector<float> flat(float v = 0.0f) { return std::vector<float>(kVocab, v); }
  // Unchanged where allowed (the rules only ever write -inf, save the penalty).
  static void expect_unchanged_where_allowed(const std::vector<float>& before,
                                             const std::vector<float>& after) {
    for (size_t i = 0; i < before.size(); ++i)
      if (after[i] != kNegInf) {
        ASSERT_EQ(after[i], before[i]) << i;
      }
  }
};

TEST_F(LogitRulesTest, RulesSpecialLayout) {
  EXPECT_EQ(sp.eot, 50257);
  EXPECT_EQ(sp.sot, 50258);
  EXPECT_EQ(sp.translate, 50358);
  EXPECT_EQ(sp.transcribe, 50359);
  EXPECT_EQ(sp.startoflm, 50360);
  EXPECT_EQ(sp.startofprev, 50361);
  EXPECT_EQ(sp.nospeech, 50362);
  EXPECT_EQ(sp.notimestamps, 50363);
  EXPECT_EQ(sp.timestamp_begin, 50364);
}

TEST_F(LogitRulesTest, FirstStepOnlyInitialTimestamps) {
  const std::vector<float> before = random_logits(kVocab, 1, 1.0f);
  std::vector<float> l = before;
  apply_logit_rules(rules(), {}, 0, l.data());
  expect_range(l, 0, ts, false, "text and specials at the first step");
  expect_range(l, ts, ts + 51, true, "timestamps 0.00 .. 1.00");
  expect_range(l, ts + 51, kVocab, false, "timestamps after max_initial_timestamp");
  expect_unchanged_where_allowed(before, l);

  LogitRules r = rules();
  r.max_initial_timestamp_index = 0;  // only <|0.00|>
  l = before;
  apply_logit_rules(r, {}, 0, l.data());
  expect_range(l, 0, ts, false, "index 0: text");
  expect_range(l, ts, ts + 1, true, "index 0: <|0.00|>");
  expect_range(l, ts + 1, kVocab, false, "index 0: later timestamps");

  r.max_initial_timestamp_index = -1;  // no limit
  l = before;
  apply_logit_rules(r, {}, 0, l.data());
  expect_range(l, 0, ts, false, "no limit: text");
  expect_range(l, ts, kVocab, true, "no limit: all timestamps");

  r.max_initial_timestamp_index = 5000;  // past the end: clamped, no overflow
  l = before;
  apply_logit_rules(r, {}, 0, l.data());
  expect_range(l, ts, kVocab, true, "huge limit: all timestamps");
}

// After forced tokens (<|0.00|> and a prefix) the first sampled token may be
// text or any timestamp (CTranslate2's rule, so faster-whisper's prefix),
// still not blank or eot; the pair rules start over after them; the
// repetition penalty sees them.
TEST_F(LogitRulesTest, ForcedTokensAreNotTheSampledStart) {
  std::vector<float> before = flat();
  before[300] = 30.0f;  // text wins: the timestamp-mass rule stays out of it
  before[100] = 2.0f;
  LogitRules r = rules();
  r.suppress_begin = {sp.eot};
  std::vector<float> l = before;
  apply_logit_rules(r, {ts, 100, 200}, 3, l.data());
  EXPECT_EQ(l[300], before[300]) << "text after the forced tokens";
  EXPECT_EQ(l[ts + 700], before[ts + 700]) << "a timestamp past max_initial_timestamp";
  EXPECT_EQ(l[ts], before[ts]) << "<|0.00|> again: the forced one is not a sampled timestamp";
  EXPECT_EQ(l[sp.eot], -INFINITY) << "suppress_begin";
  // The forced <|0.00|> is no open segment: a sampled timestamp opens one.
  l = before;
  apply_logit_rules(rules(), {ts, 100, 200, ts + 20}, 3, l.data());
  expect_range(l, 0, sp.notimestamps, true, "text after the first sampled timestamp");
  expect_range(l, sp.notimestamps, kVocab, false, "timestamps after the first sampled one");
  r.repetition_penalty = 2.0f;
  l = before;
  apply_logit_rules(r, {ts, 100, 200}, 3, l.data());
  EXPECT_EQ(l[100], 1.0f) << "the penalty on a forced token";
}

TEST_F(LogitRulesTest, AfterInitialTimestampTextOnly) {
  // [<|0.00|>]: the "penultimate" counts as a timestamp (the sequence start),
  // so the pair is closed: no timestamp, text (or eot) next.
  const std::vector<float> before = random_logits(kVocab, 2, 1.0f);
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts + 3}, 0, l.data());
  expect_range(l, 0, sp.notimestamps, true, "text, eot and specials after [<|0.06|>]");
  expect_range(l, sp.notimestamps, kVocab, false, "notimestamps and timestamps");
  expect_unchanged_where_allowed(before, l);
}

TEST_F(LogitRulesTest, AfterTextThenTimestampNoText) {
  // [<|0.00|> a b <|0.20|>]: a segment just closed; the next token is the
  // same or a later timestamp (opening the next segment) or eot; text is not.
  // eot gets a large logit so that the timestamp-mass rule stays out of it.
  std::vector<float> before = flat();
  before[sp.eot] = 20.0f;
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts, 100, 200, ts + 10}, 0, l.data());
  expect_range(l, 0, sp.eot, false, "text after [ts text ts]");
  expect_range(l, sp.eot, sp.notimestamps, true, "eot and specials after [ts text ts]");
  expect_range(l, sp.notimestamps, ts + 10, false, "notimestamps and earlier timestamps");
  expect_range(l, ts + 10, kVocab, true, "the same timestamp again and later ones");
  expect_unchanged_where_allowed(before, l);
}

TEST_F(LogitRulesTest, AfterTwoTimestampsNoTimestamp) {
  // [<|0.00|> a <|0.20|> <|0.20|>]: the next segment is open; text next.
  const std::vector<float> before = random_logits(kVocab, 4, 1.0f);
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts, 100, ts + 10, ts + 10}, 0, l.data());
  expect_range(l, 0, sp.notimestamps, true, "text after a timestamp pair");
  expect_range(l, sp.notimestamps, kVocab, false, "timestamps after a timestamp pair");
  expect_unchanged_where_allowed(before, l);
}

TEST_F(LogitRulesTest, TimestampsNeverDecrease) {
  // [<|0.00|> a <|0.20|> <|0.20|> b]: a timestamp may close the segment, but
  // only a later one than <|0.20|>. A text token wins the logits so that the
  // mass rule does not apply.
  std::vector<float> before = flat();
  before[300] = 30.0f;
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts, 100, ts + 10, ts + 10, 200}, 0, l.data());
  expect_range(l, 0, sp.notimestamps, true, "text in an open segment");
  expect_range(l, sp.notimestamps, ts + 11, false, "timestamps <= the last one");
  expect_range(l, ts + 11, kVocab, true, "later timestamps");
  expect_unchanged_where_allowed(before, l);
  // The last timestamp anywhere in the sequence counts, not only the last two.
  l = before;
  apply_logit_rules(rules(), {ts + 40, 100, ts + 45, ts + 45, 200, 201, 202, 203}, 0, l.data());
  expect_range(l, ts, ts + 46, false, "timestamps <= <|0.90|>");
  expect_range(l, ts + 46, kVocab, true, "timestamps > <|0.90|>");
}

TEST_F(LogitRulesTest, SegmentHasNonzeroLength) {
  // [<|0.10|> a]: closing with <|0.10|> would make an empty segment.
  std::vector<float> before = flat();
  before[300] = 30.0f;
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts + 5, 100}, 0, l.data());
  expect_range(l, ts, ts + 6, false, "timestamps <= the segment's start");
  expect_range(l, ts + 6, kVocab, true, "timestamps after the segment's start");
  expect_range(l, 0, sp.notimestamps, true, "text");
  // At the last timestamp (30.00 s) nothing later exists: no timestamp at all.
  l = before;
  apply_logit_rules(rules(), {kVocab - 1, 100}, 0, l.data());
  expect_range(l, sp.notimestamps, kVocab, false, "no timestamp after <|30.00|> text");
  expect_range(l, 0, sp.notimestamps, true, "text after <|30.00|> text");
}

TEST_F(LogitRulesTest, TimestampMassForcesTimestamp) {
  // [<|0.00|> a]: 1500 timestamps (0.02 .. 30.00 s) allowed, each logit 0, so
  // log sum exp over timestamps = log 1500 = 7.3132. Text tokens at -10, one
  // at `best`. The rule: timestamps' total log-prob > the best text token's
  // => all text suppressed.
  const double mass = std::log(1500.0);
  for (double margin : {-0.05, 0.05, -2.0, 2.0}) {
    std::vector<float> before(kVocab, -10.0f);
    for (int i = ts; i < kVocab; ++i) before[i] = 0.0f;
    before[777] = float(mass + margin);
    std::vector<float> l = before;
    apply_logit_rules(rules(), {ts, 100}, 0, l.data());
    expect_range(l, ts + 1, kVocab, true, "timestamps after <|0.00|>");
    if (margin < 0) {
      expect_range(l, 0, ts, false, "text when the timestamp mass wins");
    } else {
      expect_range(l, 0, sp.notimestamps, true, "text when the best text token wins");
      EXPECT_EQ(l[777], before[777]);
    }
    expect_unchanged_where_allowed(before, l);
  }
  // The best "text" token includes eot and the specials below the timestamps.
  std::vector<float> before(kVocab, -10.0f);
  for (int i = ts; i < kVocab; ++i) before[i] = 0.0f;
  before[sp.eot] = float(mass + 0.05);
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts, 100}, 0, l.data());
  EXPECT_EQ(l[sp.eot], before[sp.eot]) << "eot beats the timestamp mass";
  EXPECT_EQ(l[100], -10.0f);
  before[sp.eot] = float(mass - 0.05);
  l = before;
  apply_logit_rules(rules(), {ts, 100}, 0, l.data());
  EXPECT_EQ(l[sp.eot], kNegInf) << "the timestamp mass beats eot";
}

TEST_F(LogitRulesTest, TimestampMassCountsOnlyAllowedTimestamps) {
  // The mass is taken after the never-decrease rule: with the last timestamp
  // at <|29.00|> (index 1450), only 50 later timestamps remain: log 50 = 3.91.
  std::vector<float> before(kVocab, -10.0f);
  for (int i = ts; i < kVocab; ++i) before[i] = 0.0f;
  before[777] = 5.0f;  // < log 1451 = 7.28 but > log 50 = 3.91
  std::vector<float> l = before;
  apply_logit_rules(rules(), {ts + 1450, 100}, 0, l.data());
  EXPECT_EQ(l[777], 5.0f) << "suppressed masses must not count";
  before[777] = 3.8f;
  l = before;
  apply_logit_rules(rules(), {ts + 1450, 100}, 0, l.data());
  EXPECT_EQ(l[777], kNegInf);
}

TEST_F(LogitRulesTest, SuppressListAndSuppressBegin) {
  LogitRules r = rules();
  r.timestamps = false;  // else the first step suppresses all text anyway
  r.suppress = {5, 17, 300, sp.sot, sp.nospeech};
  r.suppress_begin = {220, sp.eot};
  const std::vector<float> before = random_logits(kVocab, 5, 1.0f);
  std::vector<float> l = before;
  apply_logit_rules(r, {}, 0, l.data());
  std::set<int> off = {5, 17, 300, sp.sot, sp.nospeech, 220, sp.eot};
  for (int i = 0; i < ts; ++i)
    ASSERT_EQ(!allowed(l, i), off.count(i) == 1) << "first step, id " << i;
  expect_unchanged_where_allowed(before, l);
  // After the first token: blank and eot are allowed again.
  l = before;
  apply_logit_rules(r, {1000}, 0, l.data());
  off = {5, 17, 300, sp.sot, sp.nospeech};
  for (int i = 0; i < ts; ++i)
    ASSERT_EQ(!allowed(l, i), off.count(i) == 1) << "second step, id " << i;
  // With timestamps on, suppress_begin applies at the first step too (and the
  // list everywhere): after [ts, text] the list's ids are still -inf.
  r.timestamps = true;
  std::vector<float> tb = flat();
  tb[5] = tb[17] = 50.0f;  // would win without the list
  tb[400] = 30.0f;         // beats the timestamp mass (log 1500)
  l = tb;
  apply_logit_rules(r, {ts, 1000}, 0, l.data());
  EXPECT_EQ(l[5], kNegInf);
  EXPECT_EQ(l[17], kNegInf);
  EXPECT_EQ(l[220], 0.0f);
}

TEST_F(LogitRulesTest, NotimestampsAlwaysSuppressedWithTimestamps) {
  const std::vector<std::vector<int>> histories = {
      {}, {ts}, {ts, 100}, {ts, 100, ts + 5}, {ts, 100, ts + 5, ts + 5}, {ts, 100, 101, 102}};
  for (const auto& h : histories) {
    std::vector<float> l = flat();
    l[sp.notimestamps] = 100.0f;
    l[400] = 90.0f;
    apply_logit_rules(rules(), h, 0, l.data());
    EXPECT_EQ(l[sp.notimestamps], kNegInf) << "history length " << h.size();
  }
}

TEST_F(LogitRulesTest, TimestampsOffSuppressesAllTimestamps) {
  LogitRules r = rules();
  r.timestamps = false;
  for (const std::vector<int>& h : std::vector<std::vector<int>>{{}, {100}, {100, 200, 300}}) {
    const std::vector<float> before = random_logits(kVocab, 6 + h.size(), 1.0f);
    std::vector<float> l = before;
    apply_logit_rules(r, h, 0, l.data());
    expect_range(l, ts, kVocab, false, "timestamps in notimestamps mode");
    // Below the timestamps nothing changes (no suppress list, no mass rule,
    // no "text suppressed at the first step").
    EXPECT_EQ(0, std::memcmp(l.data(), before.data(), ts * sizeof(float)));
  }
}

// Batched mode's VAD chunks: eot is held back until a timestamp has reached
// the index (the speech goes on until then), whatever came before; once one
// has, eot is as the other rules leave it. A text token and eot get large
// logits so that the timestamp-mass rule stays out of it.
TEST_F(LogitRulesTest, EotOnlyOnceATimestampReachesTheSpeechEnd) {
  LogitRules r = rules();
  r.eot_from_timestamp_index = 100;  // 2.00 s
  std::vector<float> before = flat();
  before[400] = 30.0f;
  before[sp.eot] = 20.0f;
  const std::vector<std::vector<int>> early = {{ts, 300},           // a segment open at 0.00
                                               {ts, 300, ts + 99},  // closed at 1.98
                                               {ts, 300, ts + 99, ts + 99},  // a pair at 1.98
                                               {300}};                       // no timestamp yet
  for (const std::vector<int>& h : early) {
    std::vector<float> l = before;
    apply_logit_rules(r, h, 0, l.data());
    EXPECT_EQ(l[sp.eot], kNegInf) << "after " << h.size() << " tokens";
    std::vector<float> free = before;
    apply_logit_rules(rules(), h, 0, free.data());
    // Text and timestamps as without the rule (the control tokens between
    // them may follow eot out, by the timestamp-mass rule).
    EXPECT_TRUE(std::equal(l.begin(), l.begin() + sp.eot, free.begin())) << h.size() << " tokens";
    EXPECT_TRUE(std::equal(l.begin() + ts, l.end(), free.begin() + ts)) << h.size() << " tokens";
  }
  for (const std::vector<int>& h :
       std::vector<std::vector<int>>{{ts, 300, ts + 100}, {ts, 300, ts + 100, ts + 100}}) {
    std::vector<float> l = before, free = before;
    apply_logit_rules(r, h, 0, l.data());
    apply_logit_rules(rules(), h, 0, free.data());
    EXPECT_EQ(l, free) << "a timestamp at 2.00: eot as without the rule";
    EXPECT_EQ(l[sp.eot], 20.0f);
  }
}

TEST_F(LogitRulesTest, RepetitionPenalty) {
  LogitRules r = rules();
  r.timestamps = false;
  r.repetition_penalty = 2.0f;
  std::vector<float> before = random_logits(kVocab, 8, 1.0f);
  before[10] = 3.0f;
  before[20] = -3.0f;
  before[30] = 0.0f;
  before[40] = 1.5f;
  std::vector<float> l = before;
  apply_logit_rules(r, {10, 10, 20, 30, 10, 20}, 0, l.data());
  EXPECT_EQ(l[10], 1.5f) << "positive: divided once, however often it was seen";
  EXPECT_EQ(l[20], -6.0f) << "negative: multiplied once";
  EXPECT_EQ(l[30], 0.0f);
  EXPECT_EQ(l[40], 1.5f) << "unseen token unchanged";
  for (int i = 0; i < ts; ++i)
    if (i != 10 && i != 20 && i != 30) {
      ASSERT_EQ(l[i], before[i]) << i;
    }
  // Penalty 1 changes nothing; a penalty < 1 boosts.
  r.repetition_penalty = 1.0f;
  l = before;
  apply_logit_rules(r, {10, 20}, 0, l.data());
  EXPECT_EQ(0, std::memcmp(l.data(), before.data(), ts * sizeof(float)));
  r.repetition_penalty = 0.5f;
  l = before;
  apply_logit_rules(r, {10, 20}, 0, l.data());
  EXPECT_EQ(l[10], 6.0f);
  EXPECT_EQ(l[20], -1.5f);
}

// Independent definition: token t is banned iff (last n-1 tokens, t) already
// occurs as n consecutive tokens of the sequence.
std::set<int> banned_ngrams(const std::vector<int>& seq, int n) {
  std::set<int> out;
  if (int(seq.size()) < n - 1) return out;
  std::vector<int> tail(seq.end() - (n - 1), seq.end());
  for (size_t i = 0; i + n <= seq.size(); ++i) {
    bool same = true;
    for (int j = 0; j < n - 1; ++j) same = same && seq[i + j] == tail[j];
    if (same) out.insert(seq[i + n - 1]);
  }
  return out;
}

TEST_F(LogitRulesTest, NoRepeatNgram) {
  LogitRules r = rules();
  r.timestamps = false;
  // A hand-made case: 3-grams of [1 2 3 1 2 4 1 2]: (1 2) was followed by 3 and 4.
  r.no_repeat_ngram_size = 3;
  std::vector<float> l = flat(1.0f);
  apply_logit_rules(r, {1, 2, 3, 1, 2, 4, 1, 2}, 0, l.data());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(!allowed(l, i), i == 3 || i == 4) << i;
  // Random sequences over a 4-token alphabet, n = 1 .. 5, against the definition.
  std::mt19937 rng(99);
  int banned_total = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + trial % 5;
    const int len = int(rng() % 16);
    std::vector<int> seq(len);
    for (int& t : seq) t = 100 + int(rng() % 4);
    r.no_repeat_ngram_size = n;
    l = flat(1.0f);
    apply_logit_rules(r, seq, 0, l.data());
    const std::set<int> want = banned_ngrams(seq, n);
    banned_total += int(want.size());
    for (int i = 0; i < ts; ++i)
      ASSERT_EQ(!allowed(l, i), want.count(i) == 1)
          << "trial " << trial << " n " << n << " len " << len << " id " << i;
  }
  EXPECT_GT(banned_total, 100);  // the trials do exercise the ban
  r.no_repeat_ngram_size = 0;    // off
  l = flat(1.0f);
  apply_logit_rules(r, {1, 1, 1, 1}, 0, l.data());
  EXPECT_TRUE(allowed(l, 1));
}

// ---------------------------------------------------------------- real tokenizer

// A loop: the last `span` tokens are one phrase of up to 16 tokens, three
// or more times in a row; anything short of that is not one.
TEST(DecodingLoops, EndsInLoopOnlyForAPhraseRepeatedOverTheSpan) {
  using decoding::ends_in_loop;
  auto repeat = [](std::vector<int> prefix, const std::vector<int>& phrase, int count) {
    for (int i = 0; i < count; ++i) prefix.insert(prefix.end(), phrase.begin(), phrase.end());
    return prefix;
  };
  const std::vector<int> intro = {50364, 440, 1446, 13};   // a timestamp and some text
  const std::vector<int> phrase4 = {257, 1446, 300, 307};  // " a book that is"
  EXPECT_TRUE(ends_in_loop(repeat(intro, phrase4, 12), 48));
  EXPECT_FALSE(ends_in_loop(repeat(intro, phrase4, 11), 48));  // 44 tokens of it
  EXPECT_TRUE(ends_in_loop(repeat(intro, phrase4, 11), 44));
  EXPECT_FALSE(ends_in_loop(repeat(intro, phrase4, 12), 0));  // off
  EXPECT_FALSE(ends_in_loop(repeat({}, phrase4, 3), 48));     // shorter than the span
  // One token changed inside the span breaks it; before the span it does not.
  std::vector<int> broken = repeat(intro, phrase4, 14);
  broken[broken.size() - 30] = 11;
  EXPECT_FALSE(ends_in_loop(broken, 48));
  broken = repeat(intro, phrase4, 14);
  broken[broken.size() - 49] = 11;
  EXPECT_TRUE(ends_in_loop(broken, 48));
  // A single token said over and over, and the longest phrase looked for.
  EXPECT_TRUE(ends_in_loop(std::vector<int>(48, 2415), 48));
  std::vector<int> phrase16, phrase17;
  for (int i = 0; i < 17; ++i) {
    if (i < 16) phrase16.push_back(1000 + i);
    phrase17.push_back(1000 + i);
  }
  EXPECT_TRUE(ends_in_loop(repeat({}, phrase16, 3), 48));
  EXPECT_FALSE(ends_in_loop(repeat({}, phrase17, 3), 51));  // past kMaxLoopPhrase
  // Three times at least: two of a 16-token phrase in a 32-token span are not.
  EXPECT_FALSE(ends_in_loop(repeat({}, phrase16, 2), 32));
  // Ordinary text: no phrase repeats.
  std::vector<int> text(200);
  for (int i = 0; i < 200; ++i) text[i] = 300 + (i * 7919) % 5000;
  EXPECT_FALSE(ends_in_loop(text, 48));
}

TEST(DecodingSuppressedTokens, DefaultSetMatchesFasterWhisperConfig) {
  const std::string dir = model_cache_dir() + "/base";
  const std::string tok_path = dir + "/tokenizer.json", cfg_path = dir + "/config.json";
  ASSERT_TRUE(std::filesystem::exists(tok_path) && std::filesystem::exists(cfg_path))
      << "missing " << tok_path << " or " << cfg_path
      << ": run `python3 scripts/fetch_models.py base` (cache: $AMANUENSIS_MODELS, default "
         "~/.cache/amanuensis/models)";
  const text::Tokenizer tok = text::Tokenizer::from_tokenizer_json(tok_path, 51865);
  std::ifstream in(cfg_path);
  const nlohmann::json cfg = nlohmann::json::parse(in);
  ASSERT_TRUE(cfg.contains("suppress_ids")) << cfg_path;
  std::set<int> want;
  for (const auto& v : cfg["suppress_ids"]) want.insert(v.get<int>());
  const text::SpecialTokens& sp = tok.special();
  for (int id : {sp.transcribe, sp.translate, sp.sot, sp.startofprev, sp.startoflm, sp.nospeech})
    want.insert(id);
  const std::vector<int> got_v = default_suppressed_tokens(tok);
  EXPECT_TRUE(std::is_sorted(got_v.begin(), got_v.end()));
  const std::set<int> got(got_v.begin(), got_v.end());
  EXPECT_EQ(got.size(), got_v.size()) << "duplicates";
  std::ostringstream only_got, only_want;
  for (int id : got)
    if (!want.count(id)) only_got << " " << id << "='" << tok.token_bytes(id) << "'";
  for (int id : want)
    if (!got.count(id)) only_want << " " << id << "='" << tok.token_bytes(id) << "'";
  EXPECT_EQ(got, want) << "only in default_suppressed_tokens:" << only_got.str()
                       << "\nonly in config.json suppress_ids (+ controls):" << only_want.str();
  std::printf("default_suppressed_tokens: %zu ids, config.json + controls: %zu ids\n", got.size(),
              want.size());
  // SuppressBlank's ids: encode(" ") and eot, as config.json's suppress_ids_begin.
  if (cfg.contains("suppress_ids_begin")) {
    std::vector<int> begin;
    for (const auto& v : cfg["suppress_ids_begin"]) begin.push_back(v.get<int>());
    std::vector<int> mine = tok.encode(" ");
    mine.push_back(sp.eot);
    EXPECT_EQ(mine, begin);
  }
}

}  // namespace
}  // namespace amanuensis::decoding
