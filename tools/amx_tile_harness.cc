// What bounds the AMX GEMM (docs/gemm.md, docs/PERFORMANCE.md "AMX against
// AVX-512 VNNI"), one thread, in int8 ops per second (1 multiply-add = 2 ops):
//   registers       4 tdpbusd a step on tiles that stay loaded (the peak loop)
//   L1, zero bytes  the kernel's 2 x 2 step (load 2 weight and 2 activation
//   L1, random      tiles, 4 tdpbusd) on 4 KB that stay in L1
//   L2 stream       that step over 32 rows x 2048 k of activations (stride
//                   2048) and 32 columns of packed weights (stride 256), the
//                   engine's layouts: 128 KB a pass, from L2
// then the float32 write bandwidth of 1 and 2 threads (9.2 MB each: the base
// QKV projection's output).
// Not part of the build; a measurement, on a CPU with AMX:
//   g++ -O2 -std=c++17 -Isrc -mavx512f tools/amx_tile_harness.cc -lpthread -o /tmp/amx_h &&
//   /tmp/amx_h
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "kernels/amx_tiles.h"

namespace {
using namespace amanuensis;
enum : int { kC00, kC01, kC10, kC11, kA0, kA1, kB0, kB1 };
constexpr int kK = 2048;
alignas(64) uint8_t activations[32 * kK];
alignas(64) int8_t weights[64 * kK];
alignas(64) uint8_t small[4096];
alignas(64) int32_t sums[32][32];

template <typename F>
double best_seconds(F f, int rounds = 5) {
  double best = 1e9;
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// One 2 x 2 step: weight tiles at w (stride ws), activation tiles at a (stride as).
inline void step(const void* a, size_t as, const void* w, size_t ws) {
  amx::load<kB0>(w, ws);
  amx::load<kB1>(static_cast<const char*>(w) + 64, ws);
  amx::load<kA0>(a, as);
  amx::dpbusd<kC00, kA0, kB0>();
  amx::dpbusd<kC01, kA0, kB1>();
  amx::load<kA1>(static_cast<const char*>(a) + 16 * as, as);
  amx::dpbusd<kC10, kA1, kB0>();
  amx::dpbusd<kC11, kA1, kB1>();
}
constexpr double kStepOps = 4.0 * 16 * 16 * 64 * 2;

void report(const char* name, double ops, double seconds) {
  std::printf("%-16s %6.0f GOPS\n", name, ops / seconds / 1e9);
}
}  // namespace

int main() {
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0) {
    std::fprintf(stderr, "no AMX tile state from the kernel\n");
    return 1;
  }
  amx::TileConfig config;
  for (int t = 0; t < 8; ++t) config.set(t, 16, 64);
  amx::load_config(config);
  constexpr long kSteps = 1'000'000;

  amx::load<kA0>(small, 64);
  amx::load<kA1>(small + 1024, 64);
  amx::load<kB0>(small + 2048, 64);
  amx::load<kB1>(small + 3072, 64);
  report("registers", kSteps * kStepOps, best_seconds([] {
           for (long i = 0; i < kSteps; ++i) {
             amx::dpbusd<kC00, kA0, kB0>();
             amx::dpbusd<kC01, kA0, kB1>();
             amx::dpbusd<kC10, kA1, kB0>();
             amx::dpbusd<kC11, kA1, kB1>();
           }
           amx::store<kC00>(sums, 128);
         }));
  auto l1 = [] {
    for (long i = 0; i < kSteps; ++i) step(small, 64, small + 2048, 64 * 16);
    amx::store<kC00>(sums, 128);
  };
  report("L1, zero bytes", kSteps * kStepOps, best_seconds(l1));
  unsigned r = 1;
  auto next = [&r] { return r = r * 1103515245 + 12345, uint8_t(r >> 24); };
  for (uint8_t& v : small) v = next();
  for (uint8_t& v : activations) v = next();
  for (int8_t& v : weights) v = int8_t(next());
  report("L1, random", kSteps * kStepOps, best_seconds(l1));
  constexpr int kPasses = 30000;
  report("L2 stream", double(kPasses) * (kK / 64) * kStepOps, best_seconds([] {
           for (int p = 0; p < kPasses; ++p) {
             for (int s = 0; s < kK / 64; ++s)
               step(activations + 64 * s, kK, weights + size_t(s) * 16 * 256, 256);
             amx::store<kC00>(sums, 128);
           }
         }));
  amx::release();

  const size_t floats = 9'216'000 / 4;
  for (int threads : {1, 2}) {
    std::vector<float*> out;
    for (int t = 0; t < threads; ++t) {
      out.push_back(static_cast<float*>(std::aligned_alloc(64, floats * 4)));
      std::fill_n(out.back(), floats, 0.0f);
    }
    const double s = best_seconds(
        [&] {
          std::vector<std::thread> workers;
          for (int t = 0; t < threads; ++t)
            workers.emplace_back([&, t] {
              const __m512 v = _mm512_set1_ps(1.0f);
              for (size_t i = 0; i < floats; i += 16) _mm512_store_ps(out[t] + i, v);
            });
          for (auto& w : workers) w.join();
        },
        20);
    std::printf("write, %d thread%s %5.1f GB/s\n", threads, threads > 1 ? "s" : " ",
                threads * floats * 4 / s / 1e9);
    for (float* p : out) std::free(p);
  }
}
