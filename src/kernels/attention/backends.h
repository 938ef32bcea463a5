// One function per backend and tile size: compute one query tile (all key
// tiles) of one head. Each must produce exactly the reference's integers.
#pragma once

#include "kernels/attention/problem.h"

namespace amanuensis::attn {

using TileFn = void (*)(const QuantizedAttention& p, int head, int q0, TileResult& out);

TileFn reference_tile_fn(int tile);
TileFn avx2_tile_fn(int tile);    // requires AVX2 at run time
TileFn avx512_tile_fn(int tile);  // requires AVX-512 F/BW/VNNI at run time

}  // namespace amanuensis::attn
