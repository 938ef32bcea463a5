// The decoder's attention products over halves (kernels/decoder_attention):
// the reference against sums in double, and every backend against the
// reference's bytes, at every row count a tile splits and key counts around
// the vector widths and blocks, with strides wider than a row.
#include "kernels/decoder_attention/decoder_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace amanuensis::decoder_attention {
namespace {

constexpr size_t kQStride = kHeadDim + 3, kOutStride = kHeadDim + 5;
const std::vector<int> kKeyCounts = {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1500};

int padded(int n) { return (n + kKeyBlock - 1) / kKeyBlock * kKeyBlock; }

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> x(n);
  for (float& v : x) v = d(rng);
  return x;
}

// Halves of normal size, with every 7th subnormal and every 11th a signed zero.
std::vector<Half> random_halves(size_t n, uint32_t seed) {
  const std::vector<float> f = random_floats(n, seed, -4.0f, 4.0f);
  std::vector<Half> h(n);
  for (size_t i = 0; i < n; ++i)
    h[i] = float_to_half(i % 11 == 0 ? (i % 2 ? -0.0f : 0.0f) : i % 7 == 0 ? f[i] * 1e-6f : f[i]);
  return h;
}

TEST(DecoderAttention, ReferenceScoresAndSumsAreTheProducts) {
  const int nq = 3, n = 100;
  const std::vector<float> q = random_floats(nq * kQStride, 1, -2.0f, 2.0f);
  const std::vector<Half> k = random_halves(size_t(padded(n)) * kHeadDim, 2);
  const std::vector<Half> v = random_halves(size_t(n) * kHeadDim, 3);
  const size_t p_stride = size_t(padded(n)) + 1;
  std::vector<float> p(nq * p_stride);
  scores_reference(q.data(), kQStride, nq, k.data(), n, p.data(), p_stride);
  std::vector<float> out = random_floats(nq * kOutStride, 4, -1.0f, 1.0f);
  const std::vector<float> before = out;
  weighted_sums_reference(p.data(), p_stride, nq, v.data(), n, out.data(), kOutStride);
  for (int r = 0; r < nq; ++r)
    for (int j = 0; j < n; ++j) {
      double s = 0, size = 0;
      for (int c = 0; c < kHeadDim; ++c) {
        const double x = double(q[r * kQStride + c]) * half_to_float(k[key_offset(j, c)]);
        s += x;
        size += std::fabs(x);
      }
      ASSERT_NEAR(p[r * p_stride + j], s, 1e-6 * size) << "query " << r << ", key " << j;
    }
  for (int r = 0; r < nq; ++r)
    for (int c = 0; c < kHeadDim; ++c) {
      double s = before[r * kOutStride + c], size = std::fabs(s);
      for (int j = 0; j < n; ++j) {
        const double x = double(p[r * p_stride + j]) * half_to_float(v[j * kHeadDim + c]);
        s += x;
        size += std::fabs(x);
      }
      ASSERT_NEAR(out[r * kOutStride + c], s, 1e-6 * size) << "query " << r << ", channel " << c;
    }
}

TEST(DecoderAttention, EveryBackendGivesTheReferenceBytes) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int n : kKeyCounts)
    for (int nq = 1; nq <= 12; ++nq) {
      const size_t p_stride = size_t(padded(n)) + 1;
      const std::vector<float> q = random_floats(nq * kQStride, n * 100 + nq, -2.0f, 2.0f);
      const std::vector<Half> k = random_halves(size_t(padded(n)) * kHeadDim, n);
      const std::vector<Half> v = random_halves(size_t(n) * kHeadDim, n + 1);
      const std::vector<float> weights = random_floats(nq * p_stride, nq, 0.0f, 1.0f);
      const std::vector<float> start = random_floats(nq * kOutStride, n + nq, -1.0f, 1.0f);
      std::vector<float> want_p(nq * p_stride, nan), want_out = start;
      scores_reference(q.data(), kQStride, nq, k.data(), n, want_p.data(), p_stride);
      weighted_sums_reference(weights.data(), p_stride, nq, v.data(), n, want_out.data(),
                              kOutStride);
      for (Backend b : supported_backends()) {
        const HalfKernels kernels = half_kernels_for(b);
        std::vector<float> p(nq * p_stride, nan), out = start;
        kernels.scores(q.data(), kQStride, nq, k.data(), n, p.data(), p_stride);
        kernels.weighted_sums(weights.data(), p_stride, nq, v.data(), n, out.data(), kOutStride);
        // Scores through the last whole block, and nothing past it.
        EXPECT_EQ(0, std::memcmp(p.data(), want_p.data(), p.size() * sizeof(float)))
            << "scores, " << n << " keys, " << nq << " queries, " << to_string(b);
        EXPECT_EQ(0, std::memcmp(out.data(), want_out.data(), out.size() * sizeof(float)))
            << "sums, " << n << " keys, " << nq << " queries, " << to_string(b);
      }
    }
}

TEST(DecoderAttention, EveryFiniteHalfConvertsAsTheReference) {
  // The 63,488 finite halves (normal, subnormal, signed zeros) in order, as
  // 992 keys and as 992 values. A key's 64 channels, and the values of a
  // block of 32 keys summed apart, span about two binades, so a conversion
  // off by a bit (or a subnormal flushed) changes a sum it is in.
  std::vector<Half> all;
  for (int h = 0; h < 65536; ++h)
    if ((h & 0x7c00) != 0x7c00) all.push_back(Half(h));
  const int n = int(all.size()) / kHeadDim, nq = 5, blocks = n / kKeyBlock;
  ASSERT_EQ(n % kKeyBlock, 0);
  const size_t p_stride = size_t(n) + 1, out_size = nq * kOutStride;
  const std::vector<float> q = random_floats(nq * kQStride, 5, -1.0f, 1.0f);
  const std::vector<float> weights = random_floats(nq * p_stride, 6, 0.0f, 1.0f);
  auto run = [&](const HalfKernels& kernels, std::vector<float>& p, std::vector<float>& out) {
    kernels.scores(q.data(), kQStride, nq, all.data(), n, p.data(), p_stride);
    for (int b = 0; b < blocks; ++b) {
      const int j0 = b * kKeyBlock;
      kernels.weighted_sums(weights.data() + j0, p_stride, nq, all.data() + size_t(j0) * kHeadDim,
                            kKeyBlock, out.data() + b * out_size, kOutStride);
    }
  };
  std::vector<float> want_p(nq * p_stride), want_out(blocks * out_size);
  run(half_kernels_for(Backend::kReference), want_p, want_out);
  for (Backend b : supported_backends()) {
    std::vector<float> p(want_p.size()), out(want_out.size());
    run(half_kernels_for(b), p, out);
    EXPECT_EQ(0, std::memcmp(p.data(), want_p.data(), p.size() * sizeof(float))) << to_string(b);
    EXPECT_EQ(0, std::memcmp(out.data(), want_out.data(), out.size() * sizeof(float)))
        << to_string(b);
  }
}

}  // namespace
}  // namespace amanuensis::decoder_attention
