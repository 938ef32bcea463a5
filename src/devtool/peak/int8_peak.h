// The machine's int8 multiply-add peak, measured in-process by a loop of
// independent dot-product instructions: the one a backend's int8 products use.
#pragma once

#include <string>

#include "kernels/backend.h"

namespace amanuensis {

struct Int8Peak {
  double gops = 0;          // int8 ops per second / 1e9, all threads (1 MAC = 2 ops)
  std::string instruction;  // what was measured
};

// The peak of backend's instruction (tdpbusd tiles for AMX, vpdpbusd zmm for
// AVX-512 VNNI, vpmaddwd ymm for AVX2); kAuto: this CPU's best.
Int8Peak measure_int8_peak(int threads, Backend backend = Backend::kAuto);

// Per-ISA loops: return int8 ops done by `iterations` of the loop.
double int8_peak_loop_amx(long iterations);
double int8_peak_loop_avx512(long iterations);
double int8_peak_loop_avx2(long iterations);

}  // namespace amanuensis
