// CTranslate2's model.bin (binary versions 4 to 6), as faster-whisper ships it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/tensor_file.h"

namespace amanuensis {

// Throws ModelError for anything but a complete, well-formed file.
// Tensors point into `bytes` (decoded on use): keep them alive as long as the result.
TensorFile parse_ct2_model(const uint8_t* bytes, size_t size, const std::string& what);
TensorFile read_ct2_model(const std::string& path);

}  // namespace amanuensis
