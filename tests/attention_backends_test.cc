// Every backend, tile size and thread count must give the reference's bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/attention/backends.h"

namespace amanuensis::attn {
namespace {

struct Inputs {
  int heads, q_len, kv_len;
  std::vector<float> q, k, v;
};

// Gaussian Q/K at `scale` (flat to peaked attention), a few 20x outlier
// channels in K, and V with a per-channel offset.
Inputs make_inputs(int heads, int q_len, int kv_len, float scale, unsigned seed) {
  Inputs in{heads, q_len, kv_len, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  in.q.resize(size_t(heads) * q_len * kHeadDim);
  in.k.resize(size_t(heads) * kv_len * kHeadDim);
  in.v.resize(in.k.size());
  for (auto& x : in.q) x = scale * g(rng);
  for (size_t i = 0; i < in.k.size(); ++i) {
    const int c = int(i % kHeadDim);
    in.k[i] = scale * g(rng) * (c % 29 == 3 ? 20.0f : 1.0f);
    in.v[i] = g(rng) + 0.1f * c;
  }
  return in;
}

std::vector<float> run(const QuantizedAttention& p, Backend b, int tile, int threads) {
  std::vector<float> out(size_t(p.heads) * p.q_len * kHeadDim);
  ThreadPool pool(threads);
  run_attention(p, b, tile, pool, out.data());
  return out;
}

struct Shape {
  int heads, q_len, kv_len;
  bool causal;
  float scale;
  int qk_planes = 1;  // not the library's default (2): most shapes test the encoder's one plane
};

class BitExact : public ::testing::TestWithParam<Shape> {};

TEST_P(BitExact, AllBackendsTilesAndThreadCountsMatchTheReference) {
  const Shape s = GetParam();
  const Inputs in = make_inputs(s.heads, s.q_len, s.kv_len, s.scale, 7 + s.q_len);
  const QuantizedAttention p =
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), s.heads, s.q_len, s.kv_len,
                         s.causal, 0, nullptr, s.qk_planes);
  for (int tile : kTileSizes) {
    const std::vector<float> expected = run(p, Backend::kReference, tile, 1);
    for (float x : expected) ASSERT_TRUE(std::isfinite(x));
    for (Backend b : supported_backends())
      for (int threads : {1, 2, 3}) {
        const std::vector<float> got = run(p, b, tile, threads);
        ASSERT_EQ(0, std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)))
            << to_string(b) << " tile " << tile << " threads " << threads;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BitExact,
    ::testing::Values(Shape{1, 1, 1, false, 1}, Shape{2, 63, 63, false, 1},
                      Shape{1, 64, 64, true, 2}, Shape{2, 65, 65, false, 3},
                      Shape{1, 130, 130, true, 1}, Shape{3, 200, 200, false, 0.3f},
                      Shape{1, 300, 300, true, 4}, Shape{2, 17, 333, false, 2},
                      Shape{1, 40, 333, true, 2}, Shape{1, 1500, 1500, false, 1.5f},
                      // last query tiles of 1, 2 and 4 vectors, causal and cross-length,
                      // with key blocks skipped in tiles before the last
                      Shape{1, 81, 400, true, 2}, Shape{1, 8, 300, true, 2},
                      Shape{1, 129, 200, false, 2}, Shape{1, 81, 400, true, 2, 2},
                      Shape{1, 8, 300, true, 2, 2}, Shape{1, 129, 200, false, 2, 2},
                      // two-plane Q/K
                      Shape{1, 1, 1, false, 1, 2}, Shape{2, 65, 65, false, 3, 2},
                      Shape{1, 130, 130, true, 2, 2}, Shape{1, 40, 333, true, 2, 2},
                      Shape{2, 700, 700, false, 2.5f, 2}));

// Every backend's bytes against the reference's, at every tile size, on 2 threads.
void expect_backends_match_reference(const QuantizedAttention& p) {
  for (int tile : kTileSizes) {
    const std::vector<float> expected = run(p, Backend::kReference, tile, 1);
    for (Backend b : supported_backends()) {
      const std::vector<float> got = run(p, b, tile, 2);
      ASSERT_EQ(0, std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)))
          << to_string(b) << " tile " << tile << ", " << p.qk_planes << " planes";
    }
  }
}

TEST(BitExact, ExtremeInputsAgreeToo) {
  // All-equal keys (flat attention), zero queries, and huge-but-legal scores.
  const int t = 150;
  Inputs in = make_inputs(1, t, t, 1, 3);
  for (size_t i = 0; i < in.q.size(); ++i)
    in.q[i] = (i / kHeadDim) % 3 == 0 ? 0.0f : 8.0f * in.q[i];
  for (size_t i = 0; i < in.k.size(); ++i) in.k[i] = (i / kHeadDim) < 70 ? 1.0f : 6.0f * in.k[i];
  for (int planes : {1, 2}) {
    const QuantizedAttention p = quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, t, t,
                                                    false, 0, nullptr, planes);
    expect_backends_match_reference(p);
  }
}

TEST(BitExact, LargeRunningSumsRescaleExactly) {
  // Logits that rise slowly along the keys (2 natural units over all of them)
  // move every row's maximum in every key tile while p stays near its top, and
  // V's channel 0 is +1 on the first half of the keys and -1 on the second:
  // the running sums reach millions, past the AVX-512 kernel's 32-bit rescale
  // (kRescale32Limit = 2^21), and must still give the reference's bytes.
  const int t = 1500;
  Inputs in = make_inputs(1, t, t, 0.01f, 5);  // small noise in the other channels
  for (int i = 0; i < t; ++i) {
    in.q[size_t(i) * kHeadDim] = 4.0f;
    in.k[size_t(i) * kHeadDim] = 4.0f * float(i) / t;  // logit 16 i / t / sqrt(64)
    in.v[size_t(i) * kHeadDim] = i < t / 2 ? 1.0f : -1.0f;
  }
  for (int planes : {1, 2}) {
    const QuantizedAttention p = quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, t, t,
                                                    false, 0, nullptr, planes);
    TileResult r;
    reference_tile_fn(64)(p, 0, 0, r);
    int64_t largest = 0;
    for (int i = 0; i < 64; ++i)
      largest = std::max<int64_t>(largest, std::abs(int64_t(r.acc[i][0])));
    ASSERT_GE(largest, int64_t{1} << 21) << "the case must reach the 64-bit rescale";
    expect_backends_match_reference(p);
  }
}

TEST(Quantize, TwoPlanesHoldTheRoundingResidual) {
  // q = s (hi + lo / 254): the second plane is the first plane's rounding
  // error, so hi alone is the one-plane quantization and |lo| <= 127.
  const Inputs in = make_inputs(2, 50, 50, 2, 8);
  const QuantizedAttention one =
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 2, 50, 50, false, 0, nullptr, 1);
  const QuantizedAttention two =
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 2, 50, 50, false, 0, nullptr, 2);
  EXPECT_EQ(one.q, two.q);
  EXPECT_EQ(one.k, two.k);
  EXPECT_TRUE(one.q_lo.empty() && one.k_lo.empty());
  ASSERT_EQ(two.q_lo.size(), two.q.size());
  int max_lo = 0;
  for (int8_t x : two.k_lo) max_lo = std::max(max_lo, std::abs(int(x)));
  EXPECT_GT(max_lo, 100);  // the residuals use the plane's range
  for (int j = 0; j < 50; ++j) {
    int32_t hi = 0, lo = 0;
    for (int c = 0; c < kHeadDim; ++c) {
      hi += two.k[j * kHeadDim + c];
      lo += two.k_lo[j * kHeadDim + c];
    }
    EXPECT_EQ(two.score_offset[j], 128 * (255 * hi + lo)) << j;
  }
  EXPECT_THROW(
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 2, 50, 50, false, 0, nullptr, 3),
      std::invalid_argument);
}

// Float64 attention of the float inputs, for one head [t][64].
std::vector<double> float64_attention(const Inputs& in, int t) {
  std::vector<double> out(size_t(t) * kHeadDim), s(t);
  for (int i = 0; i < t; ++i) {
    double mx = -1e300, sum = 0;
    for (int j = 0; j < t; ++j) {
      double dot = 0;
      for (int c = 0; c < kHeadDim; ++c)
        dot += double(in.q[i * kHeadDim + c]) * in.k[j * kHeadDim + c];
      s[j] = dot / 8;
      mx = std::max(mx, s[j]);
    }
    for (int j = 0; j < t; ++j) sum += (s[j] = std::exp(s[j] - mx));
    for (int j = 0; j < t; ++j)
      for (int c = 0; c < kHeadDim; ++c)
        out[i * kHeadDim + c] += s[j] / sum * in.v[j * kHeadDim + c];
  }
  return out;
}

TEST(Quantize, TwoPlanesAreCloserToFloat64OnSharpAttention) {
  const int t = 256;
  const Inputs in = make_inputs(1, t, t, 2.5f, 21);  // logit std ~6: sharp
  const std::vector<double> ref = float64_attention(in, t);
  double err[3] = {};
  for (int planes : {1, 2}) {
    const QuantizedAttention p = quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, t, t,
                                                    false, 0, nullptr, planes);
    const std::vector<float> out = run(p, Backend::kAuto, 64, 2);
    double e = 0, n = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      e += (out[i] - ref[i]) * (out[i] - ref[i]);
      n += ref[i] * ref[i];
    }
    err[planes] = std::sqrt(e / n);
  }
  EXPECT_LT(err[2], 0.6 * err[1]) << err[1] << " " << err[2];
  EXPECT_LT(err[2], 2e-2);
}

TEST(Quantize, RejectsBadInputs) {
  Inputs in = make_inputs(1, 10, 10, 1, 1);
  EXPECT_THROW(quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 0, 10, false),
               std::invalid_argument);
  EXPECT_THROW(quantize_attention(in.q.data(), in.k.data(), in.v.data(), 0, 10, 10, false),
               std::invalid_argument);
  EXPECT_THROW(quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 10, 9, true),
               std::invalid_argument);
  in.k[37] = std::nanf("");
  EXPECT_THROW(quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 10, 10, false),
               std::invalid_argument);
  in.k[37] = 1e30f;  // finite, but the logits leave the integer range
  in.q[0] = 1e30f;
  EXPECT_THROW(quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 10, 10, false),
               std::invalid_argument);
}

TEST(Quantize, NamesTheFirstNonFiniteValue) {
  Inputs in = make_inputs(3, 20, 20, 1, 2);
  in.v[2 * 20 * kHeadDim + 5] = INFINITY;       // head 2
  in.v[1 * 20 * kHeadDim + 7] = std::nanf("");  // head 1: the first in flat order
  ThreadPool pool(2);
  try {
    quantize_attention(in.q.data(), in.k.data(), in.v.data(), 3, 20, 20, false, 0, &pool);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(
        e.what(),
        ("V has a non-finite value at flat index " + std::to_string(20 * kHeadDim + 7)).c_str());
  }
}

// Non-finite values are found by the passes that quantize (a channel mean, a
// row scale), in Q, K and V alike, whatever the value and wherever it sits.
TEST(Quantize, CatchesEveryKindOfNonFiniteValueInEachInput) {
  ThreadPool pool(2);
  for (const float bad : {std::nanf(""), INFINITY, -INFINITY})
    for (const char* name : {"Q", "K", "V"})
      for (const int at : {0, 13 * kHeadDim + 63, 2 * 20 * kHeadDim - 1}) {
        Inputs in = make_inputs(2, 20, 20, 1, 3);
        std::vector<float>& x = name[0] == 'Q' ? in.q : name[0] == 'K' ? in.k : in.v;
        x[at] = bad;
        try {
          quantize_attention(in.q.data(), in.k.data(), in.v.data(), 2, 20, 20, false, 0, &pool);
          ADD_FAILURE() << name << "[" << at << "] = " << bad << ": no error";
        } catch (const std::invalid_argument& e) {
          EXPECT_EQ(
              std::string(e.what()),
              std::string(name) + " has a non-finite value at flat index " + std::to_string(at));
        }
      }
}

TEST(Quantize, ValuesThatOverflowWhenScaledAreAnError) {
  // Finite, but x - mean overflows float32 once centred: in V (its spread),
  // and in K (a row's value after the mean is removed).
  for (const char* name : {"V", "K"}) {
    Inputs in = make_inputs(1, 10, 10, 1, 4);
    std::vector<float>& x = name[0] == 'V' ? in.v : in.k;
    for (int t = 0; t < 10; ++t) x[t * kHeadDim] = 3e38f;
    x[kHeadDim] = -3e38f;
    try {
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 10, 10, false);
      ADD_FAILURE() << name << ": no error";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), std::string(name) +
                                           " of head 0 has values too large: centring or "
                                           "scaling them overflows float32");
    }
  }
}

TEST(Quantize, TinyValuesQuantizeToZeroNotNaN) {
  // Rows whose largest value is subnormal: 1 / scale overflows, and must not
  // turn 0 * inf into a NaN cast to int8 (undefined behaviour, caught by UBSan).
  Inputs in = make_inputs(1, 10, 10, 1, 5);
  for (int c = 0; c < kHeadDim; ++c) in.q[3 * kHeadDim + c] = c % 2 ? 1e-40f : 0.0f;
  for (int t = 0; t < 10; ++t) in.v[t * kHeadDim + 5] = t % 2 ? 1e-40f : -1e-40f;
  for (int planes : {1, 2}) {
    const QuantizedAttention p = quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 10,
                                                    10, false, 0, nullptr, planes);
    for (int c = 0; c < kHeadDim; ++c) EXPECT_EQ(p.q[3 * kHeadDim + c], 0);
    for (int t = 0; t < 10; ++t) EXPECT_EQ(p.v_t[5 * p.kv_pad + t], 0);
    for (float x : run(p, Backend::kReference, 64, 1)) ASSERT_TRUE(std::isfinite(x));
  }
}

// The encoder's layout: Q, K, V as views of one [T][3][heads][64] tensor and
// the output written as [T][heads][64]. Same bytes as the packed tensors.
TEST(Quantize, StridedViewsGiveThePackedBytes) {
  for (int planes : {1, 2}) {
    const int heads = 3, t = 70;
    const Inputs in = make_inputs(heads, t, t, 1.5f, 12);
    std::vector<float> qkv(size_t(t) * 3 * heads * kHeadDim);
    const size_t row = size_t(3) * heads * kHeadDim;
    for (int part = 0; part < 3; ++part)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < t; ++i)
          for (int c = 0; c < kHeadDim; ++c)
            qkv[i * row + (part * heads + h) * kHeadDim + c] =
                (part == 0   ? in.q
                 : part == 1 ? in.k
                             : in.v)[(size_t(h) * t + i) * kHeadDim + c];
    const QuantizedAttention packed = quantize_attention(in.q.data(), in.k.data(), in.v.data(),
                                                         heads, t, t, false, 0, nullptr, planes);
    const HeadsIn q{qkv.data(), kHeadDim, row}, k{qkv.data() + heads * kHeadDim, kHeadDim, row},
        v{qkv.data() + 2 * heads * kHeadDim, kHeadDim, row};
    ThreadPool pool(2);
    const QuantizedAttention strided =
        quantize_attention(q, k, v, heads, t, t, false, 0, &pool, planes);
    EXPECT_EQ(packed.q_lo, strided.q_lo);
    EXPECT_EQ(packed.k_lo, strided.k_lo);
    EXPECT_EQ(packed.q, strided.q);
    EXPECT_EQ(packed.k, strided.k);
    EXPECT_EQ(packed.v_t, strided.v_t);
    EXPECT_EQ(packed.q_mul, strided.q_mul);
    EXPECT_EQ(packed.k_mul, strided.k_mul);
    EXPECT_EQ(packed.score_offset, strided.score_offset);
    EXPECT_EQ(packed.logit_shift, strided.logit_shift);
    EXPECT_EQ(packed.v_scale, strided.v_scale);
    EXPECT_EQ(packed.v_mean, strided.v_mean);

    const std::vector<float> expected = run(packed, Backend::kAuto, 64, 2);
    std::vector<float> rows(size_t(t) * heads * kHeadDim);
    run_attention(strided, Backend::kAuto, 64, pool,
                  HeadsOut{rows.data(), kHeadDim, heads * kHeadDim});
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < t; ++i)
        ASSERT_EQ(0,
                  std::memcmp(&rows[(size_t(i) * heads + h) * kHeadDim],
                              &expected[(size_t(h) * t + i) * kHeadDim], kHeadDim * sizeof(float)))
            << h << " " << i;
  }
}

TEST(Quantize, KeyMeanRemovalLeavesAttentionUnchanged) {
  // Adding a constant vector to every key must not change the output (much):
  // it is removed exactly before quantization.
  Inputs in = make_inputs(1, 100, 100, 1, 5);
  const QuantizedAttention a =
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 100, 100, false);
  for (size_t i = 0; i < in.k.size(); ++i) in.k[i] += 5.0f * float(i % kHeadDim % 7);
  const QuantizedAttention b =
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 100, 100, false);
  const auto ra = run(a, Backend::kReference, 64, 1), rb = run(b, Backend::kReference, 64, 1);
  for (size_t i = 0; i < ra.size(); ++i) EXPECT_NEAR(ra[i], rb[i], 2e-2f) << i;
}

TEST(Finalize, Int8OutputRoundsTheFloatOutput) {
  Inputs in = make_inputs(1, 64, 64, 1, 9);
  const QuantizedAttention p =
      quantize_attention(in.q.data(), in.k.data(), in.v.data(), 1, 64, 64, false);
  TileResult r;
  reference_tile_fn(64)(p, 0, 0, r);
  std::vector<float> f(64 * kHeadDim);
  std::vector<int8_t> i8(64 * kHeadDim);
  finalize_f32(p, 0, 64, r, f.data());
  const float scale = 0.05f;
  finalize_i8(p, 0, 64, r, scale, i8.data());
  for (size_t i = 0; i < f.size(); ++i)
    EXPECT_EQ(i8[i], int8_t(std::fmax(-127.f, std::fmin(127.f, std::nearbyint(f[i] / scale)))));
}

TEST(Backend, ParseAndResolve) {
  EXPECT_EQ(parse_backend("avx2"), Backend::kAvx2);
  EXPECT_THROW(parse_backend("gpu"), Error);
  EXPECT_NE(resolve_backend(Backend::kAuto), Backend::kAuto);
}

}  // namespace
}  // namespace amanuensis::attn
