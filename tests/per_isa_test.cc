// Every instruction set's copy of the plain C++ loops (kernels/per_isa.h)
// gives the reference copy's bytes: each entry point that takes a Backend,
// run on every backend this CPU supports, at lengths around each vector width.
// (The hand-written int8 kernels have their own tests: gemm_test,
// attention_backends_test.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "decoding/logit_rules.h"
#include "formats/tensor_file.h"
#include "kernels/attention/problem.h"
#include "kernels/gemm/gemm.h"
#include "layers/attention.h"
#include "layers/float_ops.h"

namespace amanuensis {
namespace {

// Lengths below, at and past 8 and 16 floats, and long ones with a tail.
const std::vector<int> kLengths = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1023, 51865};

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = d(rng);
  return x;
}

template <typename T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// f(backend) -> a vector; every backend's equals the reference's.
template <typename F>
void expect_same_on_every_backend(F f, const char* what) {
  const auto expected = f(Backend::kReference);
  for (Backend b : supported_backends())
    EXPECT_TRUE(same_bytes(f(b), expected)) << what << " on backend " << to_string(b);
}

TEST(PerIsa, SupportedBackendsStartWithTheReference) {
  const std::vector<Backend> b = supported_backends();
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b[0], Backend::kReference);
  EXPECT_EQ(b.back(), resolve_backend(Backend::kAuto));  // the best one is the automatic choice
}

// The kernels' tests run every backend of supported_backends(). Whether the
// CPU has AMX is read here from the kernel's own flags, not from our CPUID
// code, so a detection bug cannot hide the AMX backend from those tests.
bool cpuinfo_has_amx_int8() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0)
      return line.find(" amx_int8") != std::string::npos &&
             line.find(" amx_tile") != std::string::npos;
  return false;
}

TEST(PerIsa, AmxIsOfferedAndPreferredWhereTheCpuHasIt) {
  const std::vector<Backend> b = supported_backends();
  const bool offered = std::find(b.begin(), b.end(), Backend::kAmx) != b.end();
  if (!cpuinfo_has_amx_int8()) {
    EXPECT_FALSE(offered);
    EXPECT_THROW(resolve_backend(Backend::kAmx), Error);
    GTEST_SKIP() << "this CPU has no AMX-INT8: the AMX backend is not tested here";
  }
  EXPECT_TRUE(offered);
  EXPECT_EQ(resolve_backend(Backend::kAuto), Backend::kAmx);
  EXPECT_EQ(vector_isa(Backend::kAmx), Backend::kAvx512);
}

// A linear layer with a GELU gives the bytes of the layer and then gelu(), in
// both precisions (int8 fuses it into the GEMM, float runs the pass): rows
// apart, and overlapping as a convolution reads them (row_stride < in); the
// input wide enough for the int8 outlier channels.
TEST(PerIsa, LinearOpGeluIsTheLayerThenGelu) {
  ThreadPool pool(2);
  const int rows = 9, in = LinearOp::kOutlierMinWidth + 32, out = 80;
  const std::vector<float> x = random_floats(size_t(rows) * in, 6);
  auto linear = [&] {
    Linear l;
    l.out = out;
    l.in = in;
    l.weight = random_floats(size_t(out) * in, 7, 0.1f);
    l.bias = random_floats(size_t(out), 8);
    return l;
  };
  for (Precision precision : {Precision::kInt8, Precision::kFp32})
    for (Backend b : supported_backends())
      for (const size_t row_stride : {size_t(in), size_t(in / 3)}) {
        const int n = int((x.size() - in) / row_stride) + 1;  // rows that fit in x
        const LinearOp plain(linear(), precision, b),
            fused(linear(), precision, b, true, Activation::kGelu);
        std::vector<float> expected(size_t(n) * out), y(expected.size());
        plain.apply(x.data(), n, expected.data(), pool, row_stride);
        gelu(expected.data(), expected.size(), b, pool);
        fused.apply(x.data(), n, y.data(), pool, row_stride);
        ASSERT_EQ(0, std::memcmp(y.data(), expected.data(), y.size() * 4))
            << int(precision) << " " << int(b) << " stride " << row_stride;
      }
}

TEST(PerIsa, FloatOps) {
  ThreadPool pool(2);
  for (int n : kLengths) {
    const std::vector<float> x = random_floats(size_t(n), 1 + n), y = random_floats(size_t(n), 2);
    expect_same_on_every_backend(
        [&](Backend b) {
          std::vector<float> v = x;
          gelu(v.data(), v.size(), b, pool);
          return v;
        },
        "gelu");
    expect_same_on_every_backend(
        [&](Backend b) {
          std::vector<float> v = x;
          add_inplace(v.data(), y.data(), v.size(), b, pool);
          return v;
        },
        "add_inplace");
    if (n > 2048) continue;
    const int rows = 5;
    const std::vector<float> in = random_floats(size_t(rows) * n, 3, 40.0f);
    const LayerNormWeights ln{random_floats(size_t(n), 4), random_floats(size_t(n), 5)};
    expect_same_on_every_backend(
        [&](Backend b) {
          std::vector<float> out(in.size());
          layer_norm(in.data(), rows, n, ln, out.data(), b, pool);
          return out;
        },
        "layer_norm");
  }
}

TEST(PerIsa, LogSoftmax) {
  for (int n : kLengths) {
    std::vector<float> x = random_floats(size_t(n), 6 + n, 8.0f);
    x[size_t(n) / 2] = -std::numeric_limits<float>::infinity();  // a suppressed token
    expect_same_on_every_backend(
        [&](Backend b) {
          std::vector<float> out(x.size());
          decoding::log_softmax(x.data(), n, out.data(), b);
          return out;
        },
        "log_softmax");
  }
}

TEST(PerIsa, DecoderAttention) {
  // nq queries against len keys: the first `common` from a shared K/V, the
  // rest from each query's own (as a beam step reads the shared prompt).
  for (int len : {1, 7, 32, 33, 100, 448, 1500}) {
    const int nq = 3, common = len / kKeyBlock * kKeyBlock;
    const size_t k_floats = size_t(round_up(len, kKeyBlock)) * kHeadDim;
    const std::vector<float> q = random_floats(size_t(nq) * kHeadDim, 7);
    const std::vector<float> kc = random_floats(k_floats, 8), vc = random_floats(k_floats, 9);
    std::vector<std::vector<float>> ko, vo;
    std::vector<KeyValues> own;
    for (int r = 0; r < nq; ++r) {
      ko.push_back(random_floats(k_floats, 10 + r));
      vo.push_back(random_floats(k_floats, 20 + r));
    }
    for (int r = 0; r < nq; ++r) own.push_back({ko[r].data(), vo[r].data()});
    expect_same_on_every_backend(
        [&](Backend b) {
          std::vector<float> p(size_t(nq) * padded_len(len)), out(size_t(nq) * kHeadDim);
          attend(b, q.data(), kHeadDim, nq, {kc.data(), vc.data()}, common,
                 common < len ? own.data() : nullptr, len, p.data(), out.data(), kHeadDim);
          return out;
        },
        "attend");
  }
}

TEST(PerIsa, GemmRowQuantization) {
  ThreadPool pool(2);
  for (int k : {1, 5, 64, 67, 384, 1280}) {
    const int m = 9;
    const std::vector<float> x = random_floats(size_t(m) * k, 30 + k);
    const std::vector<int> outliers = k >= 8 ? std::vector<int>{1, k - 1} : std::vector<int>{};
    expect_same_on_every_backend(
        [&](Backend b) {
          gemm::QuantizedRows q;
          gemm::quantize_rows(x.data(), m, k, q, pool, outliers, 0, b);
          std::vector<uint8_t> bytes(q.q.begin(), q.q.end());
          bytes.insert(bytes.end(), q.q_out.begin(), q.q_out.end());
          const auto* s = reinterpret_cast<const uint8_t*>(q.scale.data());
          bytes.insert(bytes.end(), s, s + q.scale.size() * 4);
          return bytes;
        },
        "quantize_rows");
  }
}

TEST(PerIsa, AttentionQuantization) {
  for (int len : {1, 17, 64, 150}) {
    const int heads = 2;
    const size_t n = size_t(heads) * len * kHeadDim;
    const std::vector<float> q = random_floats(n, 40), k = random_floats(n, 41),
                             v = random_floats(n, 42);
    expect_same_on_every_backend(
        [&](Backend b) {
          const attn::QuantizedAttention p = attn::quantize_attention(
              q.data(), k.data(), v.data(), heads, len, len, false, 0, nullptr, 2, b);
          std::vector<uint8_t> bytes;
          auto add = [&](const auto& vec) {
            const auto* s = reinterpret_cast<const uint8_t*>(vec.data());
            bytes.insert(bytes.end(), s, s + vec.size() * sizeof(vec[0]));
          };
          add(p.q);
          add(p.q_lo);
          add(p.k);
          add(p.k_lo);
          add(p.v_t);
          add(p.v_scale);
          add(p.v_mean);
          add(p.q_mul);
          add(p.k_mul);
          add(p.score_offset);
          return bytes;
        },
        "quantize_attention");
  }
}

TEST(PerIsa, DecoderAttentionOverHalves) {
  // K/V stored as halves, scaled or not, give the bytes of attend() over
  // their float values times the scales, on every backend.
  for (int len : {1, 7, 32, 33, 100, 1500})
    for (int nq : {1, 5, 7}) {
      const size_t n = size_t(round_up(len, kKeyBlock)) * kHeadDim;
      const std::vector<float> q = random_floats(size_t(nq) * kHeadDim, 30);
      const std::vector<float> k = random_floats(n, 31), v = random_floats(n, 32);
      std::vector<Half> kh(n), vh(n);
      for (size_t i = 0; i < n; ++i) {
        kh[i] = float_to_half(k[i]);
        vh[i] = float_to_half(v[i]);
      }
      for (float k_scale : {1.0f, 1024.0f})
        for (float v_scale : {1.0f, 0x1p20f}) {
          std::vector<float> kf(n), vf(n);
          for (size_t i = 0; i < n; ++i) {
            kf[i] = half_to_float(kh[i]) * k_scale;
            vf[i] = half_to_float(vh[i]) * v_scale;
          }
          std::vector<float> p(size_t(nq) * padded_len(len)), want(size_t(nq) * kHeadDim);
          attend(Backend::kReference, q.data(), kHeadDim, nq, {kf.data(), vf.data()}, len, nullptr,
                 len, p.data(), want.data(), kHeadDim);
          for (Backend b : supported_backends()) {
            std::vector<float> got(want.size());
            attend(b, q.data(), kHeadDim, nq, HalfKeyValues{kh.data(), vh.data(), k_scale, v_scale},
                   len, p.data(), got.data(), kHeadDim);
            EXPECT_TRUE(same_bytes(got, want)) << "len " << len << ", " << nq << " queries, scales "
                                               << k_scale << " " << v_scale << ", " << to_string(b);
          }
        }
    }
}

TEST(PerIsa, HalfFloatDecoding) {
  // Every half: normal, subnormal, zero, inf and NaN, both signs.
  std::vector<uint8_t> halves(2 * 65536);
  for (int h = 0; h < 65536; ++h) std::memcpy(&halves[2 * size_t(h)], &h, 2);
  expect_same_on_every_backend(
      [&](Backend b) {
        std::vector<float> out(65536);
        decode_floats(halves.data(), 65536, FloatEncoding::kF16, out.data(), b);
        return out;
      },
      "decode_floats");
  std::vector<float> out(65536);
  decode_floats(halves.data(), 65536, FloatEncoding::kF16, out.data(), Backend::kReference);
  for (int h = 0; h < 65536; ++h) {
    const float want = half_to_float(uint16_t(h));
    EXPECT_TRUE(std::memcmp(&want, &out[size_t(h)], 4) == 0) << h;
  }
}

}  // namespace
}  // namespace amanuensis
