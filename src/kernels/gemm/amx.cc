// AMX block kernel: 32 rows x 32 columns of int32 accumulators in four tiles
// (two row tiles x two column tiles); the other four tiles hold 16 rows of
// activations (u8, 64 k) twice and 16 columns of weights (s8, 64 k) twice.
// The packed weights are already in AMX's layout: the 16 columns c..c+15 of
// one 4-k group are 64 contiguous bytes, and the next group of those columns
// follows kBlockN * kGroupK bytes on, so a weight tile is one strided load.
// The epilogue is the AVX-512 kernel's (avx512_epilogue.h). Compiled with the AVX-512
// flags (the tile instructions are inline asm, amx_tiles.h).
#include <immintrin.h>

#include <algorithm>

#include "kernels/amx_tiles.h"
#include "kernels/gemm/avx512_epilogue.h"

namespace amanuensis::gemm {
namespace {

constexpr int kTileRows = 16;
constexpr int kTileK = 64;                          // bytes of an activation tile row: k per step
constexpr int kChunkRows = 2 * kTileRows;           // rows of the accumulator tiles
constexpr int kChunkCols = 32;                      // columns of the accumulator tiles
constexpr int kWeightRowBytes = kBlockN * kGroupK;  // from one 4-k group to the next
static_assert(kPadK % kTileK == 0 && kBlockN % kChunkCols == 0);

// Tile registers: accumulators C<row tile><column tile>, activations A<row
// tile>, weights B<column tile>.
enum : int { kC00, kC01, kC10, kC11, kA0, kA1, kB0, kB1 };

// rows1 = 0: the second row tile is not used.
void configure(int rows0, int rows1) {
  amx::TileConfig c;
  for (int t : {kC00, kC01}) c.set(t, rows0, kChunkCols / 2 * 4);
  c.set(kA0, rows0, kTileK);
  if (rows1) {
    for (int t : {kC10, kC11}) c.set(t, rows1, kChunkCols / 2 * 4);
    c.set(kA1, rows1, kTileK);
  }
  for (int t : {kB0, kB1}) c.set(t, kTileK / kGroupK, 16 * kGroupK);
  amx::load_config(c);
}

using Chunk = int32_t[kChunkRows][kChunkCols];

// acc = the u8 x s8 products of the chunk's rows (x, x_stride bytes apart)
// with 32 packed weight columns (w), over `steps` x 64 k.
template <bool kTwoRowTiles>
void products(const uint8_t* x, size_t x_stride, const int8_t* w, int steps, Chunk& acc) {
  amx::zero<kC00>();
  amx::zero<kC01>();
  if constexpr (kTwoRowTiles) {
    amx::zero<kC10>();
    amx::zero<kC11>();
  }
  for (int t = 0; t < steps; ++t) {
    const uint8_t* xs = x + size_t(t) * kTileK;
    const int8_t* ws = w + size_t(t) * (kTileK / kGroupK) * kWeightRowBytes;
    amx::load<kB0>(ws, kWeightRowBytes);
    amx::load<kB1>(ws + 16 * kGroupK, kWeightRowBytes);
    amx::load<kA0>(xs, x_stride);
    amx::dpbusd<kC00, kA0, kB0>();
    amx::dpbusd<kC01, kA0, kB1>();
    if constexpr (kTwoRowTiles) {
      amx::load<kA1>(xs + kTileRows * x_stride, x_stride);
      amx::dpbusd<kC10, kA1, kB0>();
      amx::dpbusd<kC11, kA1, kB1>();
    }
  }
  constexpr size_t kStride = sizeof(acc[0]);
  amx::store<kC00>(&acc[0][0], kStride);
  amx::store<kC01>(&acc[0][16], kStride);
  if constexpr (kTwoRowTiles) {
    amx::store<kC10>(&acc[kTileRows][0], kStride);
    amx::store<kC11>(&acc[kTileRows][16], kStride);
  }
}

void products(int rows, const uint8_t* x, size_t x_stride, const int8_t* w, int steps, Chunk& acc) {
  if (rows > kTileRows)
    products<true>(x, x_stride, w, steps, acc);
  else
    products<false>(x, x_stride, w, steps, acc);
}

// A block of at most 16 rows (a decoder step's beams) takes all 64 columns
// at once: one row tile, four accumulator tiles, and a step reads each 4-k
// group's 256 weight bytes together. In two 32-column halves the weights,
// streamed from memory here, were read in an order the prefetchers follow
// less well (the vocabulary projection at 5 rows: 0.74 ms, AVX-512 0.67 ms).
// Tile kA1 holds a third weight tile in this mode.
void configure_wide(int rows) {
  amx::TileConfig c;
  for (int t : {kC00, kC01, kC10, kC11, kA0}) c.set(t, rows, 64);
  for (int t : {kB0, kB1, kA1}) c.set(t, kTileK / kGroupK, 16 * kGroupK);
  amx::load_config(c);
}

using WideChunk = int32_t[kTileRows][kBlockN];

void products_wide(const uint8_t* x, size_t x_stride, const int8_t* w, int steps, WideChunk& acc) {
  amx::zero<kC00>();
  amx::zero<kC01>();
  amx::zero<kC10>();
  amx::zero<kC11>();
  for (int t = 0; t < steps; ++t) {
    const int8_t* ws = w + size_t(t) * (kTileK / kGroupK) * kWeightRowBytes;
    amx::load<kA0>(x + size_t(t) * kTileK, x_stride);
    amx::load<kB0>(ws, kWeightRowBytes);
    amx::dpbusd<kC00, kA0, kB0>();
    amx::load<kB1>(ws + 16 * kGroupK, kWeightRowBytes);
    amx::dpbusd<kC01, kA0, kB1>();
    amx::load<kA1>(ws + 32 * kGroupK, kWeightRowBytes);
    amx::dpbusd<kC10, kA0, kA1>();
    amx::load<kB0>(ws + 48 * kGroupK, kWeightRowBytes);
    amx::dpbusd<kC11, kA0, kB0>();
  }
  constexpr size_t kStride = sizeof(acc[0]);
  amx::store<kC00>(&acc[0][0], kStride);
  amx::store<kC01>(&acc[0][16], kStride);
  amx::store<kC10>(&acc[0][32], kStride);
  amx::store<kC11>(&acc[0][48], kStride);
}

// y = (float(acc - sum128) * row scale [+ the outlier part's]) * w scale + bias
// for rows [m, m + rows) and the columns of acc from c0 on.
template <typename Acc>
void write_chunk(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                 int m, int rows, int c0, const Acc& acc, const Acc& acc_out, float* y) {
  constexpr int kCols = sizeof(acc[0]) / sizeof(acc[0][0]);
  for (int v = 0; v < kCols / 16; ++v) {
    const int col = c0 + 16 * v;
    if (col >= w.n) break;
    const Columns16 c = columns16(w, col);
    for (int r = 0; r < rows; ++r) {
      __m512 sum = scaled(_mm512_load_si512(&acc[r][16 * v]), c.sum128, x.scale[m + r]);
      if (w_out)
        sum = _mm512_add_ps(
            sum, scaled(_mm512_load_si512(&acc_out[r][16 * v]),
                        _mm512_loadu_si512(w_out->sum128.data() + col), x.scale_out[m + r]));
      store16(y + size_t(m + r) * w.n + col, c, sum);
    }
  }
}

void wide_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                int m0, int m1, int nb, float* y) {
  alignas(64) WideChunk acc, acc_out;
  configure_wide(m1 - m0);
  products_wide(x.q.data() + size_t(m0) * x.k_pad, x.k_pad,
                w.packed.data() + size_t(nb) * w.k_pad * kBlockN, w.k_pad / kTileK, acc);
  if (w_out)
    products_wide(x.q_out.data() + size_t(m0) * x.outliers_pad, x.outliers_pad,
                  w_out->packed.data() + size_t(nb) * w_out->k_pad * kBlockN, w_out->k_pad / kTileK,
                  acc_out);
  amx::release();
  write_chunk(x, w, w_out, m0, m1 - m0, nb * kBlockN, acc, acc_out, y);
}

void amx_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
               int m0, int m1, int nb, float* y) {
  if (m1 - m0 <= kTileRows) return wide_block(x, w, w_out, m0, m1, nb, y);
  alignas(64) Chunk acc, acc_out;
  int configured = -1;  // the rows the tiles are configured for
  for (int c0 = nb * kBlockN; c0 < std::min(w.n, (nb + 1) * kBlockN); c0 += kChunkCols) {
    const size_t column_offset = size_t(c0 % kBlockN) * kGroupK;
    for (int m = m0; m < m1; m += kChunkRows) {
      const int rows = std::min(kChunkRows, m1 - m);
      if (rows != configured) {
        configure(std::min(rows, kTileRows), std::max(rows - kTileRows, 0));
        configured = rows;
      }
      products(rows, x.q.data() + size_t(m) * x.k_pad, x.k_pad,
               w.packed.data() + size_t(nb) * w.k_pad * kBlockN + column_offset, w.k_pad / kTileK,
               acc);
      if (w_out)
        products(rows, x.q_out.data() + size_t(m) * x.outliers_pad, x.outliers_pad,
                 w_out->packed.data() + size_t(nb) * w_out->k_pad * kBlockN + column_offset,
                 w_out->k_pad / kTileK, acc_out);
      write_chunk(x, w, w_out, m, rows, c0, acc, acc_out, y);
    }
  }
  amx::release();
}

}  // namespace

BlockFn amx_block_fn() { return amx_block; }

}  // namespace amanuensis::gemm
