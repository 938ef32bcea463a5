// Layout (little-endian): u32 version, str spec name, u32 spec revision,
// u32 count, then per variable: str name, u8 rank, u32 dims[rank], u8 dtype,
// u32 byte count, data; then u32 alias count and (str alias, str target)
// pairs. str = u16 length including a trailing NUL, then the bytes.
#include "formats/ct2_format.h"

#include <cstring>
#include <vector>

#include "formats/byte_reader.h"

namespace amanuensis {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 34;

// str = u16 length including a trailing NUL, then the bytes.
std::string read_str(ByteReader& r) {
  const uint16_t len = r.get<uint16_t>();
  if (len == 0) r.fail("empty string field");
  const char* s = reinterpret_cast<const char*>(r.take(len));
  if (s[len - 1] != '\0') r.fail("string field is not NUL-terminated");
  return std::string(s, len - 1);
}

}  // namespace

TensorFile parse_ct2_model(const uint8_t* bytes, size_t size, const std::string& what) {
  ByteReader r(bytes, size, what, "CTranslate2 model");
  const uint32_t version = r.get<uint32_t>();
  if (version < 4 || version > 6)
    r.fail("unsupported CTranslate2 binary version " + std::to_string(version) +
           " (this reader knows 4 to 6); is this a CTranslate2 model.bin?");
  const std::string spec = read_str(r);
  if (spec != "WhisperSpec") r.fail("not a Whisper model (spec '" + spec + "')");
  r.get<uint32_t>();  // spec revision
  const uint32_t count = r.get<uint32_t>();
  TensorFile file;
  for (uint32_t v = 0; v < count; ++v) {
    const std::string name = read_str(r);
    const uint8_t rank = r.get<uint8_t>();
    if (rank > 8) r.fail("tensor '" + name + "' has rank " + std::to_string(rank));
    Tensor t;
    int64_t elements = 1;
    for (int d = 0; d < rank; ++d) {
      t.shape.push_back(r.get<uint32_t>());
      if (t.shape.back() != 0 && elements > kMaxElements / t.shape.back())
        r.fail("tensor '" + name + "' is absurdly large");
      elements *= t.shape.back();
    }
    const uint8_t dtype = r.get<uint8_t>();
    static constexpr int kItemSize[] = {4, 1, 2, 4, 2, 2};  // f32 i8 i16 i32 f16 bf16
    if (dtype > 5) r.fail("tensor '" + name + "' has unknown dtype " + std::to_string(dtype));
    const uint32_t num_bytes = r.get<uint32_t>();
    if (uint64_t(elements) * kItemSize[dtype] != num_bytes)
      r.fail("tensor '" + name + "' byte count does not match its shape");
    const uint8_t* data = r.take(num_bytes);
    if (dtype == 1 || dtype == 2 || dtype == 3) {  // integers: only config scalars
      if (elements != 1) r.fail("integer tensor '" + name + "' is not a scalar (quantized model?)");
      int64_t value = dtype == 1 ? int64_t(int8_t(data[0]))
                      : dtype == 2
                          ? int64_t(int16_t(data[0] | (data[1] << 8)))
                          : int64_t(int32_t(uint32_t(data[0]) | (uint32_t(data[1]) << 8) |
                                            (uint32_t(data[2]) << 16) | (uint32_t(data[3]) << 24)));
      file.scalars[name] = value;
      continue;
    }
    t.raw = data;
    t.elements = elements;
    t.encoding = dtype == 0   ? FloatEncoding::kF32
                 : dtype == 4 ? FloatEncoding::kF16
                              : FloatEncoding::kBF16;
    file.tensors[name] = std::move(t);
  }
  const uint32_t aliases = r.get<uint32_t>();
  for (uint32_t a = 0; a < aliases; ++a) {
    const std::string alias = read_str(r), target = read_str(r);
    auto it = file.tensors.find(target);
    if (it == file.tensors.end())
      r.fail("alias '" + alias + "' names a missing tensor '" + target + "'");
    file.tensors[alias] = it->second;
  }
  if (!r.done()) r.fail("trailing bytes after the CTranslate2 model");
  return file;
}

TensorFile read_ct2_model(const std::string& path) {
  std::shared_ptr<const MappedFile> bytes = map_model_file(path);
  TensorFile file = parse_ct2_model(bytes->data(), bytes->size(), path);
  file.storage = std::move(bytes);
  return file;
}

}  // namespace amanuensis
