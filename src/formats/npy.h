// NumPy .npy files (format versions 1, 2 and 3), little-endian float32 only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace amanuensis {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NpyF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order
};

// Throws NpyError naming `what` for anything but a complete, well-formed
// C-order '<f4' array.
NpyF32 parse_npy_f32(const uint8_t* bytes, size_t size, const std::string& what);
NpyF32 read_npy_f32(const std::string& path);
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace amanuensis
