// AVX-512 VNNI block kernel: 4 rows x 64 columns of accumulators (16 zmm),
// one vpdpbusd per 16 columns x 4 k per row. Activations (u8) are broadcast,
// weights (s8) are the packed vectors.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/dpbusd.h"
#include "kernels/gemm/avx512_epilogue.h"

namespace amanuensis::gemm {
namespace {

constexpr int kRows = 4;  // 16 accumulators: with more, GCC 12 spills them
constexpr int kVecs = kBlockN / 16;

template <int kR>
struct Accumulators {
  __m512i v[kR][kVecs];
};

// Adds to v[r][c] the u8 x s8 dot products of rows x + r * stride with the 16
// columns c of a packed 64-column weight block of `groups` 4-k groups. Local
// accumulators, passed and returned by value: through a reference GCC must
// assume the int8 loads may alias them and stores them every iteration.
template <int kR>
Accumulators<kR> accumulate(Accumulators<kR> acc, const uint8_t* x, size_t stride, const int8_t* wp,
                            int groups) {
  for (int g = 0; g < groups; ++g) {
    __m512i wv[kVecs];
    for (int v = 0; v < kVecs; ++v)
      wv[v] = _mm512_loadu_si512(wp + (size_t(g) * kBlockN + 16 * v) * kGroupK);
    for (int r = 0; r < kR; ++r) {
      int32_t four;
      std::memcpy(&four, x + r * stride + kGroupK * g, 4);
      const __m512i xb = _mm512_set1_epi32(four);
      for (int v = 0; v < kVecs; ++v) acc.v[r][v] = dpbusd(acc.v[r][v], xb, wv[v]);
    }
  }
  return acc;
}

const int8_t* block_weights(const QuantizedWeights& w, int nb) {
  return w.packed.data() + size_t(nb) * w.k_pad * kBlockN;
}

template <int kR>
void rows_x_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                  int m0, int nb, float* y) {
  const int n0 = nb * kBlockN;
  Accumulators<kR> acc;
  // The outlier part's float term. In memory, not in registers: the main
  // part needs all 32 zmm while it runs.
  alignas(64) float outlier_term[kR][kBlockN];
  if (w_out) {
    acc = accumulate<kR>(Accumulators<kR>{}, x.q_out.data() + size_t(m0) * x.outliers_pad,
                         x.outliers_pad, block_weights(*w_out, nb), w_out->k_pad / kGroupK);
    for (int v = 0; v < kVecs; ++v) {
      const __m512i sum128 = _mm512_loadu_si512(w_out->sum128.data() + n0 + 16 * v);
      for (int r = 0; r < kR; ++r)
        _mm512_store_ps(&outlier_term[r][16 * v], scaled(acc.v[r][v], sum128, x.scale_out[m0 + r]));
    }
  }
  acc = accumulate<kR>(Accumulators<kR>{}, x.q.data() + size_t(m0) * x.k_pad, x.k_pad,
                       block_weights(w, nb), w.k_pad / kGroupK);
  for (int v = 0; v < kVecs; ++v) {
    const int col = n0 + 16 * v;
    if (col >= w.n) break;
    const Columns16 c = columns16(w, col);
    for (int r = 0; r < kR; ++r) {
      __m512 sum = scaled(acc.v[r][v], c.sum128, x.scale[m0 + r]);
      if (w_out) sum = _mm512_add_ps(sum, _mm512_load_ps(&outlier_term[r][16 * v]));
      store16(y + size_t(m0 + r) * w.n + col, c, sum);
    }
  }
}

void avx512_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                  int m0, int m1, int nb, float* y) {
  int m = m0;
  for (; m + kRows <= m1; m += kRows) rows_x_block<kRows>(x, w, w_out, m, nb, y);
  switch (m1 - m) {
    case 3:
      rows_x_block<3>(x, w, w_out, m, nb, y);
      break;
    case 2:
      rows_x_block<2>(x, w, w_out, m, nb, y);
      break;
    case 1:
      rows_x_block<1>(x, w, w_out, m, nb, y);
      break;
    default:
      break;
  }
}

}  // namespace

BlockFn avx512_block_fn() { return avx512_block; }

}  // namespace amanuensis::gemm
