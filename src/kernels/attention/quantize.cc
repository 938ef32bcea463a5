// Float -> integer problem: the only place with floating point before the
// tile loop. Shared by every backend, so every backend sees the same bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/attention/problem.h"
#include "kernels/per_isa.h"
#include "util/round.h"

namespace amanuensis::attn {
namespace {

constexpr double kLog2E = 1.4426950408889634;

// Symmetric int8 scale for values of magnitude <= max_abs (0 for all-zero data).
float scale_for(float max_abs) { return max_abs / 127.0f; }
// 1 / scale, or 0 where that is not finite (a zero or subnormal scale: values
// that small quantize to 0 rather than to 0 * inf = NaN).
float inverse(float scale) {
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  return std::isfinite(inv) ? inv : 0.0f;
}

// x * inv_scale clamped to [-127, 127]. Ternaries, not std::clamp, so that
// the loops around it vectorize.
inline float scaled_clamped(float x, float inv_scale) {
  float y = x * inv_scale;
  y = y < -127.0f ? -127.0f : y;
  return y > 127.0f ? 127.0f : y;
}
inline int8_t quantize_one(float x, float inv_scale) {
  return static_cast<int8_t>(round_even(scaled_clamped(x, inv_scale)));
}

// One pass over `len` rows of 64: mean[c] (summed in float64 in row order)
// and max_dev[c] = max over rows of |x[c] - mean[c]|. x - mean rounds
// monotonically in x, so that maximum is the larger of largest - mean and
// mean - smallest: the same float as a second pass over |x - mean| would give.
// A non-finite value makes its channel's mean non-finite.
[[gnu::always_inline]] inline void channel_stats(const float* x, size_t stride, int len,
                                                 float* mean, float* max_dev) {
  double sum[kHeadDim] = {};
  float smallest[kHeadDim], largest[kHeadDim];
  for (int c = 0; c < kHeadDim; ++c) smallest[c] = largest[c] = x[c];
  for (int t = 0; t < len; ++t)
    for (int c = 0; c < kHeadDim; ++c) {
      const float v = x[t * stride + c];
      sum[c] += v;
      smallest[c] = v < smallest[c] ? v : smallest[c];
      largest[c] = v > largest[c] ? v : largest[c];
    }
  for (int c = 0; c < kHeadDim; ++c) {
    mean[c] = static_cast<float>(sum[c] / len);
    const float above = largest[c] - mean[c], below = mean[c] - smallest[c];
    const float m = above > below ? above : below;
    max_dev[c] = m > 0.0f ? m : 0.0f;  // +0, as fabs gives
  }
}

// max_abs[c] = max over rows of |x[c]|. (NaN is caught later, by the row scales.)
[[gnu::always_inline]] inline void channel_max_abs(const float* x, size_t stride, int len,
                                                   float* max_abs) {
  for (int c = 0; c < kHeadDim; ++c) max_abs[c] = 0;
  for (int t = 0; t < len; ++t)
    for (int c = 0; c < kHeadDim; ++c) {
      const float a = std::fabs(x[t * stride + c]);
      max_abs[c] = a > max_abs[c] ? a : max_abs[c];
    }
}

bool all_finite(const float* x, int n) {
  for (int i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

// Symmetric per-token int8 of (x - offset) * factor into dst [len][64]; the
// scale of each row into scales. The row max is taken over the bit patterns
// of |y| (they order like the finite values): an integer reduction that
// vectorizes. dst_lo (may be null) gets the second plane: the rounding
// residual y/s - hi in units of 1/254, |lo| <= 127. False, at the first row
// with a value that is not finite (or overflows), with that row unwritten.
[[gnu::always_inline]] inline bool quantize_tokens(const float* x, size_t stride, int len,
                                                   const float* offset, const float* factor,
                                                   int8_t* dst, int8_t* dst_lo, float* scales) {
  for (int t = 0; t < len; ++t) {
    float row[kHeadDim];
    uint32_t max_bits = 0;
    for (int c = 0; c < kHeadDim; ++c) {
      row[c] = (x[t * stride + c] - offset[c]) * factor[c];
      uint32_t bits;
      std::memcpy(&bits, &row[c], 4);
      bits &= 0x7fffffffu;
      max_bits = bits > max_bits ? bits : max_bits;
    }
    if (max_bits >= 0x7f800000u) return false;
    float max_abs;
    std::memcpy(&max_abs, &max_bits, 4);
    scales[t] = scale_for(max_abs);
    const float inv = inverse(scales[t]);
    if (!dst_lo) {
      for (int c = 0; c < kHeadDim; ++c) dst[t * kHeadDim + c] = quantize_one(row[c], inv);
      continue;
    }
    for (int c = 0; c < kHeadDim; ++c) {
      const float y = scaled_clamped(row[c], inv);
      const float hi = round_even(y);
      dst[t * kHeadDim + c] = static_cast<int8_t>(hi);
      dst_lo[t * kHeadDim + c] = static_cast<int8_t>(round_even((y - hi) * float(kPlaneRatio)));
    }
  }
  return true;
}

// Per-channel int8 of x - mean into dst [len][64].
[[gnu::always_inline]] inline void quantize_channels(const float* x, size_t stride, int len,
                                                     const float* mean, const float* inv,
                                                     int8_t* dst) {
  for (int t = 0; t < len; ++t)
    for (int c = 0; c < kHeadDim; ++c)
      dst[t * kHeadDim + c] = quantize_one(x[t * stride + c] - mean[c], inv[c]);
}

// rows [len][64] -> dst [64][dst_stride], 16 keys at a time, so that each
// channel's 16 bytes are stored together (byte stores with a stride that the
// compiler reloads after every store ran 10x slower).
void to_channel_major(const int8_t* __restrict rows, int len, size_t dst_stride,
                      int8_t* __restrict dst) {
  constexpr int kKeys = 16;
  for (int j0 = 0; j0 < len; j0 += kKeys) {
    const int n = std::min(kKeys, len - j0);
    for (int c = 0; c < kHeadDim; ++c) {
      int8_t column[kKeys];
      for (int j = 0; j < n; ++j) column[j] = rows[(j0 + j) * kHeadDim + c];
      std::memcpy(dst + c * dst_stride + j0, column, size_t(n));
    }
  }
}

// The error for the first non-finite value, by its flat index in [heads][len][64].
void throw_if_non_finite(HeadsIn x, int heads, int len, const char* name) {
  for (int h = 0; h < heads; ++h)
    for (int t = 0; t < len; ++t)
      for (int c = 0; c < kHeadDim; ++c)
        if (!std::isfinite(x.row(h, t)[c])) {
          throw std::invalid_argument(std::string(name) + " has a non-finite value at flat index " +
                                      std::to_string((size_t(h) * len + t) * kHeadDim + c));
        }
}

// Per-channel factors c with q.k = (q*c).(k/c): they balance each channel's
// range between Q and K, so that an outlier channel of K does not eat the
// resolution of every other channel (SmoothQuant's migration, exact here).
void smoothing_factors(const float* q_max, const float* k_max, float* q_factor, float* k_factor) {
  for (int c = 0; c < kHeadDim; ++c) {
    const double f =
        q_max[c] > 0 && k_max[c] > 0 ? std::sqrt(double(k_max[c]) / double(q_max[c])) : 1.0;
    q_factor[c] = static_cast<float>(std::clamp(f, 1.0 / 256, 256.0));
    k_factor[c] = 1.0f / q_factor[c];
  }
}

// q_mul, k_mul and the head's shift of spec.h's logit(), from the float scales.
// score_unit: the product q.k per unit of S (1, or 256/254 with two planes).
void set_logit_multipliers(const std::vector<float>& q_scales, const std::vector<float>& k_scales,
                           float softmax_scale, double score_unit, int32_t* q_mul, int32_t* k_mul,
                           int32_t& shift) {
  const float q_max = *std::max_element(q_scales.begin(), q_scales.end());
  for (size_t i = 0; i < q_scales.size(); ++i)
    q_mul[i] = q_max > 0
                   ? int32_t(std::lround(std::ldexp(double(q_scales[i]) / q_max, kScoreMulBits)))
                   : 0;
  // From t (S in units of the largest query scale) to L.
  const double to_logit =
      double(q_max) * double(softmax_scale) * score_unit * kLog2E * (1 << kLogitFracBits);
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

}  // namespace

int QuantizedAttention::keys_visible(int i) const {
  if (!causal) return kv_len;
  return std::min(kv_len, i + (kv_len - q_len) + 1);
}

QuantizedAttention quantize_attention(HeadsIn q, HeadsIn k, HeadsIn v, int heads, int q_len,
                                      int kv_len, bool causal, float softmax_scale,
                                      ThreadPool* pool, int qk_planes, Backend backend) {
  if (qk_planes != 1 && qk_planes != 2)
    throw std::invalid_argument("Q/K planes must be 1 or 2, got " + std::to_string(qk_planes));
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

  QuantizedAttention p;
  p.heads = heads;
  p.q_len = q_len;
  p.kv_len = kv_len;
  p.q_pad = round_up(q_len, kPadTo);
  p.kv_pad = round_up(kv_len, kPadTo);
  p.causal = causal;
  p.qk_planes = qk_planes;
  p.q.resize(size_t(heads) * p.q_pad * kHeadDim);
  p.k.resize(size_t(heads) * p.kv_pad * kHeadDim);
  if (qk_planes == 2) {
    p.q_lo.resize(p.q.size());
    p.k_lo.resize(p.k.size());
  }
  p.score_offset.assign(size_t(heads) * p.kv_pad, 0);
  p.v_t.resize(size_t(heads) * kHeadDim * p.kv_pad);
  p.v_scale.resize(size_t(heads) * kHeadDim);
  p.v_mean.resize(size_t(heads) * kHeadDim);
  p.q_mul.assign(size_t(heads) * p.q_pad, 0);
  p.k_mul.assign(size_t(heads) * p.kv_pad, 0);
  p.logit_shift.assign(heads, kLogitMaxShift);

  // Per head, the tensor whose values are not finite or overflow when
  // quantized ('\0': none); the error names the first, as a serial run would.
  std::vector<char> failed(size_t(heads), '\0');
  const auto channel_stats = PerIsa<attn::channel_stats>::pick(backend);
  const auto channel_max_abs = PerIsa<attn::channel_max_abs>::pick(backend);
  const auto quantize_tokens = PerIsa<attn::quantize_tokens>::pick(backend);
  const auto quantize_channels = PerIsa<attn::quantize_channels>::pick(backend);
  auto quantize_head = [&](int h) {
    const float *qh = q.row(h, 0), *kh = k.row(h, 0), *vh = v.row(h, 0);
    // Removing K's mean over keys shifts every logit of a row by the same amount: exact.
    // A non-finite K or V value shows in its channel's mean, one in Q in its
    // row's scale; all three are checked before anything else here can throw.
    float k_mean[kHeadDim], q_max[kHeadDim], k_max[kHeadDim], q_smooth[kHeadDim],
        k_smooth[kHeadDim], v_dev[kHeadDim];
    float* v_mean = p.v_mean.data() + size_t(h) * kHeadDim;
    channel_stats(kh, k.row_stride, kv_len, k_mean, k_max);
    channel_stats(vh, v.row_stride, kv_len, v_mean, v_dev);
    if (!all_finite(k_mean, kHeadDim) || !all_finite(v_mean, kHeadDim) ||
        !all_finite(v_dev, kHeadDim)) {
      failed[size_t(h)] = all_finite(k_mean, kHeadDim) ? 'V' : 'K';
      return;
    }
    channel_max_abs(qh, q.row_stride, q_len, q_max);
    smoothing_factors(q_max, k_max, q_smooth, k_smooth);
    std::vector<float> q_scales(q_len), k_scales(kv_len);
    const size_t q_at = size_t(h) * p.q_pad * kHeadDim, k_at = size_t(h) * p.kv_pad * kHeadDim;
    const bool two = qk_planes == 2;
    for (auto* planes : {&p.q, &p.q_lo})  // padding rows: zero
      if (!planes->empty())
        std::fill(planes->begin() + q_at + size_t(q_len) * kHeadDim,
                  planes->begin() + q_at + size_t(p.q_pad) * kHeadDim, 0);
    for (auto* planes : {&p.k, &p.k_lo})
      if (!planes->empty())
        std::fill(planes->begin() + k_at + size_t(kv_len) * kHeadDim,
                  planes->begin() + k_at + size_t(p.kv_pad) * kHeadDim, 0);
    const float zeros[kHeadDim] = {};
    if (!quantize_tokens(qh, q.row_stride, q_len, zeros, q_smooth, &p.q[q_at],
                         two ? &p.q_lo[q_at] : nullptr, q_scales.data())) {
      failed[size_t(h)] = 'Q';
      return;
    }
    if (!quantize_tokens(kh, k.row_stride, kv_len, k_mean, k_smooth, &p.k[k_at],
                         two ? &p.k_lo[k_at] : nullptr, k_scales.data())) {
      failed[size_t(h)] = 'K';
      return;
    }
    for (int j = 0; j < kv_len; ++j) {
      int32_t hi = 0, lo = 0;
      for (int c = 0; c < kHeadDim; ++c) {
        hi += p.k[k_at + j * kHeadDim + c];
        if (two) lo += p.k_lo[k_at + j * kHeadDim + c];
      }
      p.score_offset[size_t(h) * p.kv_pad + j] =
          two ? 128 * ((kPlaneRatio + 1) * hi + lo) : 128 * hi;
    }
    set_logit_multipliers(q_scales, k_scales, softmax_scale,
                          two ? double(1 << kTwoPlaneShift) / kPlaneRatio : 1.0,
                          p.q_mul.data() + size_t(h) * p.q_pad,
                          p.k_mul.data() + size_t(h) * p.kv_pad, p.logit_shift[h]);

    // V: per channel over all keys, mean removed (softmax weights sum to one,
    // so the mean is added back exactly after normalization); quantized
    // row-major, then transposed to the kernel's channel-major layout.
    float* v_scale = p.v_scale.data() + size_t(h) * kHeadDim;
    float inv[kHeadDim];
    for (int c = 0; c < kHeadDim; ++c) {
      v_scale[c] = scale_for(v_dev[c]);
      inv[c] = inverse(v_scale[c]);
    }
    std::vector<int8_t> rows(size_t(kv_len) * kHeadDim);
    quantize_channels(vh, v.row_stride, kv_len, v_mean, inv, rows.data());
    int8_t* vt = p.v_t.data() + size_t(h) * kHeadDim * p.kv_pad;
    to_channel_major(rows.data(), kv_len, p.kv_pad, vt);
    for (int c = 0; c < kHeadDim; ++c)
      std::fill(vt + size_t(c) * p.kv_pad + kv_len, vt + size_t(c + 1) * p.kv_pad, 0);
  };
  if (pool) {
    pool->parallel_for(heads, quantize_head);
  } else {
    for (int h = 0; h < heads; ++h) quantize_head(h);
  }
  for (int h = 0; h < heads; ++h) {
    if (!failed[size_t(h)]) continue;
    // A non-finite value anywhere comes first, named by its flat index.
    throw_if_non_finite(q, heads, q_len, "Q");
    throw_if_non_finite(k, heads, kv_len, "K");
    throw_if_non_finite(v, heads, kv_len, "V");
    throw std::invalid_argument(std::string(1, failed[size_t(h)]) + " of head " +
                                std::to_string(h) +
                                " has values too large: centring or scaling them overflows "
                                "float32");
  }
  return p;
}

void finalize_f32(const QuantizedAttention& p, int h, int rows, const TileResult& r, float* out,
                  size_t row_stride) {
  const float* v_scale = p.v_scale.data() + size_t(h) * kHeadDim;
  const float* v_mean = p.v_mean.data() + size_t(h) * kHeadDim;
  for (int i = 0; i < rows; ++i) {
    // acc counts P8 units, l counts P16 units: P8 = P16 / 2^8.
    const double inv_l = double(1 << kP16ToP8Shift) / double(r.l[i]);
    for (int c = 0; c < kHeadDim; ++c)
      out[i * row_stride + c] =
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
