// The AVX-512 attention tile kernel, with its int8 products plugged in: the
// AVX-512 VNNI backend (avx512_vnni.cc) and the AMX backend (amx.cc) share
// everything but Q.K^T and P.V. Queries sit in the 16 lanes of a vector, so
// the row state (max, sum, rescale factors) is vertical and no horizontal
// reduction is needed. Q is stored as u8 (q + 128); the extra 128 * sum(k) of
// the u8 x s8 products is removed per key with score_offset. Two-plane Q/K
// take three such products per score (spec.h).
//
// A Products<kTile, kPlanes, kVecs> class gives, for one query tile:
//   Products(p, h, q_u8, q_lo_u8)
//   begin_scores(k0, key_end, L)   before the score blocks of key tile k0
//   scores(k0, jb, L, s)           s[b][v] = the u8 x s8 score sum of key
//                                  k0 + jb + b and query vector v (with two
//                                  planes: 254 * hi.hi + hi.lo + lo.hi)
//   begin_values(k0, key_end, P)   before the channel blocks of key tile k0
//   values(k0, cb, key_end, P, o)  o[c][v] = sum over keys of P8 x v_t for
//                                  channel cb + c and query vector v
// Included only by files compiled for AVX-512 F/BW/VL/VNNI.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/attention/backends.h"
#include "util/round.h"

namespace amanuensis::attn::avx512 {

// Keys (and channels) per register block: 16 accumulators (12 for 3 vectors:
// a block must divide the tile).
constexpr int key_block(int vecs) { return vecs == 3 ? 4 : 16 / vecs; }

// What every Products class reads: the query tile's u8 lanes (built by the
// kernel) and the head's K planes and V^T.
template <int kTile, int kPlanes>
struct ProductInputs {
  using Queries = uint32_t[kHeadDim / 4][kTile];
  using LoQueries = uint32_t[kPlanes == 2 ? kHeadDim / 4 : 1][kTile];
  ProductInputs(const QuantizedAttention& p, int h, const Queries& q_u8_, const LoQueries& q_lo_u8_)
      : q_u8(q_u8_),
        q_lo_u8(q_lo_u8_),
        k(p.k_head(h)),
        k_lo(kPlanes == 2 ? p.k_lo_head(h) : nullptr),
        v_t(p.v_t_head(h)),
        kv_pad(p.kv_pad) {}
  const Queries& q_u8;
  const LoQueries& q_lo_u8;
  const int8_t *k, *k_lo, *v_t;
  int kv_pad;
};

// 64-entry u16 tables in two vectors each: one vpermt2w looks up 32 lanes; the
// odd (high) words are zeroed so each 32-bit lane holds its entry.
struct alignas(64) Tables {
  uint16_t exp16[64];
  uint16_t rescale[64];
};
constexpr Tables kTables = [] {
  static_assert(kExp16.size() == 64 && kRescale.size() == 64);
  Tables t{};
  for (int f = 0; f < 64; ++f) {
    t.exp16[f] = kExp16[f];
    t.rescale[f] = kRescale[f];
  }
  return t;
}();

inline __m512i lookup64(const uint16_t* table, __m512i index) {  // low 6 bits of index
  return _mm512_maskz_permutex2var_epi16(0x55555555, _mm512_load_si512(table), index,
                                         _mm512_load_si512(table + 32));
}

inline __m512i bcast32(const void* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  return _mm512_set1_epi32(x);
}

// Per-lane form of rescale(x, d): multiplier, shift and rounding term.
struct LaneRescale {
  __m512i mul, shift, round;
};
inline LaneRescale lane_rescale(__m512i d) {
  const __m512i n = _mm512_srai_epi32(d, kLogitFracBits);
  const __mmask16 in_range = _mm512_cmple_epi32_mask(n, _mm512_set1_epi32(kRescaleMaxShift));
  const __m512i shift = _mm512_add_epi32(_mm512_min_epi32(n, _mm512_set1_epi32(kRescaleMaxShift)),
                                         _mm512_set1_epi32(kRescaleBits));
  return {_mm512_maskz_mov_epi32(in_range, lookup64(kTables.rescale, d)), shift,
          _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(shift, _mm512_set1_epi32(1)))};
}
// For values whose product with the multiplier fits int32 (tile partial sums,
// and running sums below kRescale32Limit).
constexpr int32_t kRescale32Limit = 1 << 21;
static_assert(int64_t{kRescale32Limit} * kRescale[0] +
                  (int64_t{1} << (kRescaleBits + kRescaleMaxShift - 1)) <=
              (int64_t{1} << 31));
inline __m512i apply32(__m512i x, const LaneRescale& r) {
  return _mm512_srav_epi32(_mm512_add_epi32(_mm512_mullo_epi32(x, r.mul), r.round), r.shift);
}
// For running sums, in 64-bit lanes.
inline __m512i apply64(__m512i x, const LaneRescale& r) {
  const __m512i low = _mm512_set1_epi64(0xffffffff);
  auto half = [&](__m512i xs, __m512i mul, __m512i shift, __m512i round) {
    const __m512i prod = _mm512_mul_epi32(xs, mul);  // low 32 bits, sign-extended
    return _mm512_srav_epi64(_mm512_add_epi64(prod, _mm512_and_si512(round, low)),
                             _mm512_and_si512(shift, low));
  };
  const __m512i even = half(x, r.mul, r.shift, r.round);
  const __m512i odd = half(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(r.mul, 32),
                           _mm512_srli_epi64(r.shift, 32), _mm512_srli_epi64(r.round, 32));
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// Q as u8 (q + 128), 4 dims of one query per lane: [64 / 4][kTile], first `rows` rows.
template <int kTile>
void queries_u8(const int8_t* q, int rows, uint32_t (&q_u8)[kHeadDim / 4][kTile]) {
  for (int i = 0; i < rows; ++i)
    for (int g = 0; g < kHeadDim / 4; ++g) {
      uint32_t w;
      std::memcpy(&w, q + i * kHeadDim + 4 * g, 4);
      q_u8[g][i] = w ^ 0x80808080u;
    }
}

// The first 16 * kVecs query rows of the tile (all kTile / 16 vectors, or
// fewer in a last tile with fewer valid rows; the rest of `out` is not set).
template <template <int, int, int> class Products, int kTile, int kPlanes, int kVecs>
void avx512_tile(const QuantizedAttention& p, int h, int q0, TileResult& out) {
  static_assert(kVecs >= 1 && 16 * kVecs <= kTile);
  constexpr int kRows = 16 * kVecs;
  constexpr int kKeyBlock = key_block(kVecs);
  constexpr int kChanBlock = kKeyBlock;
  const int32_t* score_offset = p.score_offset_head(h);

  alignas(64) uint32_t q_u8[kHeadDim / 4][kTile], q_lo_u8[kPlanes == 2 ? kHeadDim / 4 : 1][kTile];
  queries_u8(p.q_head(h) + size_t(q0) * kHeadDim, kRows, q_u8);
  if constexpr (kPlanes == 2) queries_u8(p.q_lo_head(h) + size_t(q0) * kHeadDim, kRows, q_lo_u8);
  Products<kTile, kPlanes, kVecs> products(p, h, q_u8, q_lo_u8);
  alignas(64) int32_t L[kTile][kTile];            // [key][query]
  alignas(64) uint32_t P[kTile / 4][kTile];       // [key group][query], 4 keys' P8
  alignas(64) int32_t acc[kHeadDim][kTile] = {};  // [channel][query]
  __m512i m[kVecs], l[kVecs], query_index[kVecs];
  for (int v = 0; v < kVecs; ++v) {
    m[v] = _mm512_set1_epi32(kLogitMasked);
    l[v] = _mm512_setzero_si512();
    query_index[v] =
        _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(q0 + 16 * v));
  }
  const int causal_offset = p.kv_len - p.q_len;
  const int32_t* k_mul = p.k_mul_head(h);
  __m512i q_mul[kVecs];
  for (int v = 0; v < kVecs; ++v) q_mul[v] = _mm512_loadu_si512(p.q_mul_head(h) + q0 + 16 * v);
  const __m512i score_round = _mm512_set1_epi32(1 << (kScoreMulBits - 1));
  const __m512i logit_round = _mm512_set1_epi32(1 << (p.logit_shift[h] - 1));
  const __m128i logit_shift = _mm_cvtsi32_si128(p.logit_shift[h]);
  const __m512i p8_round = _mm512_set1_epi32(1 << (kP16ToP8Shift - 1));

  const int k_end = p.keys_visible(q0 + kRows - 1);
  for (int k0 = 0; k0 < k_end; k0 += kTile) {
    const bool edge = p.keys_visible(q0) < k0 + kTile;  // some key masked for some row
    // Key blocks past the last key any row sees hold only masked keys, whose
    // p is 0 for every row: skipping them changes no sum.
    const int key_end = round_up(std::min(kTile, k_end - k0), kKeyBlock);

    // Pass 1: S = Q.K^T, logits, tile row max.
    __m512i tile_max[kVecs];
    for (int v = 0; v < kVecs; ++v) tile_max[v] = _mm512_set1_epi32(kLogitMasked);
    products.begin_scores(k0, key_end, L);
    for (int jb = 0; jb < key_end; jb += kKeyBlock) {
      __m512i s[kKeyBlock][kVecs];
      products.scores(k0, jb, L, s);
      for (int b = 0; b < kKeyBlock; ++b) {
        const int j = k0 + jb + b;
        const __m512i ks = _mm512_set1_epi32(score_offset[j]), km = _mm512_set1_epi32(k_mul[j]);
        for (int v = 0; v < kVecs; ++v) {
          __m512i x = _mm512_sub_epi32(s[b][v], ks);
          if constexpr (kPlanes == 2)
            x = _mm512_srai_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(kTwoPlaneRound)),
                                  kTwoPlaneShift);
          x = _mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(x, q_mul[v]), score_round),
                                kScoreMulBits);
          x = _mm512_sra_epi32(_mm512_add_epi32(_mm512_mullo_epi32(x, km), logit_round),
                               logit_shift);
          if (edge) {
            __mmask16 valid = 0;
            if (j < p.kv_len)
              valid = p.causal
                          ? _mm512_cmpge_epi32_mask(
                                _mm512_add_epi32(query_index[v], _mm512_set1_epi32(causal_offset)),
                                _mm512_set1_epi32(j))
                          : __mmask16(0xFFFF);
            x = _mm512_mask_blend_epi32(valid, _mm512_set1_epi32(kLogitMasked), x);
          }
          _mm512_store_si512(&L[jb + b][16 * v], x);
          tile_max[v] = _mm512_max_epi32(tile_max[v], x);
        }
      }
    }

    // Pass 2: P16 = 2^(L - tile_max) summed into l_tile; P8 packed four keys per lane.
    __m512i l_tile[kVecs], p_ref[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      l_tile[v] = _mm512_setzero_si512();
      // A row with no valid key here: any reference above kLogitMasked gives p = 0.
      p_ref[v] = _mm512_mask_blend_epi32(
          _mm512_cmpeq_epi32_mask(tile_max[v], _mm512_set1_epi32(kLogitMasked)), tile_max[v],
          _mm512_setzero_si512());
    }
    for (int jg = 0; jg < key_end / 4; ++jg)
      for (int v = 0; v < kVecs; ++v) {
        __m512i packed = _mm512_setzero_si512();
        for (int b = 0; b < 4; ++b) {
          const __m512i x = _mm512_sub_epi32(p_ref[v], _mm512_load_si512(&L[4 * jg + b][16 * v]));
          const __m512i n = _mm512_srai_epi32(x, kLogitFracBits);
          const __m512i p16 = _mm512_srlv_epi32(lookup64(kTables.exp16, x), n);
          l_tile[v] = _mm512_add_epi32(l_tile[v], p16);
          const __m512i p8 = _mm512_srli_epi32(_mm512_add_epi32(p16, p8_round), kP16ToP8Shift);
          packed = _mm512_or_si512(packed, _mm512_slli_epi32(p8, 8 * b));
        }
        _mm512_store_si512(&P[jg][16 * v], packed);
      }

    // Row state: bring running sums and this tile's sums to the new maximum.
    LaneRescale tile_rescale[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      const __m512i m_new = _mm512_max_epi32(m[v], tile_max[v]);
      const __m512i d_run = _mm512_sub_epi32(m_new, m[v]);
      tile_rescale[v] = lane_rescale(_mm512_sub_epi32(m_new, tile_max[v]));
      if (_mm512_test_epi32_mask(d_run, d_run)) {  // the max moved for some row
        const LaneRescale run = lane_rescale(d_run);
        // Running sums this small rescale exactly in 32-bit lanes (at a third
        // of the instructions); larger ones take the 64-bit form.
        __m512i largest = _mm512_setzero_si512();
        for (int c = 0; c < kHeadDim; ++c)
          largest = _mm512_max_epu32(largest, _mm512_abs_epi32(_mm512_load_si512(&acc[c][16 * v])));
        if (!_mm512_cmpge_epu32_mask(largest, _mm512_set1_epi32(kRescale32Limit))) {
          for (int c = 0; c < kHeadDim; ++c)
            _mm512_store_si512(&acc[c][16 * v], apply32(_mm512_load_si512(&acc[c][16 * v]), run));
        } else {
          for (int c = 0; c < kHeadDim; ++c)
            _mm512_store_si512(&acc[c][16 * v], apply64(_mm512_load_si512(&acc[c][16 * v]), run));
        }
        l[v] = apply64(l[v], run);
      }
      l[v] = _mm512_add_epi32(l[v], apply64(l_tile[v], tile_rescale[v]));  // l_tile < 2^22
      m[v] = m_new;
    }

    // Pass 3: partial = P.V per channel block, rescaled into acc.
    products.begin_values(k0, key_end, P);
    for (int cb = 0; cb < kHeadDim; cb += kChanBlock) {
      __m512i o[kChanBlock][kVecs];
      products.values(k0, cb, key_end, P, o);
      for (int c = 0; c < kChanBlock; ++c)
        for (int v = 0; v < kVecs; ++v) {
          int32_t* a = &acc[cb + c][16 * v];
          _mm512_store_si512(
              a, _mm512_add_epi32(_mm512_load_si512(a), apply32(o[c][v], tile_rescale[v])));
        }
    }
  }

  for (int v = 0; v < kVecs; ++v) _mm512_storeu_si512(&out.l[16 * v], l[v]);
  for (int i = 0; i < kRows; ++i)
    for (int c = 0; c < kHeadDim; ++c) out.acc[i][c] = acc[c][i];
}

// As many query vectors as the tile has valid rows (1500 = 23 * 64 + 28: the
// last tile of the encoder needs two of four).
template <template <int, int, int> class Products, int kTile, int kPlanes>
void avx512_tile_rows(const QuantizedAttention& p, int h, int q0, TileResult& out) {
  switch ((std::min(kTile, p.q_len - q0) + 15) / 16) {
    case 1:
      return avx512_tile<Products, kTile, kPlanes, 1>(p, h, q0, out);
    case 2:
      if constexpr (kTile >= 32) return avx512_tile<Products, kTile, kPlanes, 2>(p, h, q0, out);
      break;
    case 3:
      if constexpr (kTile >= 64) return avx512_tile<Products, kTile, kPlanes, 3>(p, h, q0, out);
      break;
    default:
      break;
  }
  avx512_tile<Products, kTile, kPlanes, kTile / 16>(p, h, q0, out);
}

template <template <int, int, int> class Products, int kTile>
void avx512_tile_any(const QuantizedAttention& p, int h, int q0, TileResult& out) {
  if (p.qk_planes == 2)
    avx512_tile_rows<Products, kTile, 2>(p, h, q0, out);
  else
    avx512_tile_rows<Products, kTile, 1>(p, h, q0, out);
}

template <template <int, int, int> class Products>
TileFn avx512_tile_fn_with(int tile) {
  switch (tile) {
    case 16:
      return avx512_tile_any<Products, 16>;
    case 32:
      return avx512_tile_any<Products, 32>;
    case 64:
      return avx512_tile_any<Products, 64>;
    default:
      return nullptr;
  }
}

}  // namespace amanuensis::attn::avx512
