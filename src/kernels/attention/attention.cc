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
  TileFn fn = nullptr;
  switch (resolve_backend(backend)) {
    case Backend::kAvx512:
      fn = avx512_tile_fn(tile);
      break;
    case Backend::kAvx2:
      fn = avx2_tile_fn(tile);
      break;
    default:
      fn = reference_tile_fn(tile);
      break;
  }
  const int q_tiles = (p.q_len + tile - 1) / tile;
  pool.parallel_for(p.heads * q_tiles, [&](int item) {
    const int h = item / q_tiles, q0 = (item % q_tiles) * tile;
    TileResult r;
    fn(p, h, q0, r);
    finalize_f32(p, h, std::min(tile, p.q_len - q0), r, out.row(h, q0), out.row_stride);
  });
}

}  // namespace amanuensis::attn
