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
  using Inputs = avx512::ProductInputs<kTile, kPlanes>;

  VnniProducts(const QuantizedAttention& p, int h, const typename Inputs::Queries& q_u8,
               const typename Inputs::LoQueries& q_lo_u8)
      : in_(p, h, q_u8, q_lo_u8) {}

  void begin_scores(int, int, const int32_t (&)[kTile][kTile]) {}
  void scores(int k0, int jb, const int32_t (&)[kTile][kTile], __m512i (&s)[kBlock][kVecs]) const {
    for (int b = 0; b < kBlock; ++b)
      for (int v = 0; v < kVecs; ++v) s[b][v] = _mm512_setzero_si512();
    add_products(in_.q_u8, in_.k, k0 + jb, s);
    if constexpr (kPlanes == 2) {  // 254 * hi.hi + hi.lo + lo.hi
      for (int b = 0; b < kBlock; ++b)
        for (int v = 0; v < kVecs; ++v)
          s[b][v] = _mm512_mullo_epi32(s[b][v], _mm512_set1_epi32(kPlaneRatio));
      add_products(in_.q_u8, in_.k_lo, k0 + jb, s);
      add_products(in_.q_lo_u8, in_.k, k0 + jb, s);
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
        const __m512i vb = bcast32(in_.v_t + size_t(cb + c) * in_.kv_pad + k0 + 4 * jg);
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

  Inputs in_;
};

}  // namespace

TileFn avx512_tile_fn(int tile) { return avx512::avx512_tile_fn_with<VnniProducts>(tile); }

}  // namespace amanuensis::attn
