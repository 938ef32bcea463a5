// libFuzzer target for the CTranslate2 model reader: any bytes must give a
// model or a ModelError.
#include <cstddef>
#include <cstdint>

#include "formats/ct2_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    amanuensis::parse_ct2_model(data, size, "fuzz");
  } catch (const amanuensis::ModelError&) {
  }
  return 0;
}
