// The scalar reference: the formula of gemm.h in plain loops.
#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

// sum_c (u8[c] - 128) * W[n][c] over one row of u8 values.
int32_t dot(const uint8_t* xr, const QuantizedWeights& w, int n) {
  int32_t acc = 0;
  for (int c = 0; c < w.k_pad; ++c) acc += (int32_t(xr[c]) - 128) * w.at(n, c);
  return acc;
}

void reference_block(const QuantizedRows& x, const QuantizedWeights& w,
                     const QuantizedWeights* w_out, int m0, int m1, int nb, float* y) {
  for (int r = m0; r < m1; ++r)
    for (int n = nb * kBlockN; n < std::min(w.n, (nb + 1) * kBlockN); ++n) {
      float sum = float(dot(x.q.data() + size_t(r) * x.k_pad, w, n)) * x.scale[r];
      if (w_out) {
        sum = sum +
              float(dot(x.q_out.data() + size_t(r) * x.outliers_pad, *w_out, n)) * x.scale_out[r];
      }
      y[size_t(r) * w.n + n] = sum * w.scale[n] + w.bias[n];
    }
}

}  // namespace

BlockFn reference_block_fn() { return reference_block; }

}  // namespace amanuensis::gemm
