// The decoder's attention products over keys and values stored as halves
// (the int8 decoder's cross-attention, layers/attention.h): a few queries, one
// per beam, against a window's 1500 keys. The halves are turned into floats in
// registers, each key and value read once for all the queries. One file per
// instruction set; each gives the bytes of reference.cc: a score adds its 64
// products in channel order, starting from 0; an output channel adds its
// products in key order, starting from what it holds; float multiplies and
// adds, never fused (no FMA: the reference has none).
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "kernels/backend.h"
#include "kernels/half/half.h"
#include "util/whisper_geometry.h"

namespace amanuensis::decoder_attention {

// A head's K is stored in blocks of 32 keys, [key / 32][64][32]: a block is
// 8 KB (as floats) read in order rather than 64 rows of keys far apart. V is
// [key][64].
inline constexpr int kKeyBlock = 32;
inline size_t key_offset(int j, int c) {
  return size_t(j / kKeyBlock) * kHeadDim * kKeyBlock + c * kKeyBlock + j % kKeyBlock;
}

// p[r * p_stride + j] = sum over c of q[r * q_stride + c] * k(j, c), for the
// nq queries r and keys j < n rounded up to 32 (K's blocks are whole).
using ScoresFn = void (*)(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                          size_t p_stride);
// out[r * out_stride + c] += p[r * p_stride + j] * v[j * 64 + c], for j < n in
// order, for the nq queries r and the 64 channels c.
using WeightedSumsFn = void (*)(const float* p, size_t p_stride, int nq, const Half* v, int n,
                                float* out, size_t out_stride);

struct HalfKernels {
  ScoresFn scores;
  WeightedSumsFn weighted_sums;
};

// The kernels of a resolved backend (kAuto: this CPU's best).
HalfKernels half_kernels_for(Backend b);

// Queries a tile of the SIMD copies: a beam search's rows. Ten sums (5 x 2
// vectors) fit AVX2's 16 registers beside two of keys, a broadcast and a
// product.
inline constexpr int kTileRows = 5;

// For the SIMD copies: f(std::integral_constant<int, Q>{}, r) for each tile
// of Q rows [r, r + Q) of nq, Q = kTileRows but in the last.
template <int Q, typename F>
inline void row_tile(int rows, int r, F& f) {
  if constexpr (Q > 1)
    if (rows < Q) return row_tile<Q - 1>(rows, r, f);
  f(std::integral_constant<int, Q>{}, r);
}
template <typename F>
inline void for_row_tiles(int nq, F f) {
  for (int r = 0; r < nq; r += kTileRows) row_tile<kTileRows>(std::min(kTileRows, nq - r), r, f);
}

void scores_reference(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                      size_t p_stride);
void weighted_sums_reference(const float* p, size_t p_stride, int nq, const Half* v, int n,
                             float* out, size_t out_stride);
void scores_avx2(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                 size_t p_stride);
void weighted_sums_avx2(const float* p, size_t p_stride, int nq, const Half* v, int n, float* out,
                        size_t out_stride);
void scores_avx512(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                   size_t p_stride);
void weighted_sums_avx512(const float* p, size_t p_stride, int nq, const Half* v, int n, float* out,
                          size_t out_stride);

}  // namespace amanuensis::decoder_attention
