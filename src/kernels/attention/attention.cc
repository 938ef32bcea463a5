#include "kernels/attention/attention.h"

#include <algorithm>
#include <stdexcept>

#include "kernels/attention/backends.h"

namespace amanuensis::attn {

bool is_valid_tile(int tile) {
  return std::find(kTileSizes.begin(), kTileSizes.end(), tile) != kTileSizes.end();
}

void run_attention(const QuantizedAttention& p, Backend backend, int tile, ThreadPool& pool,
                   HeadsOut out) {
  if (!is_valid_tile(tile)) throw std::invalid_argument("tile must be 16, 32 or 64");
  const int q_tiles = (p.q_len + tile - 1) / tile;
  auto each_tile = [&](const auto& compute) {
    pool.parallel_for(p.heads * q_tiles, [&](int item) {
      const int h = item / q_tiles, q0 = (item % q_tiles) * tile;
      TileResult r;
      compute(h, q0, r);
      finalize_f32(p, h, std::min(tile, p.q_len - q0), r, out.row(h, q0), out.row_stride);
    });
  };
  switch (resolve_backend(backend)) {
    case Backend::kAmx: {
      const TileFn fn = amx_tile_fn(tile);
      return each_tile([&](int h, int q0, TileResult& r) { fn(p, h, q0, r); });
    }
    case Backend::kAvx512: {
      const TileFn fn = avx512_tile_fn(tile);
      return each_tile([&](int h, int q0, TileResult& r) { fn(p, h, q0, r); });
    }
    case Backend::kAvx2: {
      const Avx2Pairs pairs = avx2_pairs(p, pool);
      const Avx2TileFn fn = avx2_tile_fn(tile);
      return each_tile([&](int h, int q0, TileResult& r) { fn(p, pairs, h, q0, r); });
    }
    default: {
      const TileFn fn = reference_tile_fn(tile);
      return each_tile([&](int h, int q0, TileResult& r) { fn(p, h, q0, r); });
    }
  }
}

}  // namespace amanuensis::attn
