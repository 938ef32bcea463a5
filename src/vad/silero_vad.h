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

// The weights, laid out for the loops (silero_vad.cc).
struct Network {
  struct Conv {
    int in = 0, out = 0, stride = 1;
    std::vector<float> w;  // [in][3][out]: the inner loop runs over outputs
    std::vector<float> b;  // [out]
  };
  std::vector<float> stft;  // [256][272]: cos 0..128, sin 129..257, zeros
  Conv conv[4];
  std::vector<float> w_ih, w_hh;  // [128][512]
  std::vector<float> b_ih, b_hh;  // [512]
  std::vector<float> head_w;      // [128]
  float head_b = 0;
};

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
  // The backend's copies of the loops (silero_vad.cc): the encoder of one
  // window or of a group of windows, and W_hh h added to the gates.
  void (*encode_one_)(const Network&, const float* window, float* gates_in);
  void (*encode_group_)(const Network&, const float* first_window, float* gates_in);
  void (*recurrent_gates_)(const Network&, const float* h, float* gates);
  // The LSTM cell and the head: one probability from the encoder's output.
  float step(const float* gates_in, float* h, float* c) const;

  Network net_;
};

}  // namespace amanuensis::vad
