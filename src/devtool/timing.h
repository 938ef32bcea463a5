// Medians of repeated timings, for the bench subcommands.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace amanuensis::devtool {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

// Runs f warmup times untimed, then runs times; the median wall time in ms.
template <typename F>
double median_ms(int warmup, int runs, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(elapsed_ms(t0));
  }
  return median(ms);
}

}  // namespace amanuensis::devtool
