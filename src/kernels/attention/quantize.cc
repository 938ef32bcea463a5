// Float -> integer problem: the only place with floating point before the
// tile loop. Shared by every backend, so every backend sees the same bytes.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/attention/problem.h"

namespace amanuensis::attn {
namespace {

constexpr double kLog2E = 1.4426950408889634;

// Symmetric int8 scale for values of magnitude <= max_abs.
float scale_for(float max_abs) { return max_abs > 0 ? max_abs / 127.0f : 1.0f; }

int8_t quantize_one(float x, float inv_scale) {
  const float y = std::nearbyint(x * inv_scale);  // round half to even
  return static_cast<int8_t>(std::clamp(y, -127.0f, 127.0f));
}

void check_finite(const float* x, size_t n, const char* name) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      throw std::invalid_argument(std::string(name) + " has a non-finite value at flat index " +
                                  std::to_string(i));
    }
  }
}

// L = S * mult with mult = s_q * s_k * softmax_scale * log2(e) * 2^5, as (mul, shift):
// mul in [2^9, 2^10) when possible, so that S * mul never overflows int32.
LogitScale logit_scale_for(float s_q, float s_k, float softmax_scale) {
  const double mult = double(s_q) * double(s_k) * double(softmax_scale) * kLog2E *
                      double(1 << kLogitFracBits);
  if (mult == 0) return {0, kLogitMaxShift};
  int e = 0;
  const double m = std::frexp(mult, &e);  // mult = m * 2^e, m in [0.5, 1)
  int shift = kLogitMulBits - e;
  long mul = std::lround(std::ldexp(m, kLogitMulBits));
  if (mul == (1L << kLogitMulBits)) {  // m rounded up to 1.0
    mul >>= 1;
    shift -= 1;
  }
  if (shift < kLogitMinShift) {
    throw std::invalid_argument(
        "attention logits out of range: q/k scales give " + std::to_string(mult / 32) +
        " (base-2 logit units) per integer score unit; rescale the inputs");
  }
  if (shift > kLogitMaxShift) {  // tiny logits: attention is flat, precision is moot
    shift = kLogitMaxShift;
    mul = std::lround(std::ldexp(mult, shift));
  }
  return {static_cast<int32_t>(mul), shift};
}

// Per-block symmetric quantization of rows [len][64] into dst [pad][64].
void quantize_blocks(const float* src, int len, const float* mean, int8_t* dst,
                     std::vector<float>& scales) {
  for (int b = 0; b * kQuantBlock < len; ++b) {
    const int r0 = b * kQuantBlock, r1 = std::min(len, r0 + kQuantBlock);
    float max_abs = 0;
    for (int r = r0; r < r1; ++r)
      for (int c = 0; c < kHeadDim; ++c)
        max_abs = std::max(max_abs, std::fabs(src[r * kHeadDim + c] - (mean ? mean[c] : 0.0f)));
    const float s = scale_for(max_abs);
    const float inv = 1.0f / s;
    for (int r = r0; r < r1; ++r)
      for (int c = 0; c < kHeadDim; ++c)
        dst[r * kHeadDim + c] = quantize_one(src[r * kHeadDim + c] - (mean ? mean[c] : 0.0f), inv);
    scales.push_back(s);
  }
}

void channel_mean(const float* x, int len, float* mean) {
  for (int c = 0; c < kHeadDim; ++c) {
    double sum = 0;
    for (int r = 0; r < len; ++r) sum += x[r * kHeadDim + c];
    mean[c] = static_cast<float>(sum / len);
  }
}

}  // namespace

int QuantizedAttention::keys_visible(int i) const {
  if (!causal) return kv_len;
  return std::min(kv_len, i + (kv_len - q_len) + 1);
}

QuantizedAttention quantize_attention(const float* q, const float* k, const float* v, int heads,
                                      int q_len, int kv_len, bool causal, float softmax_scale) {
  if (heads < 1) throw std::invalid_argument("attention needs at least one head");
  if (q_len < 1 || kv_len < 1) throw std::invalid_argument("attention needs T >= 1 (got T = 0)");
  if (kv_len > kMaxKeys || q_len > kMaxKeys) {
    throw std::invalid_argument("attention length " + std::to_string(std::max(q_len, kv_len)) +
                                " exceeds the integer kernel's limit of " +
                                std::to_string(kMaxKeys));
  }
  if (causal && q_len > kv_len)
    throw std::invalid_argument("causal attention needs at least as many keys as queries");
  if (softmax_scale <= 0) softmax_scale = 1.0f / std::sqrt(float(kHeadDim));
  if (!std::isfinite(softmax_scale)) throw std::invalid_argument("softmax scale is not finite");
  check_finite(q, size_t(heads) * q_len * kHeadDim, "Q");
  check_finite(k, size_t(heads) * kv_len * kHeadDim, "K");
  check_finite(v, size_t(heads) * kv_len * kHeadDim, "V");

  QuantizedAttention p;
  p.heads = heads;
  p.q_len = q_len;
  p.kv_len = kv_len;
  p.q_pad = round_up(q_len, kQuantBlock);
  p.kv_pad = round_up(kv_len, kQuantBlock);
  p.causal = causal;
  p.q.assign(size_t(heads) * p.q_pad * kHeadDim, 0);
  p.k.assign(size_t(heads) * p.kv_pad * kHeadDim, 0);
  p.k_sum128.assign(size_t(heads) * p.kv_pad, 0);
  p.v_t.assign(size_t(heads) * kHeadDim * p.kv_pad, 0);
  p.v_scale.resize(size_t(heads) * kHeadDim);
  p.v_mean.resize(size_t(heads) * kHeadDim);
  p.logit_scale.reserve(size_t(heads) * p.q_blocks() * p.kv_blocks());

  std::vector<int8_t> v_rows(size_t(p.kv_pad) * kHeadDim);
  for (int h = 0; h < heads; ++h) {
    const float* qh = q + size_t(h) * q_len * kHeadDim;
    const float* kh = k + size_t(h) * kv_len * kHeadDim;
    const float* vh = v + size_t(h) * kv_len * kHeadDim;

    std::vector<float> q_scales, k_scales;
    quantize_blocks(qh, q_len, nullptr, p.q.data() + size_t(h) * p.q_pad * kHeadDim, q_scales);
    // Removing K's mean over keys shifts every logit of a row by the same amount: exact.
    float k_mean[kHeadDim];
    channel_mean(kh, kv_len, k_mean);
    int8_t* kq = p.k.data() + size_t(h) * p.kv_pad * kHeadDim;
    quantize_blocks(kh, kv_len, k_mean, kq, k_scales);
    for (int j = 0; j < kv_len; ++j) {
      int32_t sum = 0;
      for (int c = 0; c < kHeadDim; ++c) sum += kq[j * kHeadDim + c];
      p.k_sum128[size_t(h) * p.kv_pad + j] = 128 * sum;
    }
    for (int a = 0; a < p.q_blocks(); ++a)
      for (int b = 0; b < p.kv_blocks(); ++b)
        p.logit_scale.push_back(logit_scale_for(q_scales[a], k_scales[b], softmax_scale));

    // V: per channel over all keys, mean removed (softmax weights sum to one,
    // so the mean is added back exactly after normalization).
    float* v_mean = p.v_mean.data() + size_t(h) * kHeadDim;
    float* v_scale = p.v_scale.data() + size_t(h) * kHeadDim;
    channel_mean(vh, kv_len, v_mean);
    int8_t* vt = p.v_t.data() + size_t(h) * kHeadDim * p.kv_pad;
    for (int c = 0; c < kHeadDim; ++c) {
      float max_abs = 0;
      for (int j = 0; j < kv_len; ++j)
        max_abs = std::max(max_abs, std::fabs(vh[j * kHeadDim + c] - v_mean[c]));
      v_scale[c] = scale_for(max_abs);
      const float inv = 1.0f / v_scale[c];
      for (int j = 0; j < kv_len; ++j)
        vt[size_t(c) * p.kv_pad + j] = quantize_one(vh[j * kHeadDim + c] - v_mean[c], inv);
    }
  }
  return p;
}

void finalize_f32(const QuantizedAttention& p, int h, int rows, const TileResult& r,
                  float* out) {
  const float* v_scale = p.v_scale.data() + size_t(h) * kHeadDim;
  const float* v_mean = p.v_mean.data() + size_t(h) * kHeadDim;
  for (int i = 0; i < rows; ++i) {
    const double inv_l = 1.0 / double(r.l[i]);
    for (int c = 0; c < kHeadDim; ++c)
      out[i * kHeadDim + c] =
          static_cast<float>(double(r.acc[i][c]) * double(v_scale[c]) * inv_l + double(v_mean[c]));
  }
}

void finalize_i8(const QuantizedAttention& p, int h, int rows, const TileResult& r,
                 float out_scale, int8_t* out) {
  float tmp[kMaxTile * kHeadDim];
  finalize_f32(p, h, rows, r, tmp);
  const float inv = 1.0f / out_scale;
  for (int i = 0; i < rows * kHeadDim; ++i) out[i] = quantize_one(tmp[i], inv);
}

}  // namespace amanuensis::attn
