#include "model/encoder.h"

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "kernels/attention/attention.h"

namespace amanuensis {
namespace {

constexpr int kHeadDim = attn::kHeadDim;
constexpr float kLayerNormEps = 1e-5f;

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

// y[m][n] = sum_k x[m][k] * weight[n][k] + bias[n]
void linear_f32(const float* x, int rows, const Linear& l, float* y) {
  for (int m = 0; m < rows; ++m)
    for (int n = 0; n < l.out; ++n) y[size_t(m) * l.out + n] = l.bias[n];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, l.out, l.in, 1.0f, x, l.in,
              l.weight.data(), l.in, 1.0f, y, l.out);
}

void gelu(float* x, size_t n) {  // exact (erf) GELU, as nn.GELU()
  for (size_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
}

void layer_norm(const float* x, int rows, int d, const LayerNormWeights& ln, float* y) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + size_t(r) * d;
    double mean = 0, var = 0;
    for (int c = 0; c < d; ++c) mean += xr[c];
    mean /= d;
    for (int c = 0; c < d; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    const float inv = float(1.0 / std::sqrt(var / d + kLayerNormEps));
    for (int c = 0; c < d; ++c)
      y[size_t(r) * d + c] = (xr[c] - float(mean)) * inv * ln.gamma[c] + ln.beta[c];
  }
}

// Kernel-3, padding-1 convolution as a GEMM: row t of the im2col matrix holds
// in[c][stride * t + tap - 1] at column c * 3 + tap. `in` is [channels][len]
// when channel_major, else [len][channels].
std::vector<float> conv3(const float* in, int channels, int len, bool channel_major, int stride,
                         const Linear& l) {
  const int out_len = len / stride;
  std::vector<float> cols(size_t(out_len) * channels * 3, 0.0f);
  for (int t = 0; t < out_len; ++t)
    for (int c = 0; c < channels; ++c)
      for (int tap = 0; tap < 3; ++tap) {
        const int s = stride * t + tap - 1;
        if (s < 0 || s >= len) continue;
        cols[(size_t(t) * channels + c) * 3 + tap] =
            channel_major ? in[size_t(c) * len + s] : in[size_t(s) * channels + c];
      }
  std::vector<float> out(size_t(out_len) * l.out);
  linear_f32(cols.data(), out_len, l, out.data());
  gelu(out.data(), out.size());
  return out;
}

void attention_f32(const float* q, const float* k, const float* v, int heads, int len, float* out,
                   ThreadPool& pool) {
  const float scale = 1.0f / std::sqrt(float(kHeadDim));
  pool.parallel_for(heads, [&](int h) {
    const size_t off = size_t(h) * len * kHeadDim;
    std::vector<float> s(size_t(len) * len);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, kHeadDim, scale, q + off,
                kHeadDim, k + off, kHeadDim, 0.0f, s.data(), len);
    for (int i = 0; i < len; ++i) {
      float* row = s.data() + size_t(i) * len;
      float mx = row[0];
      for (int j = 1; j < len; ++j) mx = std::max(mx, row[j]);
      double sum = 0;
      for (int j = 0; j < len; ++j) sum += (row[j] = std::exp(row[j] - mx));
      const float inv = float(1.0 / sum);
      for (int j = 0; j < len; ++j) row[j] *= inv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, kHeadDim, len, 1.0f, s.data(), len,
                v + off, kHeadDim, 0.0f, out + off, kHeadDim);
  });
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "int8") return Precision::kInt8;
  throw std::invalid_argument("unknown precision '" + name + "' (use int8 or fp32)");
}

std::vector<float> encode(const EncoderWeights& w, const float* mel, Precision precision,
                          ThreadPool& pool, EncoderTimings* timings) {
  const int d = w.d_model, n = w.n_ctx, heads = w.n_heads;
  // Attention runs on our pool; inside the per-head loop BLAS must not spawn more.
  openblas_set_num_threads(pool.threads());
  StageClock clock(timings);

  std::vector<float> h1 = conv3(mel, w.n_mels, kMelFrames, true, 1, w.conv1);
  std::vector<float> x = conv3(h1.data(), d, kMelFrames, false, 2, w.conv2);  // [n][d]
  for (size_t i = 0; i < x.size(); ++i) x[i] += w.positions[i];
  clock.charge(&EncoderTimings::conv);

  std::vector<float> ln(size_t(n) * d), qkv(size_t(n) * 3 * d), heads_in(size_t(3) * n * d),
      att(size_t(n) * d), att_rows(size_t(n) * d), proj(size_t(n) * d), mlp(size_t(n) * 4 * d);
  for (const EncoderLayerWeights& l : w.layers) {
    layer_norm(x.data(), n, d, l.attn_ln, ln.data());
    clock.charge(&EncoderTimings::other);
    linear_f32(ln.data(), n, l.qkv, qkv.data());
    clock.charge(&EncoderTimings::gemm);
    // [n][3][heads][64] -> q, k, v as [heads][n][64]
    for (int t = 0; t < n; ++t)
      for (int part = 0; part < 3; ++part)
        for (int hh = 0; hh < heads; ++hh)
          std::copy_n(&qkv[(size_t(t) * 3 + part) * d + hh * kHeadDim], kHeadDim,
                      &heads_in[((size_t(part) * heads + hh) * n + t) * kHeadDim]);
    const float *q = heads_in.data(), *k = q + size_t(n) * d, *v = k + size_t(n) * d;
    clock.charge(&EncoderTimings::other);
    if (precision == Precision::kFp32) {
      openblas_set_num_threads(1);
      attention_f32(q, k, v, heads, n, att.data(), pool);
      openblas_set_num_threads(pool.threads());
    } else {
      const attn::QuantizedAttention p = attn::quantize_attention(q, k, v, heads, n, n, false);
      attn::run_attention(p, attn::Backend::kAuto, attn::kMaxTile, pool, att.data());
    }
    clock.charge(&EncoderTimings::attention);
    for (int hh = 0; hh < heads; ++hh)
      for (int t = 0; t < n; ++t)
        std::copy_n(&att[(size_t(hh) * n + t) * kHeadDim], kHeadDim,
                    &att_rows[size_t(t) * d + hh * kHeadDim]);
    clock.charge(&EncoderTimings::other);
    linear_f32(att_rows.data(), n, l.attn_out, proj.data());
    clock.charge(&EncoderTimings::gemm);
    for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
    layer_norm(x.data(), n, d, l.mlp_ln, ln.data());
    clock.charge(&EncoderTimings::other);
    linear_f32(ln.data(), n, l.fc1, mlp.data());
    clock.charge(&EncoderTimings::gemm);
    gelu(mlp.data(), mlp.size());
    clock.charge(&EncoderTimings::other);
    linear_f32(mlp.data(), n, l.fc2, proj.data());
    clock.charge(&EncoderTimings::gemm);
    for (size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
  }
  std::vector<float> out(size_t(n) * d);
  layer_norm(x.data(), n, d, w.ln_post, out.data());
  clock.charge(&EncoderTimings::other);
  return out;
}

}  // namespace amanuensis
