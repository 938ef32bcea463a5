#include "formats/tensor_file.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "io/file.h"
#include "kernels/per_isa.h"
#include "util/shape_text.h"

namespace amanuensis {

namespace {

constexpr size_t kEncodingBytes[] = {4, 2, 2};  // per FloatEncoding

// The named tensor (const or not, as the map), if it has this shape.
template <typename Map>
auto& checked(Map& tensors, const std::string& name, const std::vector<int64_t>& shape,
              const std::string& what) {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw ModelError(what + ": missing tensor '" + name + "'");
  if (it->second.shape != shape)
    throw ModelError(what + ": tensor '" + name + "' has shape " + shape_text(it->second.shape) +
                     ", expected " + shape_text(shape));
  return it->second;
}

}  // namespace

const Tensor& TensorFile::get(const std::string& name, const std::vector<int64_t>& shape,
                              const std::string& what) const {
  const Tensor& t = checked(tensors, name, shape, what);
  if (t.data.empty() && t.raw) t.data = decode_floats(t.raw, t.elements, t.encoding);  // a cache
  return t;
}

std::vector<float> TensorFile::take(const std::string& name, const std::vector<int64_t>& shape,
                                    const std::string& what) {
  Tensor& t = checked(tensors, name, shape, what);
  std::vector<float> data =
      !t.data.empty() || !t.raw ? std::move(t.data) : decode_floats(t.raw, t.elements, t.encoding);
  t.data.clear();
  if (storage && t.raw)
    storage->release(t.raw, size_t(t.elements) * kEncodingBytes[int(t.encoding)]);
  return data;
}

std::function<void(int, int, float*)> TensorFile::rows(const std::string& name,
                                                       const std::vector<int64_t>& shape,
                                                       const std::string& what) {
  Tensor& t = checked(tensors, name, shape, what);
  const int n = shape.empty() ? 1 : int(shape[0]);
  const size_t row = n ? size_t(t.elements) / n : 0;
  if (!t.data.empty() || !t.raw) {
    auto data = std::make_shared<const std::vector<float>>(std::move(t.data));
    t.data.clear();
    return [data, row](int r0, int r1, float* out) {
      std::copy_n(data->data() + r0 * row, (r1 - r0) * row, out);
    };
  }
  struct View {
    const uint8_t* raw;
    FloatEncoding encoding;
    size_t row_values, row_bytes;
    int n;
    std::shared_ptr<const MappedFile> storage;
    std::atomic<int> read{0};
  };
  auto v = std::make_shared<View>();
  v->raw = t.raw;
  v->encoding = t.encoding;
  v->row_values = row;
  v->row_bytes = row * kEncodingBytes[int(t.encoding)];
  v->n = n;
  v->storage = storage;
  return [v](int r0, int r1, float* out) {
    decode_floats(v->raw + r0 * v->row_bytes, int64_t(r1 - r0) * v->row_values, v->encoding, out);
    if ((v->read += r1 - r0) == v->n && v->storage)
      v->storage->release(v->raw, v->n * v->row_bytes);
  };
}

namespace {

// half_to_float without branches, so that it vectorizes: the 15 magnitude
// bits placed in a float's exponent and mantissa are the value times 2^-112
// (subnormal halves included, as float subnormals), and the multiply by 2^112
// is exact. Only inf and NaN (exponent 31) need their exponent set apart.
// The files are little-endian, as the host: a 16-bit load is the half, and
// it vectorizes to one widening move where assembling two bytes did not.
static_assert(std::endian::native == std::endian::little);
[[gnu::always_inline]] inline void halves_to_floats(const uint8_t* src, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t half;
    std::memcpy(&half, src + 2 * i, 2);
    const uint32_t h = half;
    const uint32_t magnitude = (h & 0x7fffu) << 13;
    float f;
    std::memcpy(&f, &magnitude, 4);
    f *= 0x1p112f;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits = (h & 0x7c00u) == 0x7c00u ? 0x7f800000u | magnitude : bits;
    bits |= (h & 0x8000u) << 16;
    std::memcpy(&out[i], &bits, 4);
  }
}

}  // namespace

void decode_floats(const uint8_t* src, int64_t n, FloatEncoding e, float* out, Backend backend) {
  if (e == FloatEncoding::kF32) {
    std::memcpy(out, src, size_t(n) * 4);
  } else if (e == FloatEncoding::kF16) {
    per_isa<halves_to_floats>(backend, src, n, out);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = bfloat16_to_float(h);
    }
  }
}

std::vector<float> decode_floats(const uint8_t* src, int64_t n, FloatEncoding e) {
  std::vector<float> out(static_cast<size_t>(n));
  decode_floats(src, n, e, out.data());
  return out;
}

std::shared_ptr<const MappedFile> map_model_file(const std::string& path) {
  try {
    return std::make_shared<const MappedFile>(path);
  } catch (const std::runtime_error& e) {
    throw ModelError(e.what());
  }
}

float bfloat16_to_float(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace amanuensis
