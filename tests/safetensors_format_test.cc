// The safetensors reader on files written here, and on every truncation.
#include "formats/safetensors_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace amanuensis {
namespace {

std::vector<uint8_t> file_with(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b(8);
  const uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::vector<uint8_t> small_file() {
  std::vector<uint8_t> data;
  auto put = [&](const void* p, size_t n) {
    data.insert(data.end(), (const uint8_t*)p, (const uint8_t*)p + n);
  };
  const float f[3] = {1.5f, -2.0f, 0.25f};
  put(f, 12);
  const uint16_t h[2] = {0x3c00, 0xc000};  // f16 1, -2
  put(h, 4);
  const uint16_t bf[1] = {0x3f80};  // bf16 1
  put(bf, 2);
  return file_with(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F16","shape":[1,2],"data_offsets":[12,16]},)"
      R"("c":{"dtype":"BF16","shape":[],"data_offsets":[16,18]}})",
      data);
}

TEST(Safetensors, ReadsFloatDtypes) {
  const auto bytes = small_file();
  const TensorFile f = parse_safetensors(bytes.data(), bytes.size(), "t");
  EXPECT_EQ(f.get("a", {3}, "t").data, (std::vector<float>{1.5f, -2.0f, 0.25f}));
  EXPECT_EQ(f.get("b", {1, 2}, "t").data, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(f.get("c", {}, "t").data, std::vector<float>{1.0f});
}

TEST(Safetensors, EveryTruncationAndCorruptionIsAnError) {
  const auto bytes = small_file();
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(parse_safetensors(bytes.data(), n, "t"), ModelError) << n;
  const std::vector<std::string> bad = {
      R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})",
      R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}})",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}})",
      R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})",
      R"({"a":{"shape":[1],"data_offsets":[0,4]}})",
      R"({"a":{"dtype":"F32","shape":[99999999999,99999999999],"data_offsets":[0,4]}})",
      R"({"a": 3})",
      R"([1, 2])",
      R"({"a":)",
  };
  for (const std::string& h : bad) {
    const auto b = file_with(h, std::vector<uint8_t>(8, 0));
    EXPECT_THROW(parse_safetensors(b.data(), b.size(), "t"), ModelError) << h;
  }
  EXPECT_THROW(read_safetensors("/nonexistent/model.safetensors"), ModelError);
}

}  // namespace
}  // namespace amanuensis
