// One function per backend and tile size: compute one query tile (all key
// tiles) of one head. Each must produce exactly the reference's integers.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention/problem.h"
#include "util/thread_pool.h"

namespace amanuensis::attn {

using TileFn = void (*)(const QuantizedAttention& p, int head, int q0, TileResult& out);

TileFn reference_tile_fn(int tile);
TileFn avx512_tile_fn(int tile);  // requires AVX-512 F/BW/VNNI at run time
TileFn amx_tile_fn(int tile);     // requires AMX-INT8 and AVX-512 at run time

// AVX2 (required at run time) multiplies int16 pairs, so its tiles read K and
// V repacked once per problem rather than once per query tile: the repacking
// was a fifth of the kernel's time on Zen 3.
struct Avx2Pairs {
  std::vector<uint32_t> k;       // [heads][kv_pad][32]: two dims of a key
  std::vector<uint32_t> k_both;  // the same of 254 k + k_lo with two planes, else empty
  std::vector<uint32_t> v;       // [heads][64][kv_pad / 2]: two keys of a channel
};
Avx2Pairs avx2_pairs(const QuantizedAttention& p, ThreadPool& pool);
using Avx2TileFn = void (*)(const QuantizedAttention& p, const Avx2Pairs& pairs, int head, int q0,
                            TileResult& out);
Avx2TileFn avx2_tile_fn(int tile);

}  // namespace amanuensis::attn
