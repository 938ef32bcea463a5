// The network, per 576-sample window (64 context + 512 new samples):
// reflect-pad 64 on the right, a 256-tap STFT as a convolution (stride 128,
// 4 frames, magnitudes of 129 bins), four 3-tap convolutions with ReLU
// (strides 1, 2, 2, 1: 4 -> 4 -> 2 -> 1 frames), an LSTM cell (128) carried
// across windows, ReLU, a 1x1 convolution and a sigmoid.
//
// Activations are [frame][channel] and weights are stored transposed, so that
// every inner loop runs over output channels: each output is a sum in one
// fixed order, and the loops vectorize without reassociation.
#include "vad/silero_vad.h"

#include <algorithm>
#include <cmath>

#include "formats/safetensors_format.h"
#include "kernels/per_isa.h"
#include "layers/float_math.h"

namespace amanuensis::vad {
namespace {

constexpr int kWindow = kContext + kChunk;  // 576
constexpr int kPadded = kWindow + 64;       // 640 after the reflect pad
constexpr int kFft = 256, kHop = 128, kFrames = 4, kBins = kFft / 2 + 1;
constexpr int kHidden = 128, kGates = 4 * kHidden;
constexpr int kBlock = 256;  // windows encoded in parallel before the LSTM runs over them

float sigmoid(float x) {
  const float e = exp_nonpositive(-std::fabs(x));  // e^-|x|
  const float s = 1.0f / (1.0f + e);               // sigmoid(|x|)
  return x >= 0.0f ? s : e * s;
}

float tanh_deterministic(float x) {
  const float e = exp_nonpositive(-2.0f * std::fabs(x));
  const float t = (1.0f - e) / (1.0f + e);
  return x >= 0.0f ? t : -t;
}

// acc[0..n) += w[0..n) * x: one step of a sum in fixed order.
[[gnu::always_inline]] inline void axpy(float* acc, const float* w, float x, int n) {
  for (int o = 0; o < n; ++o) acc[o] += w[o] * x;
}

// w as [rows][cols] -> [cols][rows].
std::vector<float> transpose(const std::vector<float>& w, int rows, int cols) {
  std::vector<float> t(w.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) t[size_t(c) * rows + r] = w[size_t(r) * cols + c];
  return t;
}

}  // namespace

SileroVad::SileroVad(const std::string& path, Backend backend)
    : axpy_(PerIsa<axpy>::pick(resolve_backend(backend))) {
  TensorFile f = read_safetensors(path);
  const std::string what = path + " (Silero VAD)";
  stft_ = transpose(f.take("stft_conv.weight", {2 * kBins, 1, kFft}, what), 2 * kBins, kFft);
  const int shapes[4][3] = {{kBins, 128, 1}, {128, 64, 2}, {64, 64, 2}, {64, 128, 1}};
  for (int l = 0; l < 4; ++l) {
    Conv& c = conv_[l];
    c.in = shapes[l][0];
    c.out = shapes[l][1];
    c.stride = shapes[l][2];
    const std::string name = "conv" + std::to_string(l + 1);
    // [out][in][3] -> [in][3][out]
    c.w = transpose(f.take(name + ".weight", {c.out, c.in, 3}, what), c.out, c.in * 3);
    c.b = f.take(name + ".bias", {c.out}, what);
  }
  w_ih_ = transpose(f.take("lstm_cell.weight_ih", {kGates, kHidden}, what), kGates, kHidden);
  w_hh_ = transpose(f.take("lstm_cell.weight_hh", {kGates, kHidden}, what), kGates, kHidden);
  b_ih_ = f.take("lstm_cell.bias_ih", {kGates}, what);
  b_hh_ = f.take("lstm_cell.bias_hh", {kGates}, what);
  head_w_ = f.take("final_conv.weight", {1, kHidden, 1}, what);
  head_b_ = f.take("final_conv.bias", {1}, what)[0];
}

void SileroVad::encode(const float* window, float* gates_in) const {
  float x[kPadded];
  std::copy(window, window + kWindow, x);
  for (int j = 0; j < 64; ++j) x[kWindow + j] = window[kWindow - 2 - j];  // reflect

  // STFT: 129 real and 129 imaginary outputs per frame, then magnitudes.
  float mag[kFrames][kBins];
  for (int t = 0; t < kFrames; ++t) {
    float spec[2 * kBins] = {};
    for (int n = 0; n < kFft; ++n)
      axpy_(spec, &stft_[size_t(n) * 2 * kBins], x[t * kHop + n], 2 * kBins);
    for (int k = 0; k < kBins; ++k)
      mag[t][k] = std::sqrt(spec[k] * spec[k] + spec[kBins + k] * spec[kBins + k]);
  }

  // Four 3-tap convolutions (padding 1) with ReLU, [frame][channel] in and out.
  float buf_a[kFrames * 128], buf_b[kFrames * 128];
  const float* in = &mag[0][0];
  float* out = buf_a;
  int frames = kFrames;
  for (const Conv& c : conv_) {
    const int out_frames = (frames - 1) / c.stride + 1;
    for (int t = 0; t < out_frames; ++t) {
      float* acc = out + t * c.out;
      std::copy(c.b.begin(), c.b.end(), acc);
      for (int k = 0; k < 3; ++k) {
        const int ti = t * c.stride + k - 1;
        if (ti < 0 || ti >= frames) continue;
        for (int ch = 0; ch < c.in; ++ch)
          axpy_(acc, &c.w[size_t(ch * 3 + k) * c.out], in[ti * c.in + ch], c.out);
      }
      for (int o = 0; o < c.out; ++o) acc[o] = std::max(acc[o], 0.0f);
    }
    frames = out_frames;
    in = out;
    out = out == buf_a ? buf_b : buf_a;
  }

  // The LSTM's input projection (one frame of 128 features).
  std::copy(b_ih_.begin(), b_ih_.end(), gates_in);
  for (int i = 0; i < kHidden; ++i) axpy_(gates_in, &w_ih_[size_t(i) * kGates], in[i], kGates);
}

std::vector<float> SileroVad::probabilities(const std::vector<float>& samples,
                                            ThreadPool& pool) const {
  const int64_t n = int64_t(samples.size()) / kChunk + 1;
  // The padded audio with 64 samples of zeros in front: window i starts at i * 512.
  std::vector<float> audio(size_t(kContext + n * kChunk), 0.0f);
  std::copy(samples.begin(), samples.end(), audio.begin() + kContext);
  std::fill(audio.end() - kContext, audio.end(), 0.0f);  // faster-whisper's in-place clear

  std::vector<float> probs(n);
  std::vector<float> gates_in(size_t(kBlock) * kGates);
  float h[kHidden] = {}, c[kHidden] = {};
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int count = int(std::min<int64_t>(kBlock, n - begin));
    pool.parallel_for(count, [&](int i) {
      encode(&audio[size_t(begin + i) * kChunk], &gates_in[size_t(i) * kGates]);
    });
    for (int i = 0; i < count; ++i)
      probs[size_t(begin + i)] = step(&gates_in[size_t(i) * kGates], h, c);
  }
  return probs;
}

float SileroVad::step(const float* gates_in, float* h, float* c) const {
  float g[kGates];
  for (int j = 0; j < kGates; ++j) g[j] = gates_in[j] + b_hh_[j];
  for (int j = 0; j < kHidden; ++j) axpy_(g, &w_hh_[size_t(j) * kGates], h[j], kGates);
  // PyTorch's gate order: input, forget, cell, output.
  float logit = head_b_;
  for (int j = 0; j < kHidden; ++j) {
    c[j] = sigmoid(g[kHidden + j]) * c[j] + sigmoid(g[j]) * tanh_deterministic(g[2 * kHidden + j]);
    h[j] = sigmoid(g[3 * kHidden + j]) * tanh_deterministic(c[j]);
    logit += head_w_[j] * std::max(h[j], 0.0f);
  }
  return sigmoid(logit);
}

float SileroVad::next(const float* chunk, Stream& stream) const {
  static_assert(sizeof(Stream::h) == kHidden * sizeof(float));
  float window[kWindow];
  std::copy(stream.context, stream.context + kContext, window);
  std::copy(chunk, chunk + kChunk, window + kContext);
  std::copy(chunk + kChunk - kContext, chunk + kChunk, stream.context);
  float gates_in[kGates];
  encode(window, gates_in);
  return step(gates_in, stream.h, stream.c);
}

}  // namespace amanuensis::vad
