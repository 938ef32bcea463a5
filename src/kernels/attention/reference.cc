// The scalar reference: docs/attention.md, step by step, in plain loops.
#include <algorithm>
#include <cstring>

#include "kernels/attention/backends.h"

namespace amanuensis::attn {
namespace {

// S of query row i and key row j (spec.h): one plane, or two.
int32_t score(const QuantizedAttention& p, int h, int i, int j) {
  const int8_t* q = p.q_head(h) + size_t(i) * kHeadDim;
  const int8_t* k = p.k_head(h) + size_t(j) * kHeadDim;
  int32_t s = 0;
  for (int d = 0; d < kHeadDim; ++d) s += int32_t(q[d]) * int32_t(k[d]);
  if (p.qk_planes == 1) return s;
  const int8_t* q_lo = p.q_lo_head(h) + size_t(i) * kHeadDim;
  const int8_t* k_lo = p.k_lo_head(h) + size_t(j) * kHeadDim;
  int32_t cross = 0;
  for (int d = 0; d < kHeadDim; ++d)
    cross += int32_t(q[d]) * int32_t(k_lo[d]) + int32_t(q_lo[d]) * int32_t(k[d]);
  return two_plane_score(s, cross);
}

template <int kTile>
void reference_tile(const QuantizedAttention& p, int h, int q0, TileResult& r) {
  const int8_t* v_t = p.v_t_head(h);
  const int32_t* q_mul = p.q_mul_head(h);
  const int32_t* k_mul = p.k_mul_head(h);
  const int32_t shift = p.logit_shift[h];
  int32_t m[kTile];
  std::fill(m, m + kTile, kLogitMasked);
  std::memset(&r, 0, sizeof(r));

  const int k_end = p.keys_visible(q0 + kTile - 1);
  for (int k0 = 0; k0 < k_end; k0 += kTile) {
    for (int i = 0; i < kTile; ++i) {
      const int visible = p.keys_visible(q0 + i);
      // Step 1: logits of the valid keys, and the row's maximum in this tile.
      int32_t L[kTile];
      int32_t tile_max = kLogitMasked;
      for (int j = 0; j < kTile; ++j) {
        L[j] = kLogitMasked;
        if (k0 + j >= visible) continue;
        L[j] = logit(score(p, h, q0 + i, k0 + j), q_mul[q0 + i], k_mul[k0 + j], shift);
        tile_max = std::max(tile_max, L[j]);
      }
      if (tile_max == kLogitMasked) continue;  // this row sees no key of this tile
      // Step 2: P relative to the tile's own row maximum; row sum from P16, P.V from P8.
      int32_t l_tile = 0;
      int32_t partial[kHeadDim] = {};
      for (int j = 0; j < kTile; ++j) {
        if (L[j] == kLogitMasked) continue;
        const int32_t p16 = p16_of(tile_max - L[j]), p8 = p8_of(p16);
        l_tile += p16;
        for (int c = 0; c < kHeadDim; ++c) partial[c] += p8 * v_t[size_t(c) * p.kv_pad + k0 + j];
      }
      // Step 3: bring the running sums and this tile's sums to the new maximum.
      const int32_t m_new = std::max(m[i], tile_max);
      const int32_t d_run = m_new - m[i], d_tile = m_new - tile_max;
      for (int c = 0; c < kHeadDim; ++c)
        r.acc[i][c] = int32_t(rescale(r.acc[i][c], d_run) + rescale(partial[c], d_tile));
      r.l[i] = int32_t(rescale(r.l[i], d_run) + rescale(l_tile, d_tile));
      m[i] = m_new;
    }
  }
}

}  // namespace

TileFn reference_tile_fn(int tile) {
  switch (tile) {
    case 16:
      return reference_tile<16>;
    case 32:
      return reference_tile<32>;
    case 64:
      return reference_tile<64>;
    default:
      return nullptr;
  }
}

}  // namespace amanuensis::attn
