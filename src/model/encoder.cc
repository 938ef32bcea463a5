#include "model/encoder.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "kernels/attention/attention.h"
#include "layers/float_ops.h"
#include "layers/linear.h"
#include "util/uninit_vector.h"
#include "util/whisper_geometry.h"

namespace amanuensis {
namespace {

// One Q/K plane, not the kernel's default two: on real Whisper attention one
// plane's error is 4-6e-3 relative L2 (docs/attention.md §5), far inside the
// encoder's own accuracy target, and two planes cost 1.7x the attention time.
constexpr int kEncoderQkPlanes = 1;

class StageClock {
 public:
  explicit StageClock(EncoderTimings* t) : t_(t), last_(std::chrono::steady_clock::now()) {}
  void charge(double EncoderTimings::*stage) {
    const auto now = std::chrono::steady_clock::now();
    if (t_) t_->*stage += std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }

 private:
  EncoderTimings* t_;
  std::chrono::steady_clock::time_point last_;
};

// Kernel-3, padding-1 convolution + GELU (op's activation) of `len` frames
// as a GEMM. `padded` holds the frames with a zero frame before and after:
// [len + 2][channels]. Row t of the im2col matrix, input frames stride*t - 1
// .. stride*t + 1 in the [out][tap][in] weight layout, is then the contiguous
// 3 * channels floats at padded row stride*t: the GEMM reads it in place, rows
// stride*channels apart.
void conv3(const float* padded, int channels, int len, int stride, const LinearOp& op, float* out,
           ThreadPool& pool) {
  op.apply(padded, len / stride, out, pool, size_t(stride) * channels);
}

// Hands the observer packed [heads][n][64] copies of q, k and v.
void observe_heads(const Encoder::AttentionObserver& observe, int layer, attn::HeadsIn q,
                   attn::HeadsIn k, attn::HeadsIn v, int heads, int n) {
  std::vector<float> packed(size_t(3) * heads * n * kHeadDim);
  float* dst = packed.data();
  for (const attn::HeadsIn& x : {q, k, v})
    for (int h = 0; h < heads; ++h)
      for (int t = 0; t < n; ++t, dst += kHeadDim) std::copy_n(x.row(h, t), kHeadDim, dst);
  const float* p = packed.data();
  const size_t part = size_t(heads) * n * kHeadDim;
  observe(layer, p, p + part, p + 2 * part);
}

}  // namespace

// The linear layers' weights move into their ops (int8 keeps no float copy);
// w_ keeps the hyperparameters, norms and positions.
Encoder::Encoder(EncoderWeights weights, Precision precision, Backend backend)
    : w_(std::move(weights)),
      backend_(resolve_backend(backend)),
      conv1_(std::move(w_.conv1), precision, backend_, true, Activation::kGelu),
      conv2_(std::move(w_.conv2), precision, backend_, true, Activation::kGelu),
      attention_(precision, backend_, kEncoderQkPlanes) {
  for (EncoderLayerWeights& l : w_.layers)
    layers_.push_back({LinearOp(std::move(l.qkv), precision, backend_),
                       LinearOp(std::move(l.attn_out), precision, backend_),
                       LinearOp(std::move(l.fc1), precision, backend_, true, Activation::kGelu),
                       LinearOp(std::move(l.fc2), precision, backend_)});
}

UninitVector<float> Encoder::encode(const float* mel, ThreadPool& pool, EncoderTimings* timings,
                                    const AttentionObserver& observe,
                                    const Interrupt& interrupt) const {
  const EncoderWeights& w = w_;
  const int d = w.d_model, n = w.n_ctx, heads = w.n_heads;
  StageClock clock(timings);

  // mel [n_mels][3000] -> frames [3000][n_mels], each conv's input with a zero frame at both ends.
  UninitVector<float> frames(size_t(kMelFrames + 2) * w.n_mels);
  std::fill_n(frames.begin(), w.n_mels, 0.0f);
  std::fill_n(frames.end() - w.n_mels, w.n_mels, 0.0f);
  for (int c = 0; c < w.n_mels; ++c)
    for (int t = 0; t < kMelFrames; ++t)
      frames[size_t(t + 1) * w.n_mels + c] = mel[size_t(c) * kMelFrames + t];
  UninitVector<float> h1(size_t(kMelFrames + 2) * d), x(size_t(n) * d);
  std::fill_n(h1.begin(), d, 0.0f);
  std::fill_n(h1.end() - d, d, 0.0f);
  conv3(frames.data(), w.n_mels, kMelFrames, 1, conv1_, h1.data() + d, pool);
  conv3(h1.data(), d, kMelFrames, 2, conv2_, x.data(), pool);  // [n][d]
  add_inplace(x.data(), w.positions.data(), x.size(), backend_, pool);
  clock.charge(&EncoderTimings::conv);

  UninitVector<float> ln(size_t(n) * d), qkv(size_t(n) * 3 * d), att(size_t(n) * d),
      proj(size_t(n) * d), mlp(size_t(n) * 4 * d);
  for (size_t li = 0; li < w.layers.size(); ++li) {
    interrupt.check();
    const EncoderLayerWeights& l = w.layers[li];
    const LayerOps& ops = layers_[li];
    layer_norm(x.data(), n, d, l.attn_ln, ln.data(), backend_, pool);
    clock.charge(&EncoderTimings::other);
    ops.qkv.apply(ln.data(), n, qkv.data(), pool);
    clock.charge(&EncoderTimings::gemm);
    // Q, K and V are views of qkv [n][3][heads][64]; the attention writes its
    // output [n][heads][64] straight into att.
    const size_t row = size_t(3) * d;
    const attn::HeadsIn q{qkv.data(), kHeadDim, row}, k{qkv.data() + d, kHeadDim, row},
        v{qkv.data() + 2 * d, kHeadDim, row};
    const attn::HeadsOut out{att.data(), kHeadDim, size_t(d)};
    if (observe) observe_heads(observe, int(li), q, k, v, heads, n);
    attention_.apply(q, k, v, heads, n, out, pool);
    clock.charge(&EncoderTimings::attention);
    ops.attn_out.apply(att.data(), n, proj.data(), pool);
    clock.charge(&EncoderTimings::gemm);
    add_inplace(x.data(), proj.data(), x.size(), backend_, pool);
    layer_norm(x.data(), n, d, l.mlp_ln, ln.data(), backend_, pool);
    clock.charge(&EncoderTimings::other);
    ops.fc1.apply(ln.data(), n, mlp.data(), pool);  // with its GELU
    clock.charge(&EncoderTimings::gemm);
    ops.fc2.apply(mlp.data(), n, proj.data(), pool);
    clock.charge(&EncoderTimings::gemm);
    add_inplace(x.data(), proj.data(), x.size(), backend_, pool);
  }
  UninitVector<float> out(size_t(n) * d);
  layer_norm(x.data(), n, d, w.ln_post, out.data(), backend_, pool);
  clock.charge(&EncoderTimings::other);
  return out;
}

}  // namespace amanuensis
