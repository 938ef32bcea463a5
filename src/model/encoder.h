// The Whisper encoder: log-mel [n_mels][3000] -> hidden states [1500][d].
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/gemm/gemm.h"
#include "model/whisper_weights.h"
#include "util/thread_pool.h"

namespace amanuensis {

enum class Precision {
  kFp32,  // float32 everywhere: the accuracy yardstick of the same code path
  kInt8,  // int8 GEMMs (dynamic per-token activations) and the int8 attention kernel
};
Precision parse_precision(const std::string& name);  // "fp32" | "int8"

inline constexpr int kMelFrames = 3000;  // one 30 s window

// Per-stage wall time of one encode, milliseconds.
struct EncoderTimings {
  double conv = 0, attention = 0, gemm = 0, other = 0;
};

// A linear layer in the precision the encoder runs at.
class LinearOp {
 public:
  LinearOp(const Linear& weights, Precision precision, Backend backend);
  // y [rows][out]; the rows of x are row_stride floats apart (0: in).
  void apply(const float* x, int rows, float* y, ThreadPool& pool, size_t row_stride = 0) const;

  static constexpr int kOutlierChannels = 32;
  static constexpr int kOutlierMinWidth = 256;  // narrower inputs (conv1 of 80-mel models) skip it

 private:
  void apply_int8(const float* x, int rows, size_t row_stride, float* y, ThreadPool& pool) const;
  const Linear* f32_;
  Precision precision_;
  Backend backend_;
  gemm::QuantizedWeights q8_;
};

class Encoder {
 public:
  // int8: weights quantized here, once. The backend of the int8 kernels
  // changes speed only: every backend gives the same output bytes.
  Encoder(EncoderWeights weights, Precision precision, Backend backend = Backend::kAuto);
  Encoder(const Encoder&) = delete;  // the ops point into weights_
  Encoder& operator=(const Encoder&) = delete;
  const EncoderWeights& weights() const { return w_; }
  // Sees each layer's attention inputs q, k, v: [heads][1500][64] each.
  using AttentionObserver =
      std::function<void(int layer, const float* q, const float* k, const float* v)>;

  std::vector<float> encode(const float* mel, ThreadPool& pool, EncoderTimings* timings = nullptr,
                            const AttentionObserver& observe = nullptr) const;

 private:
  struct LayerOps {
    LinearOp qkv, attn_out, fc1, fc2;
  };
  EncoderWeights w_;
  Precision precision_;
  Backend backend_;
  LinearOp conv1_, conv2_;
  std::vector<LayerOps> layers_;
};

}  // namespace amanuensis
