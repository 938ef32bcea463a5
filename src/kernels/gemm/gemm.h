// Exact int8 GEMM for linear layers: y = x . W^T + b with W [n][k].
//   W: int8 per output channel, symmetric, quantized once at load.
//   x: int8 per row (token), symmetric, quantized on the fly, stored as
//      u8 = q + 128 so that AVX-512 VNNI's u8 x s8 dot product applies; the
//      extra 128 * sum_k W[n][k] is removed per column.
//   acc = sum_k q_x[m][k] * q_w[n][k]   (int32, exact)
//   y = (float(acc) * s_x[m]) * s_w[n] + b[n]   (float32, this order, no FMA)
// Optionally a few "outlier" input channels of x are quantized apart, per row
// with their own scale s_o[m], so that they no longer coarsen the others (in
// the main part they are 0); their product shares W's rows:
//   acc_o = sum_j q_o[m][j] * q_w[n][col_j]
//   y = (float(acc) * s_x[m] + float(acc_o) * s_o[m]) * s_w[n] + b[n]
// Every backend gives these bytes, for any thread count. See docs/gemm.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "util/cache_line_allocator.h"
#include "util/thread_pool.h"
#include "util/uninit_vector.h"

namespace amanuensis::gemm {

inline constexpr int kBlockN = 64;   // weights are packed in blocks of 64 output channels
inline constexpr int kGroupK = 4;    // and groups of 4 input channels (one 32-bit lane)
// Input channels are padded with zeros to a multiple of 64: one AMX tile's
// depth (Whisper's widths are multiples of 64 already).
inline constexpr int kPadK = 64;
inline constexpr int kMaxK = 16384;  // input channels (Whisper's widest is 5120)
inline constexpr int kMaxOutliers = 64;
// The AVX-512 kernel's unsigned partial sums (u8 up to 255) fit int32.
static_assert(255LL * 127 * kMaxK < (1LL << 31));

using ::amanuensis::Backend;

struct QuantizedWeights {
  int n = 0, k = 0;          // logical shape [n][k]
  int n_pad = 0, k_pad = 0;  // padded to kBlockN and kPadK with zeros
  // [n_pad / 64][k_pad / 4][64][4]: one 64-byte vector = 16 channels x 4 k.
  CacheLineVector<int8_t> packed;
  std::vector<float> scale;           // [n_pad], 0 for padding
  std::vector<int32_t> sum128;        // [n_pad]: 128 * sum_k q_w[n][k]
  std::vector<float> bias;            // [n_pad]
  int8_t at(int row, int col) const;  // q_w[row][col], from the packed layout
};
// weight [n][k] float32, bias [n] (may be empty: zeros). Throws on non-finite
// weights or k > kMaxK. A load-time step: it runs this CPU's best instruction set.
QuantizedWeights quantize_weights(const float* weight, const float* bias, int n, int k);
// Writes rows [r0, r1) of a float32 weight [n][k] to out ([r1 - r0][k]); may
// be called from several threads at once, each row once.
using WeightRows = std::function<void(int r0, int r1, float* out)>;
// The same bytes, with the weight read a few rows at a time (a model file's
// float16 decoded as it is quantized: no float32 copy of the whole matrix).
QuantizedWeights quantize_weights(const WeightRows& rows, const float* bias, int n, int k);

struct QuantizedRows {
  int m = 0, k = 0, k_pad = 0;
  UninitVector<uint8_t> q;   // [m][k_pad], q + 128; outlier channels hold 128 (zero)
  std::vector<float> scale;  // [m]
  // The outlier part, empty without outliers:
  std::vector<int> outlier_cols;  // input channels, in this order
  int outliers_pad = 0;           // outlier_cols.size() rounded up to kPadK
  UninitVector<uint8_t> q_out;    // [m][outliers_pad], q + 128
  std::vector<float> scale_out;   // [m]
};
// Per-row symmetric int8 of x [m][k] (rows row_stride floats apart; 0 means
// k), identical bytes on every backend. Throws on non-finite input.
// outlier_cols: distinct input channels, at most kMaxOutliers.
void quantize_rows(const float* x, int m, int k, QuantizedRows& out, ThreadPool& pool,
                   const std::vector<int>& outlier_cols = {}, size_t row_stride = 0,
                   Backend backend = Backend::kAuto);

// W's int8 columns `cols`, packed as a [n][cols.size()] matrix with W's scales
// and no bias: the weights of the outlier part.
QuantizedWeights gather_columns(const QuantizedWeights& w, const std::vector<int>& cols);

// What the GEMM applies to y before returning. kGelu is kernels/gelu.h's
// GELU, on each block of y while it is still in cache: the bytes of a
// separate gelu() pass, without reading and writing y again.
enum class Activation { kNone, kGelu };

// y [m][n] float32.
void gemm(const QuantizedRows& x, const QuantizedWeights& w, Backend backend, ThreadPool& pool,
          float* y, Activation activation = Activation::kNone);

// Backend kernels for one block: rows [m0, m1) x one 64-column block nb.
// w_out = gather_columns(w, x.outlier_cols), or null without outliers.
using BlockFn = void (*)(const QuantizedRows& x, const QuantizedWeights& w,
                         const QuantizedWeights* w_out, int m0, int m1, int nb, float* y);
BlockFn reference_block_fn();
BlockFn avx512_block_fn();
BlockFn avx2_block_fn();
BlockFn amx_block_fn();  // requires AMX-INT8 and AVX-512 at run time

}  // namespace amanuensis::gemm
