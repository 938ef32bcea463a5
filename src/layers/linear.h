// A linear layer's float weights and the op that applies them in the engine's
// precision. Shared by the encoder and the decoder.
#pragma once

#include <string>
#include <vector>

#include "amanuensis/types.h"  // Precision
#include "kernels/gemm/gemm.h"
#include "util/thread_pool.h"

namespace amanuensis {


struct Linear {
  int out = 0, in = 0;
  std::vector<float> weight;  // [out][in], or empty when `rows` reads it
  std::vector<float> bias;    // [out]; zeros where the model has none (K projections)
  // The weight's rows read from the model file as they are needed: int8
  // quantizes them without a float32 copy of the matrix.
  gemm::WeightRows rows;
};

struct LayerNormWeights {
  std::vector<float> gamma, beta;
};

using gemm::Activation;

// y = act(x . W^T + b) in the precision the model runs at. Int8 quantizes W
// once, here, and keeps no float copy.
class LinearOp {
 public:
  // outliers: quantize the largest input channels apart (int8 only; see
  // apply_int8). The encoder wants it; the decoder's few rows per call do
  // not repay its per-call gather of weight columns. activation: applied to
  // every output (int8: fused into the GEMM, the same bytes).
  LinearOp(Linear weights, Precision precision, Backend backend, bool outliers = true,
           Activation activation = Activation::kNone);
  // y [rows][out]; the rows of x are row_stride floats apart (0: in).
  void apply(const float* x, int rows, float* y, ThreadPool& pool, size_t row_stride = 0) const;
  // Row r of W as this op applies it: float, or int8 times its scale.
  void weight_row(int r, float* out) const;
  int in() const { return in_; }
  int out() const { return out_; }

  static constexpr int kOutlierChannels = 32;
  static constexpr int kOutlierMinWidth = 256;  // narrower inputs (conv1 of 80-mel models) skip it

 private:
  void apply_int8(const float* x, int rows, size_t row_stride, float* y, ThreadPool& pool) const;
  int out_, in_;
  Precision precision_;
  Backend backend_;
  bool outliers_;
  Activation activation_;
  std::vector<float> weight_, bias_;  // fp32 mode only
  gemm::QuantizedWeights q8_;
};

}  // namespace amanuensis
