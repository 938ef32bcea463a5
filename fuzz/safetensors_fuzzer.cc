// libFuzzer target for the safetensors reader: any bytes must give tensors or
// a ModelError.
#include <cstddef>
#include <cstdint>

#include "formats/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    amanuensis::parse_safetensors(data, size, "fuzz");
  } catch (const amanuensis::ModelError&) {
  }
  return 0;
}
