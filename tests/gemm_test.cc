// Int8 GEMM: every backend and thread count gives the reference's bytes, and
// the reference is close to float64 GEMM.
#include "kernels/gemm/gemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/gelu.h"

namespace amanuensis::gemm {
namespace {

struct Problem {
  int m, n, k;
  std::vector<float> x, w, b;
};

Problem make(int m, int n, int k, unsigned seed) {
  Problem p{m, n, k, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  p.x.resize(size_t(m) * k);
  p.w.resize(size_t(n) * k);
  p.b.resize(n);
  for (size_t i = 0; i < p.x.size(); ++i) p.x[i] = g(rng) * (i % k == 5 ? 30.0f : 1.0f);  // outlier
  for (auto& v : p.w) v = 0.05f * g(rng);
  for (auto& v : p.b) v = g(rng);
  return p;
}

std::vector<float> run(const Problem& p, Backend b, int threads) {
  ThreadPool pool(threads);
  const QuantizedWeights w = quantize_weights(p.w.data(), p.b.data(), p.n, p.k);
  QuantizedRows x;
  quantize_rows(p.x.data(), p.m, p.k, x, pool);
  std::vector<float> y(size_t(p.m) * p.n);
  gemm(x, w, b, pool, y.data());
  return y;
}

class GemmShapes : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(GemmShapes, BackendsAndThreadsAreBitExactAndCloseToFloat64) {
  const auto [m, n, k] = GetParam();
  const Problem p = make(m, n, k, m * 131 + n * 7 + k);
  const std::vector<float> expected = run(p, Backend::kReference, 1);
  for (Backend b : supported_backends())
    for (int threads : {1, 2, 3}) {
      const std::vector<float> got = run(p, b, threads);
      ASSERT_EQ(0, std::memcmp(got.data(), expected.data(), got.size() * 4))
          << int(b) << " threads " << threads;
    }
  // Against float64 of the same int8 values (dequantized): only the float
  // epilogue's rounding may differ. Against float64 of the float inputs: the
  // int8 rounding itself, large here because of the 30x outlier channel.
  ThreadPool pool(1);
  const QuantizedWeights qw = quantize_weights(p.w.data(), p.b.data(), n, k);
  QuantizedRows qx;
  quantize_rows(p.x.data(), m, k, qx, pool);
  double err_q = 0, err_f = 0, ref = 0;
  for (int r = 0; r < m; ++r)
    for (int c = 0; c < n; ++c) {
      double exact = p.b[c], dequant = p.b[c];
      for (int i = 0; i < k; ++i) {
        exact += double(p.x[size_t(r) * k + i]) * p.w[size_t(c) * k + i];
        dequant += (double(qx.q[size_t(r) * qx.k_pad + i]) - 128) * qx.scale[r] * qw.at(c, i) *
                   qw.scale[c];
      }
      err_q += std::pow(expected[size_t(r) * n + c] - dequant, 2);
      err_f += std::pow(expected[size_t(r) * n + c] - exact, 2);
      ref += exact * exact;
    }
  EXPECT_LT(std::sqrt(err_q / ref), 1e-6);
  EXPECT_LT(std::sqrt(err_f / ref), 0.08);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmShapes,
                         ::testing::Values(std::make_tuple(1, 64, 4), std::make_tuple(2, 130, 70),
                                           std::make_tuple(3, 64, 8), std::make_tuple(4, 65, 516),
                                           std::make_tuple(5, 200, 512), std::make_tuple(7, 100, 3),
                                           std::make_tuple(13, 64, 240),
                                           std::make_tuple(96, 384, 512),
                                           std::make_tuple(101, 130, 2050),
                                           std::make_tuple(300, 512, 1536)));

// Relative L2 of y against float64 x . W^T + b.
double error_vs_float64(const Problem& p, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (int r = 0; r < p.m; ++r)
    for (int c = 0; c < p.n; ++c) {
      double exact = p.b[c];
      for (int i = 0; i < p.k; ++i)
        exact += double(p.x[size_t(r) * p.k + i]) * p.w[size_t(c) * p.k + i];
      err += std::pow(y[size_t(r) * p.n + c] - exact, 2);
      ref += exact * exact;
    }
  return std::sqrt(err / ref);
}

TEST(Gemm, OutliersAreBitExactAndMatchTheirFormula) {
  Problem p = make(37, 200, 70, 4);
  for (int r = 0; r < p.m; ++r) {
    p.x[size_t(r) * p.k + 33] *= 500;
    if (r == 3) p.x[size_t(r) * p.k + 0] = 1e30f;
    if (r == 4)  // only an outlier is non-zero
      for (int c = 0; c < p.k; ++c)
        if (c != 69) p.x[size_t(r) * p.k + c] = 0;
  }
  const std::vector<int> cols = {5, 0, 69, 33, 34};
  ThreadPool pool(2);
  const QuantizedWeights w = quantize_weights(p.w.data(), p.b.data(), p.n, p.k);
  QuantizedRows x;
  quantize_rows(p.x.data(), p.m, p.k, x, pool, cols);
  const QuantizedWeights ws = gather_columns(w, cols);
  for (int n = 0; n < p.n; ++n)
    for (size_t j = 0; j < cols.size(); ++j) ASSERT_EQ(ws.at(n, int(j)), w.at(n, cols[j]));

  // Each part has its own symmetric scale: every value within half a step.
  for (int r = 0; r < p.m; ++r) {
    const float* row = &p.x[size_t(r) * p.k];
    float main_max = 0, out_max = 0;
    for (int c = 0; c < p.k; ++c) {
      const bool outlier = std::find(cols.begin(), cols.end(), c) != cols.end();
      float& m = outlier ? out_max : main_max;
      m = std::max(m, std::fabs(row[c]));
      if (!outlier) {
        const double step = x.scale[r];
        ASSERT_LE(std::fabs(row[c] - (x.q[size_t(r) * x.k_pad + c] - 128) * step), 0.5001 * step);
      }
    }
    for (size_t j = 0; j < cols.size(); ++j) {
      const double step = x.scale_out[r];
      ASSERT_LE(std::fabs(row[cols[j]] - (x.q_out[r * x.outliers_pad + j] - 128) * step),
                0.5001 * step)
          << r << " " << j;
    }
    EXPECT_EQ(x.scale[r], main_max / 127.0f);
    EXPECT_EQ(x.scale_out[r], out_max / 127.0f);
  }

  std::vector<float> expected(size_t(p.m) * p.n);
  gemm(x, w, Backend::kReference, pool, expected.data());
  for (Backend b : supported_backends())
    for (int threads : {1, 3}) {
      ThreadPool tp(threads);
      std::vector<float> y(expected.size());
      gemm(x, w, b, tp, y.data());
      ASSERT_EQ(0, std::memcmp(y.data(), expected.data(), y.size() * 4))
          << int(b) << " " << threads;
    }
  for (int r = 0; r < p.m; ++r)  // the formula of gemm.h, from the stored integers
    for (int n = 0; n < p.n; ++n) {
      int32_t a1 = 0, a2 = 0;
      for (int c = 0; c < p.k; ++c)
        a1 += (int32_t(x.q[size_t(r) * x.k_pad + c]) - 128) * w.at(n, c);
      for (int j = 0; j < int(cols.size()); ++j)
        a2 += (int32_t(x.q_out[size_t(r) * x.outliers_pad + j]) - 128) * w.at(n, cols[j]);
      const float v =
          (float(a1) * x.scale[r] + float(a2) * x.scale_out[r]) * w.scale[n] + w.bias[n];
      ASSERT_EQ(expected[size_t(r) * p.n + n], v) << r << " " << n;
    }
}

// A decoding step's few rows (one per beam) take their own tile in some
// backends, and many rows go in tiles of a fixed height (6 in AVX2's, 16 in
// AMX's, two of them at a time) with what is left over in a smaller one: the
// same bytes with outliers, for each count up to two chunks and a remainder.
TEST(Gemm, EveryRowCountWithOutliersIsBitExact) {
  const Problem p = make(70, 150, 70, 9);
  const QuantizedWeights w = quantize_weights(p.w.data(), p.b.data(), p.n, p.k);
  ThreadPool pool(2);
  for (int m = 1; m <= p.m; ++m) {
    QuantizedRows x;
    quantize_rows(p.x.data(), m, p.k, x, pool, {3, 40, 69});
    std::vector<float> expected(size_t(m) * p.n), y(expected.size());
    gemm(x, w, Backend::kReference, pool, expected.data());
    for (Backend b : supported_backends()) {
      std::fill(y.begin(), y.end(), NAN);  // every value written, none left from the last backend
      gemm(x, w, b, pool, y.data());
      ASSERT_EQ(0, std::memcmp(y.data(), expected.data(), y.size() * 4)) << int(b) << " m " << m;
    }
  }
}

// Activation::kGelu gives the bytes of the plain GEMM followed by GELU
// (kernels/gelu.h's gelu_range, compiled here without vector flags) on every
// output: each value once, for every backend, thread count and row count
// (past one 96-row work item too), columns past the last whole 64-column
// block included.
TEST(Gemm, FusedGeluIsTheGemmThenGelu) {
  for (const auto& [n, k] : {std::pair{150, 70}, std::pair{64, 512}, std::pair{200, 3}}) {
    const Problem p = make(200, n, k, 11 + n);
    const QuantizedWeights w = quantize_weights(p.w.data(), p.b.data(), p.n, p.k);
    for (int m : {1, 5, 17, 40, 70, 100, 200}) {
      ThreadPool one(1);
      QuantizedRows x;
      quantize_rows(p.x.data(), m, p.k, x, one,
                    k >= 8 ? std::vector<int>{1, 5} : std::vector<int>{});
      std::vector<float> expected(size_t(m) * p.n);
      gemm(x, w, Backend::kReference, one, expected.data());
      gelu_range(expected.data(), 0, expected.size());
      for (Backend b : supported_backends())
        for (int threads : {1, 2, 3}) {
          ThreadPool pool(threads);
          std::vector<float> y(expected.size(), NAN);
          gemm(x, w, b, pool, y.data(), Activation::kGelu);
          ASSERT_EQ(0, std::memcmp(y.data(), expected.data(), y.size() * 4))
              << int(b) << " n " << n << " m " << m << " threads " << threads;
        }
    }
  }
}

TEST(Gemm, OutlierChannelsReduceTheError) {
  const Problem p = make(64, 96, 256, 9);  // channel 5 is 30x the others
  ThreadPool pool(2);
  const QuantizedWeights w = quantize_weights(p.w.data(), p.b.data(), p.n, p.k);
  std::vector<float> plain(size_t(p.m) * p.n), split(plain.size());
  QuantizedRows x;
  quantize_rows(p.x.data(), p.m, p.k, x, pool);
  gemm(x, w, Backend::kAuto, pool, plain.data());
  quantize_rows(p.x.data(), p.m, p.k, x, pool, {5});
  gemm(x, w, Backend::kAuto, pool, split.data());
  const double e_plain = error_vs_float64(p, plain), e_split = error_vs_float64(p, split);
  EXPECT_LT(e_split, 0.3 * e_plain) << e_plain << " " << e_split;
}

TEST(GemmQuantize, RowStrideReadsRowsInPlace) {
  const Problem p = make(9, 64, 300, 6);
  const size_t stride = 311;  // the gaps hold NaN: reading them would throw
  std::vector<float> spaced(p.m * stride, std::nanf(""));
  for (int r = 0; r < p.m; ++r) std::copy_n(&p.x[size_t(r) * p.k], p.k, &spaced[r * stride]);
  ThreadPool pool(2);
  QuantizedRows a, b;
  quantize_rows(p.x.data(), p.m, p.k, a, pool, {5, 7});
  quantize_rows(spaced.data(), p.m, p.k, b, pool, {5, 7}, stride);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.q_out, b.q_out);
  EXPECT_EQ(a.scale, b.scale);
  EXPECT_EQ(a.scale_out, b.scale_out);
}

TEST(GemmQuantize, OverlappingRowsReadConvolutionWindows) {
  // A kernel-3 convolution's rows: frames t-1, t, t+1 of 40 channels, one
  // frame (40 floats) apart, so 120-wide rows overlap by 80.
  const int frames = 30, channels = 40, k = 3 * channels;
  Problem p = make(frames + 2, 64, channels, 7);
  ThreadPool pool(2);
  std::vector<float> packed(size_t(frames) * k);
  for (int t = 0; t < frames; ++t)
    std::copy_n(&p.x[size_t(t) * channels], k, &packed[size_t(t) * k]);
  QuantizedRows a, b;
  quantize_rows(packed.data(), frames, k, a, pool, {1, 100});
  quantize_rows(p.x.data(), frames, k, b, pool, {1, 100}, channels);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.q_out, b.q_out);
  EXPECT_EQ(a.scale, b.scale);
}

TEST(GemmQuantize, RejectsBadOutlierChannelsAndWidths) {
  const Problem p = make(2, 64, 8, 5);
  ThreadPool pool(1);
  QuantizedRows x;
  EXPECT_THROW(quantize_rows(p.x.data(), 2, 8, x, pool, {1, 1}), std::invalid_argument);
  EXPECT_THROW(quantize_rows(p.x.data(), 2, 8, x, pool, {8}), std::invalid_argument);
  EXPECT_THROW(quantize_rows(p.x.data(), 2, 8, x, pool, {-1}), std::invalid_argument);
  std::vector<int> many(kMaxOutliers + 1);
  for (int i = 0; i < int(many.size()); ++i) many[i] = i;
  std::vector<float> wide(size_t(kMaxOutliers + 1) * 2, 1.0f);
  EXPECT_THROW(quantize_rows(wide.data(), 2, kMaxOutliers + 1, x, pool, many),
               std::invalid_argument);
  std::vector<float> too_wide(kMaxK + 1, 1.0f);
  EXPECT_THROW(quantize_rows(too_wide.data(), 1, kMaxK + 1, x, pool), std::invalid_argument);
  EXPECT_THROW(quantize_weights(too_wide.data(), nullptr, 1, kMaxK + 1), std::invalid_argument);
}

TEST(GemmQuantize, PackedLayoutRoundTripsAndZeroRowsWork) {
  Problem p = make(3, 70, 9, 1);
  for (int c = 0; c < 9; ++c) p.w[5 * 9 + c] = 0;  // an all-zero output channel
  const QuantizedWeights w = quantize_weights(p.w.data(), p.b.data(), 70, 9);
  EXPECT_EQ(w.n_pad, 128);
  EXPECT_EQ(w.k_pad, kPadK);
  for (int c = 0; c < 9; ++c) EXPECT_EQ(w.at(5, c), 0);
  for (int r = 0; r < 70; ++r) {
    int max_q = 0;
    for (int c = 0; c < 9; ++c) max_q = std::max(max_q, std::abs(int(w.at(r, c))));
    EXPECT_EQ(max_q, r == 5 ? 0 : 127) << r;
  }
  const std::vector<float> y = run(p, Backend::kAuto, 2);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(y[size_t(r) * 70 + 5], p.b[5]);
}

TEST(GemmQuantize, TinyRowsQuantizeToZeroNotNaN) {
  // A row whose largest value is subnormal: 127 / max overflows, and must not
  // turn 0 * inf into a NaN cast to int8 (undefined behaviour, caught by UBSan).
  Problem p = make(4, 64, 8, 3);
  for (int c = 0; c < 8; ++c) p.x[8 + c] = c % 2 ? 1e-40f : 0.0f;
  ThreadPool pool(2);
  QuantizedRows x;
  quantize_rows(p.x.data(), 4, 8, x, pool);
  for (int c = 0; c < 8; ++c) EXPECT_EQ(x.q[x.k_pad + c], 128);
  const QuantizedWeights w = quantize_weights(p.w.data(), nullptr, 64, 8);
  std::vector<float> y(4 * 64);
  gemm(x, w, Backend::kReference, pool, y.data());
  for (int n = 0; n < 64; ++n) EXPECT_EQ(y[64 + n], 0.0f);
}

TEST(GemmQuantize, RejectsNonFinite) {
  Problem p = make(4, 64, 8, 2);
  p.x[9] = std::nanf("");
  ThreadPool pool(2);
  QuantizedRows x;
  EXPECT_THROW(quantize_rows(p.x.data(), 4, 8, x, pool), std::invalid_argument);
  p.w[3] = INFINITY;
  EXPECT_THROW(quantize_weights(p.w.data(), nullptr, 64, 8), std::invalid_argument);
}

// Weights read a chunk of rows at a time (a model file's float16, decoded as
// it is quantized) give the bytes of the whole float matrix: shapes split over
// one thread and over several (n * k >= 2^20), row counts not a multiple of a
// chunk; every row read exactly once; a non-finite row still refused.
TEST(GemmQuantize, RowReaderGivesTheSameBytes) {
  for (auto [rows, cols] : {std::pair{70, 9}, std::pair{1000, 1100}, std::pair{2051, 520}}) {
    const int n = rows, k = cols;  // plain variables: a lambda captures them (clang 14)
    Problem p = make(1, n, k, unsigned(n));
    const QuantizedWeights whole = quantize_weights(p.w.data(), p.b.data(), n, k);
    std::vector<std::atomic<int>> reads(n);
    const QuantizedWeights read = quantize_weights(
        [&](int r0, int r1, float* out) {
          for (int r = r0; r < r1; ++r) ++reads[r];
          std::copy_n(p.w.data() + size_t(r0) * k, size_t(r1 - r0) * k, out);
        },
        p.b.data(), n, k);
    EXPECT_EQ(read.packed, whole.packed) << n << " x " << k;
    EXPECT_EQ(read.scale, whole.scale);
    EXPECT_EQ(read.sum128, whole.sum128);
    EXPECT_EQ(read.bias, whole.bias);
    for (int r = 0; r < n; ++r) ASSERT_EQ(reads[r], 1) << r;
    p.w[size_t(n - 1) * k] = std::nanf("");
    EXPECT_THROW(quantize_weights(
                     [&](int r0, int r1, float* out) {
                       std::copy_n(p.w.data() + size_t(r0) * k, size_t(r1 - r0) * k, out);
                     },
                     nullptr, n, k),
                 std::invalid_argument);
  }
}

}  // namespace
}  // namespace amanuensis::gemm
