// Named float tensors read from a model file, whatever its on-disk dtype.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/file.h"
#include "kernels/backend.h"
#include "kernels/half/half.h"  // half_to_float, for F16 tensors

namespace amanuensis {

struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class FloatEncoding { kF32, kF16, kBF16 };

struct Tensor {
  std::vector<int64_t> shape;
  // The values where the file holds them (little-endian, row-major): read
  // lazily, so that a model never needs all its weights in float32 at once.
  const uint8_t* raw = nullptr;
  int64_t elements = 0;
  FloatEncoding encoding = FloatEncoding::kF32;
  mutable std::vector<float> data;  // float32, filled by TensorFile::get on first use
};

struct TensorFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, int64_t> scalars;  // integer rank-0 entries (config flags)
  std::vector<std::string> vocabulary;     // token bytes, where the file embeds them (ggml)
  // The bytes behind Tensor::raw when read from a path (null when parsed from
  // memory the caller keeps alive).
  std::shared_ptr<const MappedFile> storage;

  // Throw ModelError naming `what` if missing or of another shape.
  const Tensor& get(const std::string& name, const std::vector<int64_t>& shape,
                    const std::string& what) const;
  // get()'s checks, then the values as float32, and the file's copy of them
  // leaves memory (the entry keeps its shape).
  std::vector<float> take(const std::string& name, const std::vector<int64_t>& shape,
                          const std::string& what);
  // get()'s checks, then a reader of the tensor's rows (the first dimension)
  // as float32, decoded when read (from several threads at once if need be,
  // each row once); the file's copy leaves memory once every row was read.
  // The reader keeps the file mapped.
  std::function<void(int r0, int r1, float* out)> rows(const std::string& name,
                                                       const std::vector<int64_t>& shape,
                                                       const std::string& what);
  bool has(const std::string& name) const { return tensors.count(name) > 0; }
};

float bfloat16_to_float(uint16_t b);

// n little-endian values at src (no alignment needed) into float32. A load
// step: kAuto runs this CPU's best instruction set (every one gives the same bytes).
std::vector<float> decode_floats(const uint8_t* src, int64_t n, FloatEncoding e);
void decode_floats(const uint8_t* src, int64_t n, FloatEncoding e, float* out,
                   Backend backend = Backend::kAuto);

// The whole file, mapped; throws ModelError "PATH: cannot open ..." on failure.
std::shared_ptr<const MappedFile> map_model_file(const std::string& path);

}  // namespace amanuensis
