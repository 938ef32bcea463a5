#include "kernels/attention/attention.h"

#include <algorithm>
#include <stdexcept>

#include "kernels/attention/backends.h"
#include "util/cpu_features.h"

namespace amanuensis::attn {

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "reference") return Backend::kReference;
  if (name == "avx2") return Backend::kAvx2;
  if (name == "avx512") return Backend::kAvx512;
  throw std::invalid_argument("unknown backend '" + name +
                              "' (use reference, avx2, avx512 or auto)");
}

std::string backend_name(Backend b) {
  switch (b) {
    case Backend::kAuto:
      return "auto";
    case Backend::kReference:
      return "reference";
    case Backend::kAvx2:
      return "avx2";
    case Backend::kAvx512:
      return "avx512";
  }
  return "?";
}

Backend resolve_backend(Backend b) {
  const CpuFeatures& cpu = cpu_features();
  switch (b) {
    case Backend::kAuto:
      return cpu.avx512_vnni ? Backend::kAvx512 : cpu.avx2 ? Backend::kAvx2 : Backend::kReference;
    case Backend::kAvx512:
      if (!cpu.avx512_vnni)
        throw std::runtime_error("this CPU lacks AVX-512 VNNI (backend avx512)");
      return b;
    case Backend::kAvx2:
      if (!cpu.avx2) throw std::runtime_error("this CPU lacks AVX2 (backend avx2)");
      return b;
    case Backend::kReference:
      return b;
  }
  return b;
}

bool is_valid_tile(int tile) {
  return std::find(kTileSizes.begin(), kTileSizes.end(), tile) != kTileSizes.end();
}

void run_attention(const QuantizedAttention& p, Backend backend, int tile, ThreadPool& pool,
                   float* out) {
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
    finalize_f32(p, h, std::min(tile, p.q_len - q0), r,
                 out + (size_t(h) * p.q_len + q0) * kHeadDim);
  });
}

}  // namespace amanuensis::attn
