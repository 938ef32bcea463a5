// What one AMX step of the attention kernel costs, and whether the tile unit
// works while the vector units do (docs/PERFORMANCE.md, "AMX against AVX-512
// VNNI"), one thread, nanoseconds:
//   tdpbsud         one 16 x 16 x 64 tile multiply (the attention's signed x
//                   unsigned form), four independent in a row
//   tilestored      one 1 KB tile store, four in a row
//   tileloadd       one 1 KB tile load from L1, four in a row
//   scores, 1 plane the kernel's AMX scores of a 64 x 64 tile step (per 16
//                   keys: 4 x (load Q, zero, tdpbsud, store))
//   vector          ~200 vector operations, half of them port 0's (vpmulld,
//                   shifts), the kind of the kernel's integer softmax passes
//   both            the scores then the vector work, in one loop body: if the
//                   two overlapped, this would be the larger of the two
// Not part of the build; a measurement, on a CPU with AMX:
//   g++ -O2 -std=c++17 -Isrc -mavx512f -mavx512bw tools/amx_overlap_harness.cc -o /tmp/amx_o &&
//   /tmp/amx_o
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "kernels/amx_tiles.h"

namespace {
using namespace amanuensis;

alignas(64) int8_t operands[4][16][64];
alignas(64) int32_t scores[64][64];
__m512i sums[8];

template <class F>
double ns_per_call(F f) {
  constexpr int kCalls = 200000;
  for (int i = 0; i < 1000; ++i) f();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) f();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
         kCalls;
}

// Tiles: 0 keys, 1 queries, 4..7 sums.
void amx_scores() {
  for (int kb = 0; kb < 64; kb += 16)
    for (int v = 0; v < 4; ++v) {
      amx::load<1>(operands[1], 64);
      amx::zero<4>();
      amx::dpbsud<4, 0, 1>();
      amx::store<4>(&scores[kb][16 * v], sizeof scores[0]);
    }
}

[[gnu::noinline]] void vector_work() {
  __m512i a[8];
  for (int i = 0; i < 8; ++i) a[i] = sums[i];
  const __m512i m = _mm512_set1_epi32(3);
  for (int i = 0; i < 25; ++i) {
    for (int j = 0; j < 8; j += 2) {
      a[j] = _mm512_srai_epi32(_mm512_mullo_epi32(a[j], m), 1);
      a[j + 1] = _mm512_add_epi32(_mm512_max_epi32(a[j + 1], m), m);
    }
    asm volatile(""
                 : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]),
                   "+v"(a[6]), "+v"(a[7]));
  }
  for (int i = 0; i < 8; ++i) sums[i] = a[i];
}

}  // namespace

int main() {
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0) {
    std::fprintf(stderr, "no AMX tile state from the kernel\n");
    return 1;
  }
  amx::TileConfig c;
  for (int t = 0; t < 8; ++t) c.set(t, 16, 64);
  amx::load_config(c);
  std::memset(operands, 1, sizeof operands);
  amx::load<0>(operands[0], 64);
  amx::load<1>(operands[1], 64);
  for (int round = 0; round < 2; ++round) {
    const double dp = ns_per_call([] {
                        amx::dpbsud<4, 0, 1>();
                        amx::dpbsud<5, 0, 1>();
                        amx::dpbsud<6, 0, 1>();
                        amx::dpbsud<7, 0, 1>();
                      }) /
                      4;
    const double store = ns_per_call([] {
                           amx::store<4>(scores[0], 64);
                           amx::store<5>(scores[16], 64);
                           amx::store<6>(scores[32], 64);
                           amx::store<7>(scores[48], 64);
                         }) /
                         4;
    const double load = ns_per_call([] {
                          amx::load<4>(operands[0], 64);
                          amx::load<5>(operands[1], 64);
                          amx::load<6>(operands[2], 64);
                          amx::load<7>(operands[3], 64);
                        }) /
                        4;
    amx::load<0>(operands[0], 64);
    const double s = ns_per_call(amx_scores), v = ns_per_call(vector_work);
    const double both = ns_per_call([] {
      amx_scores();
      vector_work();
    });
    std::printf(
        "tdpbsud %.1f, tilestored %.1f, tileloadd %.1f; scores, 1 plane %.0f, vector %.0f, "
        "both %.0f ns\n",
        dp, store, load, s, v, both);
  }
  amx::release();
}
