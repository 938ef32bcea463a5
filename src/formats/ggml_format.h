// whisper.cpp's ggml model files (ggml-*.bin, the legacy format whisper.cpp
// loads), float32 or float16 tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/tensor_file.h"

namespace amanuensis {

inline constexpr uint32_t kGgmlMagic = 0x67676d6c;  // "ggml", little-endian

// Tensor shapes come out in PyTorch order (ggml stores the innermost first);
// the hyperparameters become scalars (n_vocab, n_audio_ctx, n_audio_state,
// n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head,
// n_text_layer, n_mels, ftype). Quantized tensor types are refused. Throws
// ModelError for anything but a complete, well-formed file.
// Tensors point into `bytes` (decoded on use): keep them alive as long as the result.
TensorFile parse_ggml(const uint8_t* bytes, size_t size, const std::string& what);
TensorFile read_ggml(const std::string& path);

}  // namespace amanuensis
