// The float epilogue of the AVX-512 VNNI and AMX kernels, 16 columns at a
// time: gemm.h's formula, in its order, without FMA:
//   y = (float(acc - sum128) * s_x [+ float(acc_o - sum128_o) * s_o]) * s_w + b
// Included only by files compiled for AVX-512 F/BW/VL.
#pragma once

#include <immintrin.h>

#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {

// float(acc - sum128) * row scale.
// (maskz with all lanes: GCC 12's plain cvtepi32_ps trips -Wuninitialized in its header.)
inline __m512 scaled(__m512i acc, __m512i sum128, float row_scale) {
  return _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_sub_epi32(acc, sum128)),
                       _mm512_set1_ps(row_scale));
}

// W's terms for columns [col, col + 16), and which of them exist.
struct Columns16 {
  __mmask16 valid;
  __m512i sum128;
  __m512 scale, bias;
};
inline Columns16 columns16(const QuantizedWeights& w, int col) {
  return {w.n - col >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (w.n - col)) - 1),
          _mm512_loadu_si512(w.sum128.data() + col), _mm512_loadu_ps(w.scale.data() + col),
          _mm512_loadu_ps(w.bias.data() + col)};
}

// y_row[col...] = sum * s_w + b, for the columns that exist.
inline void store16(float* y, const Columns16& c, __m512 sum) {
  _mm512_mask_storeu_ps(y, c.valid, _mm512_add_ps(_mm512_mul_ps(sum, c.scale), c.bias));
}

}  // namespace amanuensis::gemm
