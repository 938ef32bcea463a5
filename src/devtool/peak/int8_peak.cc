#include "devtool/peak/int8_peak.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace amanuensis {

Int8Peak measure_int8_peak(int threads, Backend backend) {
  Int8Peak peak;
  double (*loop)(long) = nullptr;
  long iterations = 20'000'000;  // ~60 ms a round for vpdpbusd: long enough to be steady
  switch (resolve_backend(backend)) {
    case Backend::kAmx:
      peak.instruction = "tdpbusd tiles";
      loop = int8_peak_loop_amx;
      iterations /= 16;  // an iteration (4 tdpbusd, ~64 cycles) is ~16x a vpdpbusd one
      break;
    case Backend::kAvx512:
      peak.instruction = "vpdpbusd zmm";
      loop = int8_peak_loop_avx512;
      break;
    case Backend::kAvx2:
      peak.instruction = "vpmaddwd ymm";
      loop = int8_peak_loop_avx2;
      break;
    default:
      peak.instruction = "none (scalar reference)";
      return peak;
  }
  // Best of several rounds: the peak is what the core can do, not what a noisy
  // neighbour left over.
  for (int round = 0; round < 5; ++round) {
    std::vector<double> ops(threads);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { ops[t] = loop(iterations); });
    for (auto& w : workers) w.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (double o : ops) total += o;
    peak.gops = std::max(peak.gops, total / seconds / 1e9);
  }
  return peak;
}

}  // namespace amanuensis
