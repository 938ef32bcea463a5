// The machine's int8 multiply-add peak, measured in-process by a loop of
// independent dot-product instructions (vpdpbusd, or vpmaddwd on AVX2).
#pragma once

#include <string>

namespace amanuensis {

struct Int8Peak {
  double gops = 0;          // int8 ops per second / 1e9, all threads (1 MAC = 2 ops)
  std::string instruction;  // what was measured
};

Int8Peak measure_int8_peak(int threads);

// Per-ISA loops: return int8 ops done by `iterations` of the loop.
double int8_peak_loop_avx512(long iterations);
double int8_peak_loop_avx2(long iterations);

}  // namespace amanuensis
