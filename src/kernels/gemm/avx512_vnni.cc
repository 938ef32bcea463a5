// AVX-512 VNNI block kernel: 4 rows x 64 columns of accumulators (16 zmm),
// one vpdpbusd per 16 columns x 4 k per row. Activations (u8) are broadcast,
// weights (s8) are the packed vectors.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/dpbusd.h"
#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

constexpr int kRows = 4;  // 16 accumulators: with more, GCC 12 spills them
constexpr int kVecs = kBlockN / 16;

template <int kR>
struct Accumulators {
  __m512i v[kR][kVecs];
};

// v[r][c] = the dot products of rows m0 + r with the 16 columns c of block nb.
// Local accumulators, returned by value: through a reference GCC must assume
// the int8 loads may alias them and stores them every iteration.
template <int kR>
Accumulators<kR> dots(const QuantizedRows& x, const QuantizedWeights& w, int m0, int nb) {
  Accumulators<kR> acc;
  for (int r = 0; r < kR; ++r)
    for (int v = 0; v < kVecs; ++v) acc.v[r][v] = _mm512_setzero_si512();
  const int groups = w.k_pad / kGroupK;
  const int8_t* wp = w.packed.data() + size_t(nb) * groups * kBlockN * kGroupK;
  const uint8_t* xp = x.q.data() + size_t(m0) * x.k_pad;
  for (int g = 0; g < groups; ++g) {
    __m512i wv[kVecs];
    for (int v = 0; v < kVecs; ++v)
      wv[v] = _mm512_loadu_si512(wp + (size_t(g) * kBlockN + 16 * v) * kGroupK);
    for (int r = 0; r < kR; ++r) {
      int32_t four;
      std::memcpy(&four, xp + size_t(r) * x.k_pad + kGroupK * g, 4);
      const __m512i xb = _mm512_set1_epi32(four);
      for (int v = 0; v < kVecs; ++v) acc.v[r][v] = dpbusd(acc.v[r][v], xb, wv[v]);
    }
  }
  return acc;
}

// float(acc - sum128) * row scale, for row m0 + r and the 16 columns at col.
// (maskz with all lanes: GCC 12's plain cvtepi32_ps trips -Wuninitialized in its own header.)
inline __m512 scaled(__m512i acc, const QuantizedWeights& w, int col, float row_scale) {
  return _mm512_mul_ps(
      _mm512_maskz_cvtepi32_ps(0xFFFF,
                               _mm512_sub_epi32(acc, _mm512_loadu_si512(w.sum128.data() + col))),
      _mm512_set1_ps(row_scale));
}

template <int kR>
void rows_x_block(const QuantizedRows& x, const QuantizedWeights& w, const SplitPart& split, int m0,
                  int nb, float* y) {
  const int n0 = nb * kBlockN;
  Accumulators<kR> acc = dots<kR>(x, w, m0, nb);
  __m512 sum[kR][kVecs];  // the main part's float term; spilled while the split part runs
  for (int r = 0; r < kR; ++r)
    for (int v = 0; v < kVecs; ++v)
      sum[r][v] = scaled(acc.v[r][v], w, n0 + 16 * v, x.scale[m0 + r]);
  if (split.x) {
    acc = dots<kR>(*split.x, *split.w, m0, nb);
    for (int r = 0; r < kR; ++r)
      for (int v = 0; v < kVecs; ++v)
        sum[r][v] = _mm512_add_ps(
            sum[r][v], scaled(acc.v[r][v], *split.w, n0 + 16 * v, split.x->scale[m0 + r]));
  }
  for (int v = 0; v < kVecs; ++v) {
    const int col = n0 + 16 * v;
    if (col >= w.n) break;
    const __mmask16 valid =
        w.n - col >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (w.n - col)) - 1);
    const __m512 sw = _mm512_loadu_ps(w.scale.data() + col);
    const __m512 bias = _mm512_loadu_ps(w.bias.data() + col);
    for (int r = 0; r < kR; ++r)
      _mm512_mask_storeu_ps(y + size_t(m0 + r) * w.n + col, valid,
                            _mm512_add_ps(_mm512_mul_ps(sum[r][v], sw), bias));
  }
}

void avx512_block(const QuantizedRows& x, const QuantizedWeights& w, const SplitPart& split, int m0,
                  int m1, int nb, float* y) {
  int m = m0;
  for (; m + kRows <= m1; m += kRows) rows_x_block<kRows>(x, w, split, m, nb, y);
  switch (m1 - m) {
    case 3:
      rows_x_block<3>(x, w, split, m, nb, y);
      break;
    case 2:
      rows_x_block<2>(x, w, split, m, nb, y);
      break;
    case 1:
      rows_x_block<1>(x, w, split, m, nb, y);
      break;
    default:
      break;
  }
}

}  // namespace

BlockFn avx512_block_fn() { return avx512_block; }

}  // namespace amanuensis::gemm
