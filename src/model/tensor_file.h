// Named float tensors read from a model file, whatever its on-disk dtype.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace amanuensis {

struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, converted to float32
};

struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, int64_t> scalars;  // integer rank-0 entries (config flags)
  std::vector<std::string> vocabulary;     // token bytes, where the file embeds them (ggml)

  // Throw ModelError naming `what` if missing or of another shape.
  const Tensor& get(const std::string& name, const std::vector<int64_t>& shape,
                    const std::string& what) const;
  // get()'s checks, then moves the data out (the entry keeps its shape).
  std::vector<float> take(const std::string& name, const std::vector<int64_t>& shape,
                          const std::string& what);
  bool has(const std::string& name) const { return tensors.count(name) > 0; }
};

float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);

enum class FloatEncoding { kF32, kF16, kBF16 };
// n little-endian values at src (no alignment needed) into float32.
std::vector<float> decode_floats(const uint8_t* src, int64_t n, FloatEncoding e);

// The whole file; throws ModelError "PATH: cannot open ..." on failure.
std::vector<uint8_t> read_model_file(const std::string& path);

}  // namespace amanuensis
