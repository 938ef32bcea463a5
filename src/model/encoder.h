// The Whisper encoder: log-mel [n_mels][3000] -> hidden states [1500][d].
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "layers/attention.h"
#include "layers/linear.h"
#include "model/whisper_weights.h"
#include "util/interrupt.h"
#include "util/thread_pool.h"
#include "util/uninit_vector.h"
#include "util/whisper_geometry.h"

namespace amanuensis {

inline constexpr int kMelFrames = int(kChunkFrames);  // one 30 s window

// Per-stage wall time of one encode, milliseconds.
struct EncoderTimings {
  double conv = 0, attention = 0, gemm = 0, other = 0;
};

class Encoder {
 public:
  // int8: weights quantized here, once. The backend of the int8 kernels
  // changes speed only: every backend gives the same output bytes.
  Encoder(EncoderWeights weights, Precision precision, Backend backend = Backend::kAuto);
  Encoder(const Encoder&) = delete;  // large: share it, do not copy it
  Encoder& operator=(const Encoder&) = delete;
  // Hyperparameters, norms and positions (the linear weights live in the ops).
  const EncoderWeights& weights() const { return w_; }
  // Sees each layer's attention inputs q, k, v: [heads][1500][64] each.
  using AttentionObserver =
      std::function<void(int layer, const float* q, const float* k, const float* v)>;

  // `interrupt` is checked before each layer.
  UninitVector<float> encode(const float* mel, ThreadPool& pool, EncoderTimings* timings = nullptr,
                             const AttentionObserver& observe = nullptr,
                             const Interrupt& interrupt = {}) const;

 private:
  struct LayerOps {
    LinearOp qkv, attn_out, fc1, fc2;
  };
  EncoderWeights w_;
  Backend backend_;
  LinearOp conv1_, conv2_;
  SequenceAttention attention_;
  std::vector<LayerOps> layers_;
};

}  // namespace amanuensis
