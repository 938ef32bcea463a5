// Layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F16", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {..}}, then the data; offsets are relative to its start.
#include "formats/safetensors_format.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

namespace amanuensis {
namespace {

constexpr uint64_t kMaxHeader = 100 << 20;  // real headers are kilobytes
constexpr int64_t kMaxElements = int64_t{1} << 34;

// A JSON array of non-negative integers. nlohmann's get<> would convert floats
// and negative numbers, the first with undefined behaviour when out of range.
template <typename Fail>
std::vector<uint64_t> naturals(const nlohmann::json& v, const std::string& name, Fail&& fail) {
  if (!v.is_array()) throw fail("tensor '" + name + "': shape or offsets are not an array");
  std::vector<uint64_t> out;
  for (const nlohmann::json& x : v) {
    if (!x.is_number_unsigned())
      throw fail("tensor '" + name + "': shape or offsets hold " + x.dump() +
                 ", not a non-negative integer");
    out.push_back(x.get<uint64_t>());
  }
  return out;
}

}  // namespace

TensorFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& what) {
  auto fail = [&](const std::string& why) -> ModelError { return ModelError(what + ": " + why); };
  if (size < 8) throw fail("not a safetensors file (too short)");
  uint64_t header_len;
  std::memcpy(&header_len, bytes, 8);
  if (header_len > kMaxHeader || header_len > size - 8)
    throw fail("not a safetensors file, or truncated (header length " + std::to_string(header_len) +
               ")");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("safetensors header is not JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("safetensors header is not a JSON object");
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  TensorFile file;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      const std::string dtype = info.at("dtype").get<std::string>();
      const std::vector<uint64_t> offsets = naturals(info.at("data_offsets"), name, fail);
      Tensor t;
      int64_t elements = 1;
      for (uint64_t d : naturals(info.at("shape"), name, fail)) {
        if (d > uint64_t(kMaxElements) || (d != 0 && elements > kMaxElements / int64_t(d)))
          throw fail("tensor '" + name + "' has an absurd shape");
        t.shape.push_back(int64_t(d));
        elements *= int64_t(d);
      }
      const int item = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0;
      if (item == 0)
        throw fail("tensor '" + name + "' has dtype " + dtype + " (need F32, F16, BF16)");
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        throw fail("tensor '" + name + "' lies outside the file (truncated?)");
      if (offsets[1] - offsets[0] != uint64_t(elements) * item)
        throw fail("tensor '" + name + "' byte count does not match its shape");
      t.raw = data + offsets[0];
      t.elements = elements;
      t.encoding = dtype == "F32"   ? FloatEncoding::kF32
                   : dtype == "F16" ? FloatEncoding::kF16
                                    : FloatEncoding::kBF16;
      file.tensors[name] = std::move(t);
    } catch (const nlohmann::json::exception& e) {
      throw fail("safetensors entry '" + name + "' is malformed: " + e.what());
    }
  }
  return file;
}

TensorFile read_safetensors(const std::string& path) {
  std::shared_ptr<const MappedFile> bytes = map_model_file(path);
  TensorFile file = parse_safetensors(bytes->data(), bytes->size(), path);
  file.storage = std::move(bytes);
  return file;
}

}  // namespace amanuensis
