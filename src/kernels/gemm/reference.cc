// The scalar reference: the formula of gemm.h in plain loops.
#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

int32_t dot(const QuantizedRows& x, const QuantizedWeights& w, int r, int n) {
  const uint8_t* xr = x.q.data() + size_t(r) * x.k_pad;
  int32_t acc = 0;
  for (int c = 0; c < w.k_pad; ++c) acc += (int32_t(xr[c]) - 128) * w.at(n, c);
  return acc;
}

void reference_block(const QuantizedRows& x, const QuantizedWeights& w, const SplitPart& split,
                     int m0, int m1, int nb, float* y) {
  for (int r = m0; r < m1; ++r)
    for (int n = nb * kBlockN; n < std::min(w.n, (nb + 1) * kBlockN); ++n) {
      float sum = float(dot(x, w, r, n)) * x.scale[r];
      if (split.x) sum = sum + float(dot(*split.x, *split.w, r, n)) * split.x->scale[r];
      y[size_t(r) * w.n + n] = sum * w.scale[n] + w.bias[n];
    }
}

}  // namespace

BlockFn reference_block_fn() { return reference_block; }

}  // namespace amanuensis::gemm
