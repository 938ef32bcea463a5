#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/gemm/gemm.h"
#include "util/cpu_features.h"

namespace amanuensis::gemm {
namespace {

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Round half to even without a libm call: |y| < 2^22.
inline float round_even(float y) {
  constexpr float kMagic = 12582912.0f;
  return (y + kMagic) - kMagic;
}

// One row: returns false if a kept column holds a NaN or inf. Compiled for
// several instruction sets (same IEEE operations, same bytes). The max is
// taken over the bit patterns of |x|, which order like the values and make
// non-finite values the largest: an integer reduction that vectorizes.
__attribute__((target_clones("avx512f", "avx2", "default"))) bool quantize_row(
    const float* row, int k, int k_pad, const uint8_t* keep, uint8_t* q, float* scale) {
  uint32_t max_bits = 0;
  for (int c = 0; c < k; ++c) {
    uint32_t bits;
    std::memcpy(&bits, &row[c], 4);
    bits &= 0x7fffffffu & -uint32_t(keep[c]);
    max_bits = bits > max_bits ? bits : max_bits;
  }
  if (max_bits >= 0x7f800000u) return false;
  float max_abs;
  std::memcpy(&max_abs, &max_bits, 4);
  *scale = max_abs / 127.0f;
  const float inv = max_abs > 0 ? 127.0f / max_abs : 0.0f;
  for (int c = 0; c < k; ++c) {
    const float v = keep[c] ? row[c] : 0.0f;
    float y = v * inv;
    y = y < -127.0f ? -127.0f : y;
    y = y > 127.0f ? 127.0f : y;
    q[c] = uint8_t(int(round_even(y)) + 128);
  }
  for (int c = k; c < k_pad; ++c) q[c] = 128;
  return true;
}

}  // namespace

int8_t QuantizedWeights::at(int row, int col) const {
  const int nb = row / kBlockN, kg = col / kGroupK;
  return packed[((size_t(nb) * (k_pad / kGroupK) + kg) * kBlockN + row % kBlockN) * kGroupK +
                col % kGroupK];
}

QuantizedWeights quantize_weights(const float* weight, const float* bias, int n, int k) {
  if (n < 1 || k < 1) throw std::invalid_argument("linear layer with an empty weight");
  QuantizedWeights w;
  w.n = n;
  w.k = k;
  w.n_pad = round_up(n, kBlockN);
  w.k_pad = round_up(k, kGroupK);
  w.packed.assign(size_t(w.n_pad) * w.k_pad, 0);
  w.scale.assign(w.n_pad, 0.0f);
  w.sum128.assign(w.n_pad, 0);
  w.bias.assign(w.n_pad, 0.0f);
  for (int r = 0; r < n; ++r) {
    const float* row = weight + size_t(r) * k;
    float max_abs = 0;
    for (int c = 0; c < k; ++c) {
      if (!std::isfinite(row[c]))
        throw std::invalid_argument("weight has a non-finite value in row " + std::to_string(r));
      max_abs = std::max(max_abs, std::fabs(row[c]));
    }
    w.scale[r] = max_abs / 127.0f;
    const float inv = max_abs > 0 ? 127.0f / max_abs : 0.0f;
    const int nb = r / kBlockN;
    int32_t sum = 0;
    for (int c = 0; c < k; ++c) {
      const int8_t q = int8_t(std::clamp(round_even(row[c] * inv), -127.0f, 127.0f));
      w.packed[((size_t(nb) * (w.k_pad / kGroupK) + c / kGroupK) * kBlockN + r % kBlockN) *
                   kGroupK +
               c % kGroupK] = q;
      sum += q;
    }
    w.sum128[r] = 128 * sum;
    if (bias) w.bias[r] = bias[r];
  }
  return w;
}

QuantizedWeights gather_columns(const QuantizedWeights& w, const std::vector<int>& cols) {
  QuantizedWeights g;
  g.n = w.n;
  g.k = int(cols.size());
  g.n_pad = w.n_pad;
  g.k_pad = round_up(g.k, kGroupK);
  g.packed.assign(size_t(g.n_pad) * g.k_pad, 0);
  g.scale = w.scale;
  g.sum128.assign(g.n_pad, 0);
  g.bias.assign(g.n_pad, 0.0f);
  for (int r = 0; r < w.n; ++r) {
    int32_t sum = 0;
    for (int j = 0; j < g.k; ++j) {
      const int8_t q = w.at(r, cols[j]);
      g.packed[((size_t(r / kBlockN) * (g.k_pad / kGroupK) + j / kGroupK) * kBlockN + r % kBlockN) *
                   kGroupK +
               j % kGroupK] = q;
      sum += q;
    }
    g.sum128[r] = 128 * sum;
  }
  return g;
}

void quantize_rows(const float* x, int m, int k, QuantizedRows& out, ThreadPool& pool,
                   const uint8_t* keep) {
  out.m = m;
  out.k = k;
  out.k_pad = round_up(k, kGroupK);
  out.q.resize(size_t(m) * out.k_pad);
  out.scale.resize(m);
  constexpr int kRowsPerItem = 32;
  std::atomic<bool> finite{true};
  const std::vector<uint8_t> all(keep ? 0 : k, 1);
  if (!keep) keep = all.data();
  pool.parallel_for((m + kRowsPerItem - 1) / kRowsPerItem, [&](int item) {
    for (int r = item * kRowsPerItem; r < std::min(m, (item + 1) * kRowsPerItem); ++r)
      if (!quantize_row(x + size_t(r) * k, k, out.k_pad, keep, out.q.data() + size_t(r) * out.k_pad,
                        &out.scale[r]))
        finite = false;
  });
  if (!finite) throw std::invalid_argument("activations have non-finite values");
}

}  // namespace amanuensis::gemm
