#include "devtool/peak/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "kernels/per_isa.h"

namespace amanuensis {
namespace {

// Sum of 64-bit words in 8 independent lanes: a vectorized streaming read.
[[gnu::always_inline]] inline uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t lanes[8] = {};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += p[i + l];
  uint64_t s = 0;
  for (uint64_t l : lanes) s += l;
  return s;
}

}  // namespace

double measure_read_bandwidth(int threads) {
  constexpr size_t kBytes = size_t(512) << 20;  // beyond any L3 here
  std::vector<uint64_t> buffer(kBytes / 8, 1);
  double best = 0;
  volatile uint64_t sink = 0;
  for (int round = 0; round < 4; ++round) {
    std::vector<uint64_t> sums(threads);
    const size_t per = buffer.size() / threads;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back(
          [&, t] { sums[t] = per_isa<sum_words>(Backend::kAuto, buffer.data() + t * per, per); });
    for (auto& w : workers) w.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (uint64_t x : sums) sink = sink + x;
    best = std::max(best, double(per * threads * 8) / s / 1e9);
  }
  return best;
}

}  // namespace amanuensis
