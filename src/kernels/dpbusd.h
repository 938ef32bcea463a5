// vpdpbusd that updates its accumulator in place.
//
// GCC 12 compiles _mm512_dpbusd_epi32(acc, a, b) as a copy of acc into a
// fresh register, the dot product there, and a copy back: two extra moves per
// multiply-add, which cost the GEMM's inner loop a third of its speed. The asm
// names the accumulator as read-write ("+v"), so it stays where it is. Same
// instruction, same result: dst.i32 += sum of 4 (u8 a) * (s8 b) products.
#pragma once

#include <immintrin.h>

namespace amanuensis {

inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "vm"(s8));
  return acc;
}

}  // namespace amanuensis
