// The CTranslate2 reader on files written here, and on every truncation.
#include "formats/ct2_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace amanuensis {
namespace {

struct Writer {
  std::vector<uint8_t> b;
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  void str(const std::string& s) {
    put<uint16_t>(uint16_t(s.size() + 1));
    b.insert(b.end(), s.begin(), s.end());
    b.push_back(0);
  }
};

std::vector<uint8_t> small_model(uint8_t dtype = 4, uint32_t version = 6) {
  Writer w;
  w.put<uint32_t>(version);
  w.str("WhisperSpec");
  w.put<uint32_t>(3);
  w.put<uint32_t>(3);
  w.str("encoder/num_heads");  // int16 scalar
  w.put<uint8_t>(0);
  w.put<uint8_t>(2);
  w.put<uint32_t>(2);
  w.put<int16_t>(8);
  w.str("w");  // [2, 3]
  w.put<uint8_t>(2);
  w.put<uint32_t>(2);
  w.put<uint32_t>(3);
  w.put<uint8_t>(dtype);
  if (dtype == 4) {
    w.put<uint32_t>(12);
    for (uint16_t h : {0x3c00, 0xc000, 0x3800, 0x0000, 0x7bff, 0x0001}) w.put<uint16_t>(h);
  } else {
    w.put<uint32_t>(24);
    for (float f : {1.0f, -2.0f, 0.5f, 0.0f, 65504.0f, 5.96046448e-08f}) w.put<float>(f);
  }
  w.str("x");  // a scalar float
  w.put<uint8_t>(0);
  w.put<uint8_t>(0);
  w.put<uint32_t>(4);
  w.put<float>(3.5f);
  w.put<uint32_t>(1);
  w.str("y");
  w.str("w");
  return w.b;
}

TEST(Ct2Format, ReadsTensorsScalarsAndAliases) {
  for (uint8_t dtype : {uint8_t(0), uint8_t(4)}) {
    const std::vector<uint8_t> bytes = small_model(dtype);
    const TensorFile f = parse_ct2_model(bytes.data(), bytes.size(), "m");
    EXPECT_EQ(f.scalars.at("encoder/num_heads"), 8);
    const Tensor& w = f.get("w", {2, 3}, "m");
    EXPECT_EQ(w.data, (std::vector<float>{1.0f, -2.0f, 0.5f, 0.0f, 65504.0f, 5.96046448e-08f}));
    EXPECT_EQ(f.get("y", {2, 3}, "m").data, w.data);
    EXPECT_EQ(f.get("x", {}, "m").data, std::vector<float>{3.5f});
    EXPECT_THROW(f.get("w", {3, 2}, "m"), ModelError);
    EXPECT_THROW(f.get("nope", {1}, "m"), ModelError);
  }
}

// A tensor's rows read lazily (as int8 loading reads weights) equal get()'s
// values, in any split; the shape is checked as get() checks it.
TEST(Ct2Format, RowsReaderMatchesGet) {
  for (uint8_t dtype : {uint8_t(0), uint8_t(4)}) {
    const std::vector<uint8_t> bytes = small_model(dtype);
    TensorFile f = parse_ct2_model(bytes.data(), bytes.size(), "m");
    const std::vector<float> want = f.get("w", {2, 3}, "m").data;
    TensorFile g = parse_ct2_model(bytes.data(), bytes.size(), "m");
    const auto rows = g.rows("w", {2, 3}, "m");
    std::vector<float> got(6);
    rows(1, 2, got.data() + 3);
    rows(0, 1, got.data());
    EXPECT_EQ(got, want);
    std::vector<float> both(6);
    f.rows("w", {2, 3}, "m")(0, 2, both.data());  // from get()'s cached floats
    EXPECT_EQ(both, want);
    EXPECT_THROW(g.rows("w", {3, 2}, "m"), ModelError);
    EXPECT_THROW(g.rows("nope", {2, 3}, "m"), ModelError);
  }
}

TEST(Ct2Format, EveryTruncationAndCorruptionIsAnError) {
  const std::vector<uint8_t> bytes = small_model();
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(parse_ct2_model(bytes.data(), n, "m"), ModelError) << n;
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_THROW(parse_ct2_model(longer.data(), longer.size(), "m"), ModelError);
  for (uint32_t version : {0u, 3u, 7u, 0xffffffffu}) {
    const auto b = small_model(4, version);
    EXPECT_THROW(parse_ct2_model(b.data(), b.size(), "m"), ModelError);
  }
  const auto bad_dtype = small_model(9);
  EXPECT_THROW(parse_ct2_model(bad_dtype.data(), bad_dtype.size(), "m"), ModelError);
  EXPECT_THROW(read_ct2_model("/nonexistent/model.bin"), ModelError);
}

TEST(Ct2Format, HalfConversionIsExactOnSpecialValues) {
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x8000), -0.0f);
  EXPECT_TRUE(std::isinf(half_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
  for (uint32_t h = 0; h < 0x7c00; ++h) {  // every finite positive half, against ldexp
    const int e = h >> 10, m = h & 0x3ff;
    const float expect = e ? std::ldexp(1.0f + m / 1024.0f, e - 15) : std::ldexp(m / 1024.0f, -14);
    ASSERT_EQ(half_to_float(uint16_t(h)), expect) << h;
  }
}

// The vectorized bulk conversion gives half_to_float's bits for all 65536 halves.
TEST(Ct2Format, BulkHalfConversionMatchesTheScalarOne) {
  std::vector<uint8_t> bytes(2 * 65536);
  for (uint32_t h = 0; h < 65536; ++h) {
    bytes[2 * h] = uint8_t(h);
    bytes[2 * h + 1] = uint8_t(h >> 8);
  }
  const std::vector<float> bulk = decode_floats(bytes.data(), 65536, FloatEncoding::kF16);
  for (uint32_t h = 0; h < 65536; ++h) {
    const float one = half_to_float(uint16_t(h));
    uint32_t a, b;
    std::memcpy(&a, &bulk[h], 4);
    std::memcpy(&b, &one, 4);
    ASSERT_EQ(a, b) << h;
  }
}

}  // namespace
}  // namespace amanuensis
