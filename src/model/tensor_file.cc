#include "model/tensor_file.h"

#include <cstring>

#include "io/file.h"
#include "util/shape_text.h"

namespace amanuensis {

const Tensor& TensorFile::get(const std::string& name, const std::vector<int64_t>& shape,
                              const std::string& what) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw ModelError(what + ": missing tensor '" + name + "'");
  if (it->second.shape != shape)
    throw ModelError(what + ": tensor '" + name + "' has shape " + shape_text(it->second.shape) +
                     ", expected " + shape_text(shape));
  return it->second;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);  // inf or NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalize
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<float> decode_floats(const uint8_t* src, int64_t n, FloatEncoding e) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (e == FloatEncoding::kF32) {
      std::memcpy(&out[i], src + 4 * i, 4);
      continue;
    }
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    out[i] = e == FloatEncoding::kF16 ? half_to_float(h) : bfloat16_to_float(h);
  }
  return out;
}

std::vector<uint8_t> read_model_file(const std::string& path) {
  try {
    return read_file_bytes(path);
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
