#include "devtool/peak/int8_peak.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "util/cpu_features.h"

namespace amanuensis {

Int8Peak measure_int8_peak(int threads) {
  const CpuFeatures& cpu = cpu_features();
  Int8Peak peak;
  if (!cpu.avx2 && !cpu.avx512_vnni) {
    peak.instruction = "none (scalar CPU)";
    return peak;
  }
  peak.instruction = cpu.avx512_vnni ? "vpdpbusd zmm" : "vpmaddwd ymm";
  auto loop = cpu.avx512_vnni ? int8_peak_loop_avx512 : int8_peak_loop_avx2;
  constexpr long kIterations = 20'000'000;  // ~60 ms a round: long enough to be steady
  // Best of several rounds: the peak is what the core can do, not what a noisy
  // neighbour left over.
  for (int round = 0; round < 5; ++round) {
    std::vector<double> ops(threads);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { ops[t] = loop(kIterations); });
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
