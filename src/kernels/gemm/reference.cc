// The scalar reference: the formula of gemm.h in plain loops.
#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

void reference_block(const QuantizedRows& x, const QuantizedWeights& w, int m0, int m1, int nb,
                     float* y, bool accumulate) {
  for (int r = m0; r < m1; ++r) {
    const uint8_t* xr = x.q.data() + size_t(r) * x.k_pad;
    for (int n = nb * kBlockN; n < std::min(w.n, (nb + 1) * kBlockN); ++n) {
      int32_t acc = 0;
      for (int c = 0; c < w.k_pad; ++c) acc += (int32_t(xr[c]) - 128) * w.at(n, c);
      const float v = (float(acc) * x.scale[r]) * w.scale[n] + w.bias[n];
      float& out = y[size_t(r) * w.n + n];
      out = accumulate ? out + v : v;
    }
  }
}

}  // namespace

BlockFn reference_block_fn() { return reference_block; }

}  // namespace amanuensis::gemm
