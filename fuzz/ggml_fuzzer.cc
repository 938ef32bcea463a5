// libFuzzer target for the whisper.cpp ggml reader: any bytes must give tensors
// or a ModelError.
#include <cstddef>
#include <cstdint>

#include "formats/ggml_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    amanuensis::parse_ggml(data, size, "fuzz");
  } catch (const amanuensis::ModelError&) {
  }
  return 0;
}
