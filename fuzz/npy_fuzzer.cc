// libFuzzer target for the .npy parser: any bytes must give an array or an NpyError.
#include <cstddef>
#include <cstdint>

#include "formats/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    amanuensis::parse_npy_f32(data, size, "fuzz");
  } catch (const amanuensis::NpyError&) {
  }
  return 0;
}
