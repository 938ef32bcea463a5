#include "kernels/gemm/gemm.h"

#include <stdexcept>

#include "util/cpu_features.h"

namespace amanuensis::gemm {

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "reference") return Backend::kReference;
  if (name == "avx2") return Backend::kAvx2;
  if (name == "avx512") return Backend::kAvx512;
  throw std::invalid_argument("unknown backend '" + name +
                              "' (use reference, avx2, avx512 or auto)");
}

Backend resolve_backend(Backend b) {
  const CpuFeatures& cpu = cpu_features();
  if (b == Backend::kAuto)
    return cpu.avx512_vnni ? Backend::kAvx512 : cpu.avx2 ? Backend::kAvx2 : Backend::kReference;
  if (b == Backend::kAvx512 && !cpu.avx512_vnni)
    throw std::runtime_error("this CPU lacks AVX-512 VNNI (backend avx512)");
  if (b == Backend::kAvx2 && !cpu.avx2)
    throw std::runtime_error("this CPU lacks AVX2 (backend avx2)");
  return b;
}

void gemm(const QuantizedRows& x, const QuantizedWeights& w, Backend backend, ThreadPool& pool,
          float* y, SplitPart split) {
  if (x.k != w.k) throw std::invalid_argument("gemm: activation width does not match the weights");
  if (split.x && (split.x->k != split.w->k || split.x->m != x.m || split.w->n != w.n))
    throw std::invalid_argument("gemm: the split part does not match the main product");
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
    fn(x, w, split, m0, std::min(x.m, m0 + kRowsPerItem), item % col_items, y);
  });
}

}  // namespace amanuensis::gemm
