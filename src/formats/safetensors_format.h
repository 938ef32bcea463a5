// Hugging Face safetensors files (how openai/whisper-* are published).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/tensor_file.h"

namespace amanuensis {

// Float tensors (F32, F16, BF16) become float32; other dtypes are refused.
// Throws ModelError for anything but a complete, well-formed file.
// Tensors point into `bytes` (decoded on use): keep them alive as long as the result.
TensorFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& what);
TensorFile read_safetensors(const std::string& path);

}  // namespace amanuensis
