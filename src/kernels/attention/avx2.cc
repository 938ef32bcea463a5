// AVX2 backend for machines without AVX-512 VNNI. AVX2 has no exact u8 x s8
// dot product (vpmaddubsw saturates), so both products run on int16 pairs
// with vpmaddwd, which is exact. Queries sit in the 8 lanes of a vector.
// Row state (max, sum) is scalar per row, with the shared spec.h primitives.
// Two-plane Q/K (spec.h) add the hi.lo and lo.hi products to 254 hi.hi.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/attention/backends.h"

namespace amanuensis::attn {
namespace {

// The spec's u16 tables widened for vpgatherdd.
struct Tables {
  int32_t exp16[kExp16.size()];
};
constexpr Tables kTables = [] {
  Tables t{};
  for (size_t f = 0; f < kExp16.size(); ++f) t.exp16[f] = kExp16[f];
  return t;
}();

inline uint32_t pair16(int8_t a, int8_t b) {
  return uint32_t(uint16_t(int16_t(a))) | (uint32_t(uint16_t(int16_t(b))) << 16);
}

// Two dims of one query as int16 pairs: [64 / 2][kTile].
template <int kTile>
void query_pairs(const int8_t* q, uint32_t (&q16)[kHeadDim / 2][kTile]) {
  for (int i = 0; i < kTile; ++i)
    for (int d = 0; d < kHeadDim / 2; ++d)
      q16[d][i] = pair16(q[i * kHeadDim + 2 * d], q[i * kHeadDim + 2 * d + 1]);
}
// Keys [k0, k0 + kTile) as int16 pairs: [kTile][64 / 2].
template <int kTile>
void key_pairs(const int8_t* k, int k0, uint32_t (&k16)[kTile][kHeadDim / 2]) {
  for (int j = 0; j < kTile; ++j)
    for (int d = 0; d < kHeadDim / 2; ++d)
      k16[j][d] = pair16(k[(k0 + j) * kHeadDim + 2 * d], k[(k0 + j) * kHeadDim + 2 * d + 1]);
}

template <int kTile, int kPlanes>
void avx2_tile(const QuantizedAttention& p, int h, int q0, TileResult& out) {
  constexpr int kVecs = kTile / 8;
  constexpr int kKeyBlock = std::max(1, 8 / kVecs);
  constexpr int kChanBlock = std::max(1, 8 / kVecs);
  constexpr int kLo = kPlanes == 2 ? 1 : 0;  // the second planes' arrays are empty with one
  const int8_t* k = p.k_head(h);
  const int8_t* v_t = p.v_t_head(h);

  alignas(32) uint32_t q16[kHeadDim / 2][kTile], q16_lo[kLo ? kHeadDim / 2 : 1][kTile];
  query_pairs(p.q_head(h) + size_t(q0) * kHeadDim, q16);
  if constexpr (kLo) query_pairs(p.q_lo_head(h) + size_t(q0) * kHeadDim, q16_lo);
  alignas(32) uint32_t k16[kTile][kHeadDim / 2];  // current key tile as int16 pairs
  alignas(32) uint32_t k16_lo[kLo ? kTile : 1][kHeadDim / 2];
  alignas(32) uint32_t v16[kHeadDim][kTile / 2];  // current V tile: two keys of one channel
  alignas(32) int32_t L[kTile][kTile];            // [key][query]
  alignas(32) int32_t P[kTile][kTile];            // [key][query], P16
  alignas(32) uint32_t P8x2[kTile / 2][kTile];    // P8 of two keys of one query as int16
  alignas(32) int32_t acc[kHeadDim][kTile] = {};  // [channel][query]
  int32_t m[kTile], l[kTile] = {};
  std::fill(m, m + kTile, kLogitMasked);
  alignas(32) int32_t tile_max[kTile], part_mul[kTile], part_shift[kTile], part_round[kTile];

  const int32_t* k_mul = p.k_mul_head(h);
  __m256i q_mul[kVecs];
  for (int v = 0; v < kVecs; ++v)
    q_mul[v] = _mm256_loadu_si256((const __m256i*)(p.q_mul_head(h) + q0 + 8 * v));
  const __m256i score_round = _mm256_set1_epi32(1 << (kScoreMulBits - 1));
  const __m256i logit_round = _mm256_set1_epi32(1 << (p.logit_shift[h] - 1));
  const __m128i logit_shift = _mm_cvtsi32_si128(p.logit_shift[h]);

  const int k_end = p.keys_visible(q0 + kTile - 1);
  for (int k0 = 0; k0 < k_end; k0 += kTile) {
    key_pairs(k, k0, k16);
    if constexpr (kLo) key_pairs(p.k_lo_head(h), k0, k16_lo);
    for (int c = 0; c < kHeadDim; ++c)
      for (int j = 0; j < kTile / 2; ++j)
        v16[c][j] = pair16(v_t[size_t(c) * p.kv_pad + k0 + 2 * j],
                           v_t[size_t(c) * p.kv_pad + k0 + 2 * j + 1]);

    // Pass 1: S = Q.K^T and logits.
    for (int jb = 0; jb < kTile; jb += kKeyBlock) {
      __m256i s[kKeyBlock][kVecs];
      for (int b = 0; b < kKeyBlock; ++b)
        for (int v = 0; v < kVecs; ++v) s[b][v] = _mm256_setzero_si256();
      auto add_products = [&](const uint32_t(&queries)[kHeadDim / 2][kTile],
                              const uint32_t(&keys)[kTile][kHeadDim / 2]) {
        for (int d = 0; d < kHeadDim / 2; ++d)
          for (int b = 0; b < kKeyBlock; ++b) {
            const __m256i kb = _mm256_set1_epi32(int32_t(keys[jb + b][d]));
            for (int v = 0; v < kVecs; ++v)
              s[b][v] = _mm256_add_epi32(
                  s[b][v],
                  _mm256_madd_epi16(_mm256_load_si256((const __m256i*)&queries[d][8 * v]), kb));
          }
      };
      add_products(q16, k16);
      if constexpr (kLo) {  // 254 * hi.hi + hi.lo + lo.hi, then S as spec.h's two_plane_score
        for (int b = 0; b < kKeyBlock; ++b)
          for (int v = 0; v < kVecs; ++v)
            s[b][v] = _mm256_mullo_epi32(s[b][v], _mm256_set1_epi32(kPlaneRatio));
        add_products(q16, k16_lo);
        add_products(q16_lo, k16);
        for (int b = 0; b < kKeyBlock; ++b)
          for (int v = 0; v < kVecs; ++v)
            s[b][v] = _mm256_srai_epi32(
                _mm256_add_epi32(s[b][v], _mm256_set1_epi32(kTwoPlaneRound)), kTwoPlaneShift);
      }
      for (int b = 0; b < kKeyBlock; ++b) {
        const __m256i km = _mm256_set1_epi32(k_mul[k0 + jb + b]);
        for (int v = 0; v < kVecs; ++v) {
          const __m256i t = _mm256_srai_epi32(
              _mm256_add_epi32(_mm256_mullo_epi32(s[b][v], q_mul[v]), score_round), kScoreMulBits);
          _mm256_store_si256(
              (__m256i*)&L[jb + b][8 * v],
              _mm256_sra_epi32(_mm256_add_epi32(_mm256_mullo_epi32(t, km), logit_round),
                               logit_shift));
        }
      }
    }
    // Masks and row maxima (scalar: cheap next to the products).
    for (int i = 0; i < kTile; ++i) {
      const int visible = p.keys_visible(q0 + i) - k0;
      for (int j = std::max(visible, 0); j < kTile; ++j) L[j][i] = kLogitMasked;
      tile_max[i] = kLogitMasked;
    }
    for (int j = 0; j < kTile; ++j)
      for (int i = 0; i < kTile; ++i) tile_max[i] = std::max(tile_max[i], L[j][i]);

    // Pass 2: P relative to the tile's row max (0 for masked keys).
    alignas(32) int32_t p_ref[kTile];
    for (int i = 0; i < kTile; ++i) p_ref[i] = tile_max[i] == kLogitMasked ? 0 : tile_max[i];
    int32_t l_tile[kTile] = {};
    for (int j = 0; j < kTile; ++j)
      for (int v = 0; v < kVecs; ++v) {
        const __m256i x = _mm256_sub_epi32(_mm256_load_si256((const __m256i*)&p_ref[8 * v]),
                                           _mm256_load_si256((const __m256i*)&L[j][8 * v]));
        const __m256i e = _mm256_i32gather_epi32(
            kTables.exp16, _mm256_and_si256(x, _mm256_set1_epi32(kLogitFracMask)), 4);
        _mm256_store_si256((__m256i*)&P[j][8 * v],
                           _mm256_srlv_epi32(e, _mm256_srai_epi32(x, kLogitFracBits)));
      }
    for (int j = 0; j < kTile; ++j)
      for (int i = 0; i < kTile; ++i) l_tile[i] += P[j][i];
    for (int jp = 0; jp < kTile / 2; ++jp)
      for (int i = 0; i < kTile; ++i)
        P8x2[jp][i] = uint32_t(p8_of(P[2 * jp][i])) | (uint32_t(p8_of(P[2 * jp + 1][i])) << 16);

    // Row state.
    for (int i = 0; i < kTile; ++i) {
      const int32_t m_new = std::max(m[i], tile_max[i]);
      const int32_t d_run = m_new - m[i], d_tile = m_new - tile_max[i];
      if (d_run != 0)
        for (int c = 0; c < kHeadDim; ++c) acc[c][i] = int32_t(rescale(acc[c][i], d_run));
      l[i] = int32_t(rescale(l[i], d_run) + rescale(l_tile[i], d_tile));
      m[i] = m_new;
      const int32_t n = d_tile >> kLogitFracBits;
      part_mul[i] = n > kRescaleMaxShift ? 0 : kRescale[d_tile & kLogitFracMask];
      part_shift[i] = kRescaleBits + std::min(n, kRescaleMaxShift);
      part_round[i] = 1 << (part_shift[i] - 1);
    }

    // Pass 3: partial = P.V, rescaled into acc.
    for (int cb = 0; cb < kHeadDim; cb += kChanBlock) {
      __m256i o[kChanBlock][kVecs];
      for (int c = 0; c < kChanBlock; ++c)
        for (int v = 0; v < kVecs; ++v) o[c][v] = _mm256_setzero_si256();
      for (int jp = 0; jp < kTile / 2; ++jp)
        for (int c = 0; c < kChanBlock; ++c) {
          const __m256i vb = _mm256_set1_epi32(int32_t(v16[cb + c][jp]));
          for (int v = 0; v < kVecs; ++v)
            o[c][v] = _mm256_add_epi32(
                o[c][v],
                _mm256_madd_epi16(_mm256_load_si256((const __m256i*)&P8x2[jp][8 * v]), vb));
        }
      for (int c = 0; c < kChanBlock; ++c)
        for (int v = 0; v < kVecs; ++v) {
          const __m256i scaled = _mm256_srav_epi32(
              _mm256_add_epi32(
                  _mm256_mullo_epi32(o[c][v], _mm256_load_si256((const __m256i*)&part_mul[8 * v])),
                  _mm256_load_si256((const __m256i*)&part_round[8 * v])),
              _mm256_load_si256((const __m256i*)&part_shift[8 * v]));
          __m256i* a = (__m256i*)&acc[cb + c][8 * v];
          _mm256_store_si256(a, _mm256_add_epi32(_mm256_load_si256(a), scaled));
        }
    }
  }

  for (int i = 0; i < kTile; ++i) {
    out.l[i] = l[i];
    for (int c = 0; c < kHeadDim; ++c) out.acc[i][c] = acc[c][i];
  }
}

template <int kTile>
void avx2_tile_any(const QuantizedAttention& p, int h, int q0, TileResult& out) {
  if (p.qk_planes == 2)
    avx2_tile<kTile, 2>(p, h, q0, out);
  else
    avx2_tile<kTile, 1>(p, h, q0, out);
}

}  // namespace

TileFn avx2_tile_fn(int tile) {
  switch (tile) {
    case 16:
      return avx2_tile_any<16>;
    case 32:
      return avx2_tile_any<32>;
    case 64:
      return avx2_tile_any<64>;
    default:
      return nullptr;
  }
}

}  // namespace amanuensis::attn
