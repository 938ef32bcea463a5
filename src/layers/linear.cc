#include "layers/linear.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>

#include "kernels/per_isa.h"
#include "layers/blas.h"
#include "layers/float_ops.h"

namespace amanuensis {
namespace {

// y[m][n] = sum_k x[m][k] * weight[n][k] + bias[n], rows of x lda floats apart.
void linear_f32(const float* x, int rows, size_t lda, int k, int out, const float* weight,
                const float* bias, float* y) {
  for (int m = 0; m < rows; ++m)
    for (int n = 0; n < out; ++n) y[size_t(m) * out + n] = bias[n];
  blas::sgemm(CblasNoTrans, CblasTrans, rows, out, k, 1.0f, x, int(lda), weight, k, 1.0f, y, out);
}

// m[c] = max(m[c], |x[r][c]|) over rows [r0, r1).
[[gnu::always_inline]] inline void max_abs_into(const float* x, size_t row_stride, int r0, int r1,
                                                int k, float* m) {
  for (int r = r0; r < r1; ++r)
    for (int c = 0; c < k; ++c) {
      const float v = std::fabs(x[r * row_stride + c]);
      m[c] = v > m[c] ? v : m[c];
    }
}

// max_r |x[r][c]| per column; partial maxima per row chunk (max is exact, so
// the split does not matter).
std::vector<float> column_max_abs(const float* x, int rows, size_t row_stride, int k,
                                  Backend backend, ThreadPool& pool) {
  constexpr int kRows = 64;
  const int items = (rows + kRows - 1) / kRows;
  std::vector<float> partial(size_t(items) * k, 0.0f);
  const auto max_abs_into_copy = PerIsa<max_abs_into>::pick(backend);
  pool.parallel_for(items, [&](int item) {
    max_abs_into_copy(x, row_stride, item * kRows, std::min(rows, (item + 1) * kRows), k,
                      partial.data() + size_t(item) * k);
  });
  std::vector<float> out(k, 0.0f);
  for (int item = 0; item < items; ++item)
    for (int c = 0; c < k; ++c) out[c] = std::max(out[c], partial[size_t(item) * k + c]);
  return out;
}

}  // namespace

LinearOp::LinearOp(Linear weights, Precision precision, Backend backend, bool outliers,
                   Activation activation)
    : out_(weights.out),
      in_(weights.in),
      precision_(precision),
      backend_(backend),
      outliers_(outliers),
      activation_(activation) {
  if (weights.bias.size() != size_t(out_) ||
      (weights.rows ? !weights.weight.empty() : weights.weight.size() != size_t(out_) * in_))
    throw std::invalid_argument("linear layer: weight or bias of the wrong size");
  if (precision == Precision::kInt8) {
    q8_ = weights.rows
              ? gemm::quantize_weights(weights.rows, weights.bias.data(), out_, in_)
              : gemm::quantize_weights(weights.weight.data(), weights.bias.data(), out_, in_);
  } else {
    if (weights.rows) {
      weights.weight.resize(size_t(out_) * in_);
      weights.rows(0, out_, weights.weight.data());
    }
    weight_ = std::move(weights.weight);
    bias_ = std::move(weights.bias);
  }
}

// Int8 with the largest input channels apart: the kOutlierChannels columns of
// x with the largest magnitude are quantized in their own, coarser unit (see
// gemm.h), so that they no longer coarsen every other channel.
void LinearOp::apply_int8(const float* x, int rows, size_t row_stride, float* y,
                          ThreadPool& pool) const {
  const int k = in_;
  std::vector<int> outliers;
  if (outliers_ && k >= kOutlierMinWidth) {
    const std::vector<float> col_max = column_max_abs(x, rows, row_stride, k, backend_, pool);
    outliers.resize(k);
    for (int c = 0; c < k; ++c) outliers[c] = c;
    std::partial_sort(
        outliers.begin(), outliers.begin() + kOutlierChannels, outliers.end(),
        [&](int a, int b) { return col_max[a] != col_max[b] ? col_max[a] > col_max[b] : a < b; });
    outliers.resize(kOutlierChannels);
  }
  gemm::QuantizedRows q;
  gemm::quantize_rows(x, rows, k, q, pool, outliers, row_stride, backend_);
  gemm::gemm(q, q8_, backend_, pool, y, activation_);
}

void LinearOp::weight_row(int r, float* out) const {
  if (precision_ == Precision::kFp32) {
    std::copy_n(weight_.data() + size_t(r) * in_, in_, out);
    return;
  }
  for (int c = 0; c < in_; ++c) out[c] = float(q8_.at(r, c)) * q8_.scale[r];
}

void LinearOp::apply(const float* x, int rows, float* y, ThreadPool& pool,
                     size_t row_stride) const {
  if (row_stride == 0) row_stride = size_t(in_);
  if (precision_ == Precision::kInt8) return apply_int8(x, rows, row_stride, y, pool);
  const int k = in_;
  if (row_stride < size_t(k)) {  // overlapping rows (convolution windows): BLAS wants them apart
    std::vector<float> packed(size_t(rows) * k);
    pool.parallel_for(rows,
                      [&](int r) { std::copy_n(x + r * row_stride, k, &packed[size_t(r) * k]); });
    return apply(packed.data(), rows, y, pool);
  }
  constexpr int kRowsPerItem = 128;
  pool.parallel_for((rows + kRowsPerItem - 1) / kRowsPerItem, [&](int item) {
    const int r0 = item * kRowsPerItem, r1 = std::min(rows, r0 + kRowsPerItem);
    linear_f32(x + r0 * row_stride, r1 - r0, row_stride, k, out_, weight_.data(), bias_.data(),
               y + size_t(r0) * out_);
  });
  if (activation_ == Activation::kGelu) gelu(y, size_t(rows) * out_, backend_, pool);
}

}  // namespace amanuensis
