// The Whisper encoder: log-mel [n_mels][3000] -> hidden states [1500][d].
#pragma once

#include <string>
#include <vector>

#include "model/whisper_weights.h"
#include "util/thread_pool.h"

namespace amanuensis {

enum class Precision {
  kFp32,  // float32 everywhere: the accuracy yardstick of the same code path
  kInt8,  // int8 attention kernel (GEMMs stay float32 for now)
};
Precision parse_precision(const std::string& name);  // "fp32" | "int8"

inline constexpr int kMelFrames = 3000;  // one 30 s window

// Per-stage wall time of one encode, milliseconds.
struct EncoderTimings {
  double conv = 0, attention = 0, gemm = 0, other = 0;
};

std::vector<float> encode(const EncoderWeights& w, const float* mel, Precision precision,
                          ThreadPool& pool, EncoderTimings* timings = nullptr);

}  // namespace amanuensis
