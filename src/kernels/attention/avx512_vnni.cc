// AVX-512 VNNI backend: the tile kernel of avx512_tile.h with its int8
// products as vpdpbusd, accumulated in registers. Compiled with
// -mavx512f/bw/vl/vnni only.
#include "kernels/attention/avx512_tile.h"
#include "kernels/dpbusd.h"

namespace amanuensis::attn {
namespace {

using avx512::bcast32;

template <int kTile, int kPlanes, int kVecs>
class VnniProducts {
 public:
  static constexpr int kBlock = avx512::key_block(kVecs);
  using Queries = uint32_t[kHeadDim / 4][kTile];
  using LoQueries = uint32_t[kPlanes == 2 ? kHeadDim / 4 : 1][kTile];

  VnniProducts(const QuantizedAttention& p, int h, const Queries& q_u8, const LoQueries& q_lo_u8)
      : q_u8_(q_u8),
        q_lo_u8_(q_lo_u8),
        k_(p.k_head(h)),
        k_lo_(kPlanes == 2 ? p.k_lo_head(h) : nullptr),
        v_t_(p.v_t_head(h)),
        kv_pad_(p.kv_pad) {}

  void begin_scores(int, int, const int32_t (&)[kTile][kTile]) {}
  void scores(int k0, int jb, const int32_t (&)[kTile][kTile], __m512i (&s)[kBlock][kVecs]) const {
    for (int b = 0; b < kBlock; ++b)
      for (int v = 0; v < kVecs; ++v) s[b][v] = _mm512_setzero_si512();
    add_products(q_u8_, k_, k0 + jb, s);
    if constexpr (kPlanes == 2) {  // 254 * hi.hi + hi.lo + lo.hi
      for (int b = 0; b < kBlock; ++b)
        for (int v = 0; v < kVecs; ++v)
          s[b][v] = _mm512_mullo_epi32(s[b][v], _mm512_set1_epi32(kPlaneRatio));
      add_products(q_u8_, k_lo_, k0 + jb, s);
      add_products(q_lo_u8_, k_, k0 + jb, s);
    }
  }

  void begin_values(int, int, uint32_t (&)[kTile / 4][kTile]) {}
  void values(int k0, int cb, int key_end, const uint32_t (&P)[kTile / 4][kTile],
              __m512i (&o)[kBlock][kVecs]) const {
    for (int c = 0; c < kBlock; ++c)
      for (int v = 0; v < kVecs; ++v) o[c][v] = _mm512_setzero_si512();
    for (int jg = 0; jg < key_end / 4; ++jg) {
      __m512i pv[kVecs];
      for (int v = 0; v < kVecs; ++v) pv[v] = _mm512_load_si512(&P[jg][16 * v]);
      for (int c = 0; c < kBlock; ++c) {
        const __m512i vb = bcast32(v_t_ + size_t(cb + c) * kv_pad_ + k0 + 4 * jg);
        for (int v = 0; v < kVecs; ++v) o[c][v] = dpbusd(o[c][v], pv[v], vb);
      }
    }
  }

 private:
  template <typename Q>
  static void add_products(const Q& queries, const int8_t* keys, int j0,
                           __m512i (&s)[kBlock][kVecs]) {
    for (int g = 0; g < kHeadDim / 4; ++g) {
      __m512i qv[kVecs];
      for (int v = 0; v < kVecs; ++v) qv[v] = _mm512_load_si512(&queries[g][16 * v]);
      for (int b = 0; b < kBlock; ++b) {
        const __m512i kb = bcast32(keys + size_t(j0 + b) * kHeadDim + 4 * g);
        for (int v = 0; v < kVecs; ++v) s[b][v] = dpbusd(s[b][v], qv[v], kb);
      }
    }
  }

  const Queries& q_u8_;
  const LoQueries& q_lo_u8_;
  const int8_t *k_, *k_lo_, *v_t_;
  int kv_pad_;
};

}  // namespace

TileFn avx512_tile_fn(int tile) { return avx512::avx512_tile_fn_with<VnniProducts>(tile); }

}  // namespace amanuensis::attn
