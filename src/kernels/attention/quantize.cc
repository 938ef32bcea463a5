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

// Symmetric int8 scale for values of magnitude <= max_abs (0 for all-zero data).
float scale_for(float max_abs) { return max_abs / 127.0f; }
float inverse(float scale) { return scale > 0 ? 1.0f / scale : 0.0f; }

// Round half to even, as nearbyint in the default mode, without a libm call:
// adding and removing 1.5 * 2^23 rounds any |y| < 2^22 to an integer.
int8_t quantize_one(float x, float inv_scale) {
  constexpr float kRoundMagic = 12582912.0f;
  const float y = std::clamp(x * inv_scale, -127.0f, 127.0f);
  return static_cast<int8_t>((y + kRoundMagic) - kRoundMagic);
}

void check_finite(const float* x, size_t n, const char* name) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      throw std::invalid_argument(std::string(name) + " has a non-finite value at flat index " +
                                  std::to_string(i));
    }
  }
}

// Symmetric per-token int8 of rows [len][64] (times `smooth` per channel) into
// dst [len][64]; returns the scale of each row.
std::vector<float> quantize_rows(const float* src, int len, const float* mean, const float* smooth,
                                 int8_t* dst) {
  std::vector<float> scales(len);
  for (int r = 0; r < len; ++r) {
    float row[kHeadDim];
    float max_abs = 0;
    for (int c = 0; c < kHeadDim; ++c) {
      row[c] = (src[r * kHeadDim + c] - (mean ? mean[c] : 0.0f)) * smooth[c];
      max_abs = std::max(max_abs, std::fabs(row[c]));
    }
    scales[r] = scale_for(max_abs);
    const float inv = inverse(scales[r]);
    for (int c = 0; c < kHeadDim; ++c) dst[r * kHeadDim + c] = quantize_one(row[c], inv);
  }
  return scales;
}

// Per-channel factors c with q.k = (q*c).(k/c): they balance each channel's
// range between Q and K, so that an outlier channel of K does not eat the
// resolution of every other channel (SmoothQuant's migration, exact here).
void smoothing_factors(const float* q, int q_len, const float* k, int kv_len, const float* k_mean,
                       float* q_factor, float* k_factor) {
  float q_max[kHeadDim] = {}, k_max[kHeadDim] = {};
  for (int i = 0; i < q_len; ++i)
    for (int c = 0; c < kHeadDim; ++c)
      q_max[c] = std::max(q_max[c], std::fabs(q[i * kHeadDim + c]));
  for (int j = 0; j < kv_len; ++j)
    for (int c = 0; c < kHeadDim; ++c)
      k_max[c] = std::max(k_max[c], std::fabs(k[j * kHeadDim + c] - k_mean[c]));
  for (int c = 0; c < kHeadDim; ++c) {
    const double f =
        q_max[c] > 0 && k_max[c] > 0 ? std::sqrt(double(k_max[c]) / double(q_max[c])) : 1.0;
    q_factor[c] = static_cast<float>(std::clamp(f, 1.0 / 256, 256.0));
    k_factor[c] = 1.0f / q_factor[c];
  }
}

// q_mul, k_mul and the head's shift of spec.h's logit(), from the float scales.
void set_logit_multipliers(const std::vector<float>& q_scales, const std::vector<float>& k_scales,
                           float softmax_scale, int32_t* q_mul, int32_t* k_mul, int32_t& shift) {
  const float q_max = *std::max_element(q_scales.begin(), q_scales.end());
  for (size_t i = 0; i < q_scales.size(); ++i)
    q_mul[i] = q_max > 0
                   ? int32_t(std::lround(std::ldexp(double(q_scales[i]) / q_max, kScoreMulBits)))
                   : 0;
  // From t (S in units of the largest query scale) to L.
  const double to_logit = double(q_max) * double(softmax_scale) * kLog2E * (1 << kLogitFracBits);
  const double k_max = *std::max_element(k_scales.begin(), k_scales.end());
  int e = 0;
  std::frexp(k_max * to_logit, &e);  // k_max * to_logit in [2^(e-1), 2^e)
  shift = std::min(kScoreMulBits - e, kLogitMaxShift);
  if (shift < kLogitMinShift) {
    throw std::invalid_argument("attention logits out of range: one integer score unit is " +
                                std::to_string(k_max * to_logit / (1 << kLogitFracBits)) +
                                " base-2 logit units; scale the inputs down");
  }
  for (size_t j = 0; j < k_scales.size(); ++j)
    k_mul[j] = int32_t(std::lround(std::ldexp(double(k_scales[j]) * to_logit, shift)));
}

void channel_mean(const float* x, int len, float* mean) {
  double sum[kHeadDim] = {};
  for (int r = 0; r < len; ++r)
    for (int c = 0; c < kHeadDim; ++c) sum[c] += x[r * kHeadDim + c];
  for (int c = 0; c < kHeadDim; ++c) mean[c] = static_cast<float>(sum[c] / len);
}

}  // namespace

int QuantizedAttention::keys_visible(int i) const {
  if (!causal) return kv_len;
  return std::min(kv_len, i + (kv_len - q_len) + 1);
}

QuantizedAttention quantize_attention(const float* q, const float* k, const float* v, int heads,
                                      int q_len, int kv_len, bool causal, float softmax_scale,
                                      ThreadPool* pool) {
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
  p.q_pad = round_up(q_len, kPadTo);
  p.kv_pad = round_up(kv_len, kPadTo);
  p.causal = causal;
  p.q.assign(size_t(heads) * p.q_pad * kHeadDim, 0);
  p.k.assign(size_t(heads) * p.kv_pad * kHeadDim, 0);
  p.k_sum128.assign(size_t(heads) * p.kv_pad, 0);
  p.v_t.assign(size_t(heads) * kHeadDim * p.kv_pad, 0);
  p.v_scale.resize(size_t(heads) * kHeadDim);
  p.v_mean.resize(size_t(heads) * kHeadDim);
  p.q_mul.assign(size_t(heads) * p.q_pad, 0);
  p.k_mul.assign(size_t(heads) * p.kv_pad, 0);
  p.logit_shift.assign(heads, kLogitMaxShift);

  auto quantize_head = [&](int h) {
    const float* qh = q + size_t(h) * q_len * kHeadDim;
    const float* kh = k + size_t(h) * kv_len * kHeadDim;
    const float* vh = v + size_t(h) * kv_len * kHeadDim;

    // Removing K's mean over keys shifts every logit of a row by the same amount: exact.
    float k_mean[kHeadDim], q_smooth[kHeadDim], k_smooth[kHeadDim];
    channel_mean(kh, kv_len, k_mean);
    smoothing_factors(qh, q_len, kh, kv_len, k_mean, q_smooth, k_smooth);
    int8_t* kq = p.k.data() + size_t(h) * p.kv_pad * kHeadDim;
    const std::vector<float> q_scales =
        quantize_rows(qh, q_len, nullptr, q_smooth, p.q.data() + size_t(h) * p.q_pad * kHeadDim);
    const std::vector<float> k_scales = quantize_rows(kh, kv_len, k_mean, k_smooth, kq);
    for (int j = 0; j < kv_len; ++j) {
      int32_t sum = 0;
      for (int c = 0; c < kHeadDim; ++c) sum += kq[j * kHeadDim + c];
      p.k_sum128[size_t(h) * p.kv_pad + j] = 128 * sum;
    }
    set_logit_multipliers(q_scales, k_scales, softmax_scale, p.q_mul.data() + size_t(h) * p.q_pad,
                          p.k_mul.data() + size_t(h) * p.kv_pad, p.logit_shift[h]);

    // V: per channel over all keys, mean removed (softmax weights sum to one,
    // so the mean is added back exactly after normalization).
    float* v_mean = p.v_mean.data() + size_t(h) * kHeadDim;
    float* v_scale = p.v_scale.data() + size_t(h) * kHeadDim;
    channel_mean(vh, kv_len, v_mean);
    int8_t* vt = p.v_t.data() + size_t(h) * kHeadDim * p.kv_pad;
    float max_abs[kHeadDim] = {}, inv[kHeadDim];
    for (int j = 0; j < kv_len; ++j)
      for (int c = 0; c < kHeadDim; ++c)
        max_abs[c] = std::max(max_abs[c], std::fabs(vh[j * kHeadDim + c] - v_mean[c]));
    for (int c = 0; c < kHeadDim; ++c) {
      v_scale[c] = scale_for(max_abs[c]);
      inv[c] = inverse(v_scale[c]);
    }
    for (int j = 0; j < kv_len; ++j)
      for (int c = 0; c < kHeadDim; ++c)
        vt[size_t(c) * p.kv_pad + j] = quantize_one(vh[j * kHeadDim + c] - v_mean[c], inv[c]);
  };
  if (pool) {
    pool->parallel_for(heads, quantize_head);
  } else {
    for (int h = 0; h < heads; ++h) quantize_head(h);
  }
  return p;
}

void finalize_f32(const QuantizedAttention& p, int h, int rows, const TileResult& r, float* out) {
  const float* v_scale = p.v_scale.data() + size_t(h) * kHeadDim;
  const float* v_mean = p.v_mean.data() + size_t(h) * kHeadDim;
  for (int i = 0; i < rows; ++i) {
    // acc counts P8 units, l counts P16 units: P8 = P16 / 2^8.
    const double inv_l = double(1 << kP16ToP8Shift) / double(r.l[i]);
    for (int c = 0; c < kHeadDim; ++c)
      out[i * kHeadDim + c] =
          static_cast<float>(double(r.acc[i][c]) * double(v_scale[c]) * inv_l + double(v_mean[c]));
  }
}

void finalize_i8(const QuantizedAttention& p, int h, int rows, const TileResult& r, float out_scale,
                 int8_t* out) {
  float tmp[kMaxTile * kHeadDim];
  finalize_f32(p, h, rows, r, tmp);
  const float inv = inverse(out_scale);
  for (int i = 0; i < rows * kHeadDim; ++i) out[i] = quantize_one(tmp[i], inv);
}

}  // namespace amanuensis::attn
