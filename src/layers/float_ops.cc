#include "layers/float_ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/gelu.h"
#include "kernels/per_isa.h"

namespace amanuensis {
namespace {

constexpr size_t kChunk = 1 << 14;  // elements per work item

template <typename F>
void for_chunks(size_t n, ThreadPool& pool, F&& f) {
  pool.parallel_for(int((n + kChunk - 1) / kChunk), [&](int item) {
    const size_t b = size_t(item) * kChunk;
    f(b, std::min(n, b + kChunk));
  });
}

[[gnu::always_inline]] inline void add_range(float* x, const float* y, size_t b, size_t e) {
  for (size_t i = b; i < e; ++i) x[i] += y[i];
}

// Sum of x[0, n) in kLanes interleaved partial sums, added up in a fixed
// order: the loop vectorizes (each lane is its own chain) and every copy
// adds in the same order, so the bytes do not depend on the instruction set.
constexpr int kLanes = 16;
inline float lane_sum(const float (&lanes)[kLanes]) {
  float total = 0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

[[gnu::always_inline]] inline void layer_norm_row(const float* xr, int d, const float* gamma,
                                                  const float* beta, float* yr) {
  constexpr float kEps = 1e-5f;
  const int body = d / kLanes * kLanes;
  float lanes[kLanes] = {};
  for (int c = 0; c < body; c += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += xr[c + l];
  for (int c = body; c < d; ++c) lanes[c - body] += xr[c];
  const float mean = lane_sum(lanes) / float(d);
  for (float& l : lanes) l = 0;
  for (int c = 0; c < body; c += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += (xr[c + l] - mean) * (xr[c + l] - mean);
  for (int c = body; c < d; ++c) lanes[c - body] += (xr[c] - mean) * (xr[c] - mean);
  const float inv = 1.0f / std::sqrt(lane_sum(lanes) / float(d) + kEps);
  for (int c = 0; c < d; ++c) yr[c] = (xr[c] - mean) * inv * gamma[c] + beta[c];
}

}  // namespace

void gelu(float* x, size_t n, Backend backend, ThreadPool& pool) {
  const auto gelu_copy = PerIsa<gelu_range>::pick(backend);
  for_chunks(n, pool, [&](size_t b, size_t e) { gelu_copy(x, b, e); });
}

void layer_norm(const float* x, int rows, int d, const LayerNormWeights& ln, float* y,
                Backend backend, ThreadPool& pool) {
  constexpr int kRows = 32;
  const auto layer_norm_copy = PerIsa<layer_norm_row>::pick(backend);
  pool.parallel_for((rows + kRows - 1) / kRows, [&](int item) {
    for (int r = item * kRows; r < std::min(rows, (item + 1) * kRows); ++r)
      layer_norm_copy(x + size_t(r) * d, d, ln.gamma.data(), ln.beta.data(), y + size_t(r) * d);
  });
}

void add_inplace(float* x, const float* y, size_t n, Backend backend, ThreadPool& pool) {
  const auto add_copy = PerIsa<add_range>::pick(backend);
  for_chunks(n, pool, [&](size_t b, size_t e) { add_copy(x, y, b, e); });
}

}  // namespace amanuensis
