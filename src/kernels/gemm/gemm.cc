#include "kernels/gemm/gemm.h"

#include <optional>
#include <stdexcept>

namespace amanuensis::gemm {

void gemm(const QuantizedRows& x, const QuantizedWeights& w, Backend backend, ThreadPool& pool,
          float* y) {
  if (x.k != w.k) throw std::invalid_argument("gemm: activation width does not match the weights");
  std::optional<QuantizedWeights> w_out;
  if (!x.outlier_cols.empty()) w_out = gather_columns(w, x.outlier_cols);
  BlockFn fn = nullptr;
  switch (resolve_backend(backend)) {
    case Backend::kAvx512:
      fn = avx512_block_fn();
      break;
    case Backend::kAvx2:
      fn = avx2_block_fn();
      break;
    default:
      fn = reference_block_fn();
      break;
  }
  // Work items: 96 rows (a multiple of the 4-row micro-tile) x 64 columns.
  constexpr int kRowsPerItem = 96;
  const int row_items = (x.m + kRowsPerItem - 1) / kRowsPerItem, col_items = w.n_pad / kBlockN;
  pool.parallel_for(row_items * col_items, [&](int item) {
    const int m0 = (item / col_items) * kRowsPerItem;
    fn(x, w, w_out ? &*w_out : nullptr, m0, std::min(x.m, m0 + kRowsPerItem), item % col_items, y);
  });
}

}  // namespace amanuensis::gemm
