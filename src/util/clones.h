// Element-wise float loops compiled for several instruction sets and picked
// when the program loads (GCC's target_clones). Every clone performs the same
// IEEE operations in the same order (no FMA contraction, see CMakeLists.txt),
// so the bytes do not depend on the CPU; only the vector width does.
// x86-64-v4 (AVX-512 F/BW/DQ/VL) gets 512-bit vectors, which GCC's plain
// "avx512f" clone does not use by default.
#pragma once

#define AMANUENSIS_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
