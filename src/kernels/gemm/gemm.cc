#include "kernels/gemm/gemm.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "kernels/gelu.h"
#include "kernels/per_isa.h"

namespace amanuensis::gemm {
namespace {

// GELU of y's columns [c0, c1) in rows [m0, m1): one block a kernel just wrote.
[[gnu::always_inline]] inline void gelu_block(float* y, size_t n, int m0, int m1, int c0, int c1) {
  for (int r = m0; r < m1; ++r) gelu_range(y + size_t(r) * n, size_t(c0), size_t(c1));
}

}  // namespace

void gemm(const QuantizedRows& x, const QuantizedWeights& w, Backend backend, ThreadPool& pool,
          float* y, Activation activation) {
  if (x.k != w.k) throw std::invalid_argument("gemm: activation width does not match the weights");
  std::optional<QuantizedWeights> w_out;
  if (!x.outlier_cols.empty()) w_out = gather_columns(w, x.outlier_cols);
  BlockFn fn = nullptr;
  switch (resolve_backend(backend)) {
    case Backend::kAmx:
      fn = amx_block_fn();
      break;
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
  // Work items: 96 rows (a multiple of every kernel's row tile) x a range of
  // 64-column blocks. The columns are split only as far as it takes to give
  // each thread a few items: two threads writing neighbouring columns of the
  // same rows at once ran the AMX kernel at 0.7x of one thread alone (lines
  // one core's prefetchers fetch, the other writes).
  constexpr int kRowsPerItem = 96, kItemsPerThread = 4;
  const int row_items = (x.m + kRowsPerItem - 1) / kRowsPerItem, col_blocks = w.n_pad / kBlockN;
  const int col_items =
      std::clamp((kItemsPerThread * pool.threads() + row_items - 1) / row_items, 1, col_blocks);
  const auto gelu_copy =
      activation == Activation::kGelu ? PerIsa<gelu_block>::pick(backend) : nullptr;
  pool.parallel_for(row_items * col_items, [&](int item) {
    const int m0 = (item / col_items) * kRowsPerItem, m1 = std::min(x.m, m0 + kRowsPerItem);
    const int part = item % col_items;
    for (int nb = part * col_blocks / col_items; nb < (part + 1) * col_blocks / col_items; ++nb) {
      fn(x, w, w_out ? &*w_out : nullptr, m0, m1, nb, y);
      if (gelu_copy)
        gelu_copy(y, size_t(w.n), m0, m1, nb * kBlockN, std::min(w.n, (nb + 1) * kBlockN));
    }
  });
}

}  // namespace amanuensis::gemm
