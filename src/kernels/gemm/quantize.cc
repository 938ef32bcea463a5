#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "kernels/gemm/gemm.h"
#include "kernels/per_isa.h"
#include "util/round.h"

namespace amanuensis::gemm {
namespace {

// max |row[c]| over the columns with keep[c] != 0 (keep may be null: all),
// as the bits of a float: they order like the values and make NaN and inf the
// largest, so the max is an integer reduction that vectorizes. The copies
// per instruction set (per_isa) do the same IEEE operations: the same bytes.
[[gnu::always_inline]] inline uint32_t max_abs_bits(const float* row, int k, const uint8_t* keep) {
  uint32_t max_bits = 0;
  for (int c = 0; c < k; ++c) {
    uint32_t bits;
    std::memcpy(&bits, &row[c], 4);
    bits &= 0x7fffffffu & -uint32_t(keep ? keep[c] : 1);
    max_bits = bits > max_bits ? bits : max_bits;
  }
  return max_bits;
}

// q[c] = round(row[c] * inv) + 128, clamped to [1, 255]; 128 where keep[c] == 0
// and in the padding up to k_pad.
[[gnu::always_inline]] inline void quantize_values(const float* row, int k, int k_pad,
                                                   const uint8_t* keep, float inv, uint8_t* q) {
  for (int c = 0; c < k; ++c) {
    const float v = !keep || keep[c] ? row[c] : 0.0f;
    float y = v * inv;
    y = y < -127.0f ? -127.0f : y;
    y = y > 127.0f ? 127.0f : y;
    q[c] = uint8_t(int(round_even(y)) + 128);
  }
  for (int c = k; c < k_pad; ++c) q[c] = 128;
}

// q[c] = round(row[c] * inv) clamped to [-127, 127]: one weight row.
[[gnu::always_inline]] inline void quantize_weight_row(const float* row, int k, float inv,
                                                       int8_t* q) {
  for (int c = 0; c < k; ++c) {
    float y = row[c] * inv;
    y = y < -127.0f ? -127.0f : y;
    y = y > 127.0f ? 127.0f : y;
    q[c] = int8_t(round_even(y));
  }
}

// 127 / max_abs, or 0 where that is not finite (zero, or so small a maximum
// that the quotient overflows: such rows quantize to 0, not to 0 * inf = NaN).
float inverse_step(float max_abs) {
  const float inv = max_abs > 0 ? 127.0f / max_abs : 0.0f;
  return std::isfinite(inv) ? inv : 0.0f;
}

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
constexpr uint32_t kNonFiniteBits = 0x7f800000u;

}  // namespace

int8_t QuantizedWeights::at(int row, int col) const {
  const int nb = row / kBlockN, kg = col / kGroupK;
  return packed[((size_t(nb) * (k_pad / kGroupK) + kg) * kBlockN + row % kBlockN) * kGroupK +
                col % kGroupK];
}

namespace {

// Rows of the weight as quantize_weights reads them: in place, or a chunk
// at a time into a buffer of the calling thread.
constexpr int kChunkRows = 16;
using RowsAt = std::function<const float*(int r0, int r1, std::vector<float>& buffer)>;

QuantizedWeights quantize_from(const RowsAt& rows_at, const float* bias, int n, int k) {
  if (n < 1 || k < 1) throw std::invalid_argument("linear layer with an empty weight");
  if (k > kMaxK)
    throw std::invalid_argument("linear layer with " + std::to_string(k) +
                                " inputs (the int8 GEMM takes at most " + std::to_string(kMaxK) +
                                ")");
  QuantizedWeights w;
  w.n = n;
  w.k = k;
  w.n_pad = round_up(n, kBlockN);
  w.k_pad = round_up(k, kPadK);
  w.packed.assign(size_t(w.n_pad) * w.k_pad, 0);
  w.scale.assign(w.n_pad, 0.0f);
  w.sum128.assign(w.n_pad, 0);
  w.bias.assign(w.n_pad, 0.0f);
  const size_t group_stride = size_t(kBlockN) * kGroupK;  // bytes between a row's 4-k groups
  // Rows [r0, r1); returns the first row with a non-finite weight, or -1.
  auto quantize_range = [&](int r0, int r1) {
    std::vector<int8_t> q(k);
    std::vector<float> buffer;
    for (int c0 = r0; c0 < r1; c0 += kChunkRows) {
      const int c1 = std::min(r1, c0 + kChunkRows);
      const float* chunk = rows_at(c0, c1, buffer);
      for (int r = c0; r < c1; ++r) {
        const float* row = chunk + size_t(r - c0) * k;
        const uint32_t max_bits = per_isa<max_abs_bits>(Backend::kAuto, row, k, nullptr);
        if (max_bits >= kNonFiniteBits) return r;
        const float max_abs = from_bits(max_bits);
        w.scale[r] = max_abs / 127.0f;
        per_isa<quantize_weight_row>(Backend::kAuto, row, k, inverse_step(max_abs), q.data());
        int8_t* dst = w.packed.data() +
                      (size_t(r / kBlockN) * (w.k_pad / kGroupK) * kBlockN + r % kBlockN) * kGroupK;
        // A row's 4-k groups lie group_stride apart: one 4-byte store each.
        const int whole = k / kGroupK * kGroupK;
        for (int c = 0; c < whole; c += kGroupK)
          std::memcpy(dst + size_t(c / kGroupK) * group_stride, q.data() + c, kGroupK);
        for (int c = whole; c < k; ++c)
          dst[size_t(c / kGroupK) * group_stride + c % kGroupK] = q[c];
        int32_t sum = 0;
        for (int c = 0; c < k; ++c) sum += q[c];
        w.sum128[r] = 128 * sum;
        if (bias) w.bias[r] = bias[r];
      }
    }
    return -1;
  };
  // Matrices of 64 Ki weights and more (all of a model's but the smallest)
  // split their rows over the cores: a thread starts in ~50 us and a 512 x 512
  // matrix takes ~0.5 ms. Rows are independent, so the bytes do not depend on
  // the split.
  const int threads = size_t(n) * k < (size_t(1) << 16)
                          ? 1
                          : int(std::clamp(std::thread::hardware_concurrency(), 1u, 16u));
  std::vector<int> bad(threads, -1);
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t)
    workers.emplace_back([&, t] { bad[t] = quantize_range(n * t / threads, n * (t + 1) / threads); });
  bad[0] = quantize_range(0, n / threads);
  for (std::thread& worker : workers) worker.join();
  for (int r : bad)
    if (r >= 0) throw std::invalid_argument("weight has a non-finite value in row " + std::to_string(r));
  return w;
}

}  // namespace

QuantizedWeights quantize_weights(const float* weight, const float* bias, int n, int k) {
  return quantize_from([&](int r0, int, std::vector<float>&) { return weight + size_t(r0) * k; },
                       bias, n, k);
}

QuantizedWeights quantize_weights(const WeightRows& rows, const float* bias, int n, int k) {
  return quantize_from(
      [&](int r0, int r1, std::vector<float>& buffer) {
        buffer.resize(size_t(kChunkRows) * k);
        rows(r0, r1, buffer.data());
        return static_cast<const float*>(buffer.data());
      },
      bias, n, k);
}

QuantizedWeights gather_columns(const QuantizedWeights& w, const std::vector<int>& cols) {
  QuantizedWeights g;
  g.n = w.n;
  g.k = int(cols.size());
  g.n_pad = w.n_pad;
  g.k_pad = round_up(g.k, kPadK);
  g.packed.assign(size_t(g.n_pad) * g.k_pad, 0);
  g.scale = w.scale;
  g.sum128.assign(g.n_pad, 0);
  g.bias.assign(g.n_pad, 0.0f);
  const int groups = w.k_pad / kGroupK, g_groups = g.k_pad / kGroupK;
  for (int nb = 0; nb < w.n_pad / kBlockN; ++nb)
    for (int j = 0; j < g.k; ++j) {
      const int8_t* src =
          &w.packed[((size_t(nb) * groups + cols[j] / kGroupK) * kBlockN) * kGroupK +
                    cols[j] % kGroupK];
      int8_t* dst =
          &g.packed[((size_t(nb) * g_groups + j / kGroupK) * kBlockN) * kGroupK + j % kGroupK];
      for (int r = 0; r < kBlockN; ++r) {
        dst[r * kGroupK] = src[r * kGroupK];
        g.sum128[nb * kBlockN + r] += 128 * src[r * kGroupK];
      }
    }
  return g;
}

void quantize_rows(const float* x, int m, int k, QuantizedRows& out, ThreadPool& pool,
                   const std::vector<int>& outlier_cols, size_t row_stride, Backend backend) {
  if (row_stride == 0) row_stride = size_t(k);
  if (k < 1 || k > kMaxK)
    throw std::invalid_argument("gemm: " + std::to_string(k) + " input channels (at most " +
                                std::to_string(kMaxK) + ")");
  const int n_out = int(outlier_cols.size());
  if (n_out > kMaxOutliers) throw std::invalid_argument("gemm: too many outlier channels");
  std::vector<uint8_t> keep(n_out ? k : 0, 1);
  for (int c : outlier_cols) {
    if (c < 0 || c >= k || !keep[c])
      throw std::invalid_argument("gemm: outlier channels must be distinct input channels");
    keep[c] = 0;
  }
  out.m = m;
  out.k = k;
  out.k_pad = round_up(k, kPadK);
  out.q.resize(size_t(m) * out.k_pad);
  out.scale.resize(m);
  out.outlier_cols = outlier_cols;
  out.outliers_pad = round_up(n_out, kPadK);
  out.q_out.resize(size_t(m) * out.outliers_pad);
  out.scale_out.resize(n_out ? m : 0);

  const auto max_abs_of = PerIsa<max_abs_bits>::pick(backend);
  const auto quantize = PerIsa<quantize_values>::pick(backend);
  std::atomic<bool> finite{true};
  auto quantize_row = [&](int r) {
    const float* row = x + r * row_stride;
    const uint32_t main_bits = max_abs_of(row, k, n_out ? keep.data() : nullptr);
    float outliers[kMaxOutliers];
    for (int j = 0; j < n_out; ++j) outliers[j] = row[outlier_cols[j]];
    const uint32_t out_bits = max_abs_of(outliers, n_out, nullptr);
    if (main_bits >= kNonFiniteBits || out_bits >= kNonFiniteBits) {
      finite = false;
      return;
    }
    const float main_max = from_bits(main_bits), out_max = from_bits(out_bits);
    out.scale[r] = main_max / 127.0f;
    quantize(row, k, out.k_pad, n_out ? keep.data() : nullptr, inverse_step(main_max),
             out.q.data() + size_t(r) * out.k_pad);
    if (n_out) {
      out.scale_out[r] = out_max / 127.0f;
      quantize(outliers, n_out, out.outliers_pad, nullptr, inverse_step(out_max),
               out.q_out.data() + size_t(r) * out.outliers_pad);
    }
  };
  constexpr int kRowsPerItem = 32;
  pool.parallel_for((m + kRowsPerItem - 1) / kRowsPerItem, [&](int item) {
    for (int r = item * kRowsPerItem; r < std::min(m, (item + 1) * kRowsPerItem); ++r)
      quantize_row(r);
  });
  if (!finite) throw std::invalid_argument("activations have non-finite values");
}

}  // namespace amanuensis::gemm
