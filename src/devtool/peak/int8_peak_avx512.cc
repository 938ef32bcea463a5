#include <immintrin.h>

#include "devtool/peak/int8_peak.h"

namespace amanuensis {

// 12 independent accumulator chains hide vpdpbusd latency on current cores.
double int8_peak_loop_avx512(long iterations) {
  constexpr int kChains = 12;
  __m512i acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_epi32(c);
  __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (long i = 0; i < iterations; ++i) {
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbusd_epi32(acc[c], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));  // keep the loop from being folded
  }
  __m512i sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_epi32(sum, acc[c]);
  alignas(64) int lanes[16];
  _mm512_store_si512(lanes, sum);
  volatile int sink = lanes[0];
  (void)sink;
  return double(iterations) * kChains * 64 * 2;
}

}  // namespace amanuensis
