// The network, per 576-sample window (64 context + 512 new samples):
// reflect-pad 64 on the right, a 256-tap STFT as a convolution (stride 128,
// 4 frames, magnitudes of 129 bins), four 3-tap convolutions with ReLU
// (strides 1, 2, 2, 1: 4 -> 4 -> 2 -> 1 frames), an LSTM cell (128) carried
// across windows, ReLU, a 1x1 convolution and a sigmoid.
//
// Activations are [frame][channel] and weights are stored transposed, so that
// every inner loop runs over output channels: each output is a sum in one
// fixed order, and the loops vectorize without reassociation. Windows are
// encoded kGroup at a time, each weight loaded once for the group (one window
// at a time, the weights' trips through L2 set the pace); a window's sums and
// their order do not depend on the group, so neither do the bytes.
#include "vad/silero_vad.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/safetensors_format.h"
#include "kernels/per_isa.h"
#include "layers/float_math.h"

namespace amanuensis::vad {
namespace {

constexpr int kWindow = kContext + kChunk;  // 576
constexpr int kPadded = kWindow + 64;       // 640 after the reflect pad
constexpr int kFft = 256, kHop = 128, kFrames = 4, kBins = kFft / 2 + 1;
constexpr int kStftRow = 272;  // 2 * kBins outputs padded to whole 16-float vectors
constexpr int kHidden = 128, kGates = 4 * kHidden;
constexpr int kBlock = 256;  // windows encoded in parallel before the LSTM runs over them
constexpr int kGroup = 4;    // windows encoded together (kBlock is a multiple)
static_assert(kBlock % kGroup == 0);

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

// For each of G windows g: acc_g[o] += w[k * ld + o] * x_g[k] for k = 0, 1,
// ..., rows - 1 in that order and o < n (a multiple of 16 * V), with acc_g =
// acc + g * acc_stride and x_g = x + g * x_stride. V vectors of 16 outputs of
// the G windows stay in registers through all the steps (sums kept in memory
// waited on a store and a reload each step), each weight loaded once for all
// of them; G * V independent sums hide the additions' latency.
template <int G, int V>
[[gnu::always_inline]] inline void accumulate(float* acc, size_t acc_stride, const float* w,
                                              size_t ld, const float* x, size_t x_stride, int rows,
                                              int n) {
  for (int o0 = 0; o0 < n; o0 += 16 * V) {
    Floats16 a[G][V];
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < V; ++v)
        std::memcpy(&a[g][v], acc + g * acc_stride + o0 + 16 * v, sizeof(Floats16));
    for (int k = 0; k < rows; ++k) {
      Floats16 wk[V];
      std::memcpy(wk, w + k * ld + o0, sizeof wk);
      for (int g = 0; g < G; ++g) {
        const float xk = x[g * x_stride + k];
        for (int v = 0; v < V; ++v) a[g][v] += wk[v] * xk;
      }
    }
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < V; ++v)
        std::memcpy(acc + g * acc_stride + o0 + 16 * v, &a[g][v], sizeof(Floats16));
  }
}

// The encoder and the LSTM's input projection of G windows: window g starts
// at first + g * kChunk, its b_ih + W_ih x goes to gates_in + g * kGates.
template <int G>
[[gnu::always_inline]] inline void encode(const Network& net, const float* first, float* gates_in) {
  // Each window reflect-padded by 64 on the right.
  float x[G][kPadded];
  for (int g = 0; g < G; ++g) {
    const float* window = first + g * kChunk;
    std::copy(window, window + kWindow, x[g]);
    for (int j = 0; j < 64; ++j) x[g][kWindow + j] = window[kWindow - 2 - j];
  }

  // STFT: 129 real and 129 imaginary outputs per frame, then magnitudes.
  float mag[G][kFrames][kBins];
  for (int t = 0; t < kFrames; ++t) {
    float spec[G][kStftRow] = {};
    accumulate<G, 1>(&spec[0][0], kStftRow, net.stft.data(), kStftRow, &x[0][t * kHop], kPadded,
                     kFft, kStftRow);
    for (int g = 0; g < G; ++g)
      for (int k = 0; k < kBins; ++k)
        mag[g][t][k] = std::sqrt(spec[g][k] * spec[g][k] + spec[g][kBins + k] * spec[g][kBins + k]);
  }

  // Four 3-tap convolutions (padding 1) with ReLU, [frame][channel] in and out.
  constexpr int kBuf = kFrames * kBins;  // the largest activation of a window
  float buf_a[G][kBuf], buf_b[G][kBuf];
  const float* in = &mag[0][0][0];
  float* out = &buf_a[0][0];
  int frames = kFrames;
  for (const Network::Conv& c : net.conv) {
    const int out_frames = (frames - 1) / c.stride + 1;
    for (int t = 0; t < out_frames; ++t) {
      for (int g = 0; g < G; ++g) std::copy(c.b.begin(), c.b.end(), out + g * kBuf + t * c.out);
      for (int k = 0; k < 3; ++k) {
        const int ti = t * c.stride + k - 1;
        if (ti < 0 || ti >= frames) continue;
        accumulate<G, 1>(out + t * c.out, kBuf, &c.w[size_t(k) * c.out], 3 * c.out, in + ti * c.in,
                         kBuf, c.in, c.out);
      }
      for (int g = 0; g < G; ++g)
        for (int o = 0; o < c.out; ++o) {
          float& v = out[g * kBuf + t * c.out + o];
          v = std::max(v, 0.0f);
        }
    }
    frames = out_frames;
    in = out;
    out = out == &buf_a[0][0] ? &buf_b[0][0] : &buf_a[0][0];
  }

  // The LSTM's input projection (one frame of 128 features).
  for (int g = 0; g < G; ++g) std::copy(net.b_ih.begin(), net.b_ih.end(), gates_in + g * kGates);
  accumulate<G, 1>(gates_in, kGates, net.w_ih.data(), kGates, in, kBuf, kHidden, kGates);
}

// The recurrent half of the LSTM's gates: g += W_hh h.
[[gnu::always_inline]] inline void recurrent_gates(const Network& net, const float* h, float* g) {
  accumulate<1, 4>(g, 0, net.w_hh.data(), kGates, h, 0, kHidden, kGates);
}

// w as [rows][cols] -> [cols][ld], ld >= rows, the padding zeros.
std::vector<float> transpose(const std::vector<float>& w, int rows, int cols, int ld) {
  std::vector<float> t(size_t(cols) * ld, 0.0f);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) t[size_t(c) * ld + r] = w[size_t(r) * cols + c];
  return t;
}
std::vector<float> transpose(const std::vector<float>& w, int rows, int cols) {
  return transpose(w, rows, cols, rows);
}

}  // namespace

SileroVad::SileroVad(const std::string& path, Backend backend)
    : encode_one_(PerIsa<encode<1>>::pick(resolve_backend(backend))),
      encode_group_(PerIsa<encode<kGroup>>::pick(resolve_backend(backend))),
      recurrent_gates_(PerIsa<recurrent_gates>::pick(resolve_backend(backend))) {
  TensorFile f = read_safetensors(path);
  const std::string what = path + " (Silero VAD)";
  net_.stft =
      transpose(f.take("stft_conv.weight", {2 * kBins, 1, kFft}, what), 2 * kBins, kFft, kStftRow);
  const int shapes[4][3] = {{kBins, 128, 1}, {128, 64, 2}, {64, 64, 2}, {64, 128, 1}};
  for (int l = 0; l < 4; ++l) {
    Network::Conv& c = net_.conv[l];
    c.in = shapes[l][0];
    c.out = shapes[l][1];
    c.stride = shapes[l][2];
    const std::string name = "conv" + std::to_string(l + 1);
    // [out][in][3] -> [in][3][out]
    c.w = transpose(f.take(name + ".weight", {c.out, c.in, 3}, what), c.out, c.in * 3);
    c.b = f.take(name + ".bias", {c.out}, what);
  }
  net_.w_ih = transpose(f.take("lstm_cell.weight_ih", {kGates, kHidden}, what), kGates, kHidden);
  net_.w_hh = transpose(f.take("lstm_cell.weight_hh", {kGates, kHidden}, what), kGates, kHidden);
  net_.b_ih = f.take("lstm_cell.bias_ih", {kGates}, what);
  net_.b_hh = f.take("lstm_cell.bias_hh", {kGates}, what);
  net_.head_w = f.take("final_conv.weight", {1, kHidden, 1}, what);
  net_.head_b = f.take("final_conv.bias", {1}, what)[0];
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
    pool.parallel_for((count + kGroup - 1) / kGroup, [&](int group) {
      const int i0 = group * kGroup;
      if (i0 + kGroup <= count)
        return encode_group_(net_, &audio[size_t(begin + i0) * kChunk],
                             &gates_in[size_t(i0) * kGates]);
      for (int i = i0; i < count; ++i)
        encode_one_(net_, &audio[size_t(begin + i) * kChunk], &gates_in[size_t(i) * kGates]);
    });
    for (int i = 0; i < count; ++i)
      probs[size_t(begin + i)] = step(&gates_in[size_t(i) * kGates], h, c);
  }
  return probs;
}

float SileroVad::step(const float* gates_in, float* h, float* c) const {
  float g[kGates];
  for (int j = 0; j < kGates; ++j) g[j] = gates_in[j] + net_.b_hh[j];
  recurrent_gates_(net_, h, g);
  // PyTorch's gate order: input, forget, cell, output.
  float logit = net_.head_b;
  for (int j = 0; j < kHidden; ++j) {
    c[j] = sigmoid(g[kHidden + j]) * c[j] + sigmoid(g[j]) * tanh_deterministic(g[2 * kHidden + j]);
    h[j] = sigmoid(g[3 * kHidden + j]) * tanh_deterministic(c[j]);
    logit += net_.head_w[j] * std::max(h[j], 0.0f);
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
  encode_one_(net_, window, gates_in);
  return step(gates_in, stream.h, stream.c);
}

}  // namespace amanuensis::vad
