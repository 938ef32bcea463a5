// Silero VAD v6 (16 kHz), run by the engine from silero_vad_v6_16k.safetensors:
// one speech probability per 512 samples, as faster-whisper 1.2.1 computes
// them. Plain float32, fixed summation order, exp from layers/float_math.h:
// the same bytes on every CPU and thread count.
#pragma once

#include <string>
#include <vector>

#include "kernels/backend.h"
#include "util/thread_pool.h"
#include "util/whisper_geometry.h"

namespace amanuensis::vad {

using ::amanuensis::kSampleRate;
constexpr int kChunk = 512;   // new samples per probability (32 ms)
constexpr int kContext = 64;  // samples of the previous chunk each step also sees

class SileroVad {
 public:
  // Throws ModelError naming the file (unreadable, truncated, missing or
  // wrong-shaped tensors). backend: the instruction set of its loops (every
  // one gives the same bytes); throws Error if this CPU cannot run it.
  explicit SileroVad(const std::string& path, Backend backend = Backend::kAuto);

  // faster-whisper's SileroVADModel on its get_speech_timestamps input: the
  // audio padded with zeros to the next multiple of 512 (a whole extra chunk
  // when already a multiple), 64 samples of context before each chunk (zeros
  // before the first), the last 64 samples of the last chunk zeroed (its
  // context slice is a view that it clears in place), one LSTM state carried
  // through the whole file. Returns samples.size() / 512 + 1 probabilities.
  std::vector<float> probabilities(const std::vector<float>& samples, ThreadPool& pool) const;

  // The same network one chunk at a time, for live audio. A stream carries
  // its LSTM state and the last samples of its previous chunk.
  struct Stream {
    float h[128] = {}, c[128] = {};
    float context[kContext] = {};
  };
  // The speech probability of the next kChunk samples: chunk i of a stream
  // gives the same bytes as probabilities() of the whole recording at i, for
  // every chunk but the recording's last (which faster-whisper clears).
  float next(const float* chunk, Stream& stream) const;

 private:
  struct Conv {
    int in = 0, out = 0, stride = 1;
    std::vector<float> w;  // [in][3][out]: the inner loop runs over outputs
    std::vector<float> b;  // [out]
  };
  // The encoder and the LSTM's input projection of one 576-sample window:
  // b_ih + W_ih x, [512]. Independent of other chunks.
  void encode(const float* window, float* gates_in) const;
  // The LSTM cell and the head: one probability from encode()'s output.
  float step(const float* gates_in, float* h, float* c) const;

  void (*axpy_)(float* acc, const float* w, float x, int n);  // the backend's copy
  std::vector<float> stft_;  // [256][258]: cos rows 0..128, sin rows 129..257
  Conv conv_[4];
  std::vector<float> w_ih_, w_hh_;  // [128][512]
  std::vector<float> b_ih_, b_hh_;  // [512]
  std::vector<float> head_w_;       // [128]
  float head_b_ = 0;
};

}  // namespace amanuensis::vad
