// The whisper.cpp ggml reader on files written here, and on every truncation.
#include "formats/ggml_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace amanuensis {
namespace {

struct Writer {
  std::vector<uint8_t> b;
  void i32(int32_t v) { bytes(&v, 4); }
  void bytes(const void* p, size_t n) {
    b.insert(b.end(), (const uint8_t*)p, (const uint8_t*)p + n);
  }
  void tensor(const std::string& name, std::vector<int32_t> dims_innermost_first, int32_t type,
              const void* data, size_t n) {
    i32(int32_t(dims_innermost_first.size()));
    i32(int32_t(name.size()));
    i32(type);
    for (int32_t d : dims_innermost_first) i32(d);
    bytes(name.data(), name.size());
    bytes(data, n);
  }
};

// `tensor_starts`, if given, receives the offset of each tensor record.
std::vector<uint8_t> small_model(int32_t second_type = 1,
                                 std::vector<size_t>* tensor_starts = nullptr) {
  Writer w;
  w.i32(int32_t(kGgmlMagic));
  for (int32_t h : {100, 1500, 64, 1, 2, 32, 64, 1, 1, 80, 1}) w.i32(h);
  w.i32(2);  // mel filters: 2 x 3
  w.i32(3);
  const float filters[6] = {};
  w.bytes(filters, sizeof filters);
  w.i32(2);  // vocabulary
  w.i32(1);
  w.bytes("a", 1);
  w.i32(2);
  w.bytes("bc", 2);
  const float f[6] = {1, 2, 3, 4, 5, 6};
  if (tensor_starts) tensor_starts->push_back(w.b.size());
  w.tensor("encoder.conv1.weight", {3, 2, 1}, 0, f, sizeof f);  // PyTorch [1, 2, 3]
  const uint16_t h[2] = {0x3c00, 0xc000};
  if (tensor_starts) tensor_starts->push_back(w.b.size());
  w.tensor("encoder.conv1.bias", {1, 2}, second_type, h, sizeof h);  // [2, 1] -> [2]
  return w.b;
}

TEST(Ggml, ReadsHyperparametersAndTensors) {
  const auto bytes = small_model();
  const TensorFile f = parse_ggml(bytes.data(), bytes.size(), "g");
  EXPECT_EQ(f.scalars.at("n_audio_head"), 1);
  EXPECT_EQ(f.scalars.at("n_mels"), 80);
  EXPECT_EQ(f.get("encoder.conv1.weight", {1, 2, 3}, "g").data,
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(f.get("encoder.conv1.bias", {2}, "g").data, (std::vector<float>{1, -2}));
}

TEST(Ggml, EveryTruncationAndCorruptionIsAnError) {
  std::vector<size_t> starts;
  const auto bytes = small_model(1, &starts);
  // The format has no tensor count: a file cut exactly where a tensor record
  // starts reads as a model with fewer tensors (the loader then reports the
  // missing ones). Every other cut must be an error.
  for (size_t n = 0; n < bytes.size(); ++n) {
    if (std::find(starts.begin(), starts.end(), n) != starts.end()) {
      EXPECT_NO_THROW(parse_ggml(bytes.data(), n, "g")) << n;
      continue;
    }
    EXPECT_THROW(parse_ggml(bytes.data(), n, "g"), ModelError) << n;
  }
  const auto quantized = small_model(8);  // q8_0
  EXPECT_THROW(parse_ggml(quantized.data(), quantized.size(), "g"), ModelError);
  std::vector<uint8_t> bad_magic = bytes;
  bad_magic[0] ^= 1;
  EXPECT_THROW(parse_ggml(bad_magic.data(), bad_magic.size(), "g"), ModelError);
  EXPECT_THROW(read_ggml("/nonexistent/ggml.bin"), ModelError);
}

}  // namespace
}  // namespace amanuensis
