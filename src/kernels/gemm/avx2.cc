// AVX2 block kernels for CPUs without AVX-512 VNNI; both give the exact
// integer dot products, so the same bytes as the reference.
//
// Many rows (a prompt, the encoder) use vpmaddwd on int16: a 6-row tile's
// activations are widened once to q = u8 - 128, each 16-byte weight vector
// (4 channels x 4 k) is sign-extended once and shared by the 6 rows, and a
// product costs one vpmaddwd and one vpaddd, the pair the peak probe
// measures. The u8 x s8 vpmaddubsw needs a vpsignb per product first (its
// pairs of 255 * 127 would saturate int16), and that third instruction held
// the 2 x 32 tile that did it to 59 % of the peak on Zen 3.
//
// Up to 5 rows (a decoding step: one per beam) go in one tile of the whole
// 64-channel block with vpmaddubsw: the activations are stored as u8 = q + 128;
// flipping the top bit gives q as s8, and vpmaddubsw takes |q| (u8) times
// sign(q) * w (s8): every product is at most 128 * 127 and a pair of them at
// most 32512, so its int16 sums never saturate (vpmaddwd with ones widens to
// int32). One 32-byte weight vector holds 8 channels x 4 k, so each int32
// lane ends as one channel's whole 4-k dot product. The rows share each
// weight load, so the weights stream in once while every row computes on
// them; its 40 accumulators spill to L1. In 2-row passes the weights (more
// than the cache holds, for the 51,865-column output projection) arrived
// during the first pass while the others only computed: memory and
// arithmetic did not overlap, and the step's GEMMs took 1.5x longer
// (docs/PERFORMANCE.md).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/gemm/gemm.h"

namespace amanuensis::gemm {
namespace {

// acc[r][v] = dot products of rows x + r * stride with the 8 channels
// [c0 + 8 v, +8) of block nb, over every 4-k group of w.
template <int kR, int kV>
void tile(const uint8_t* x, size_t stride, const QuantizedWeights& w, int nb, int c0,
          int32_t (*out)[8 * kV]) {
  const int groups = w.k_pad / kGroupK;
  const int8_t* wp = w.packed.data() + size_t(nb) * groups * kBlockN * kGroupK + c0 * kGroupK;
  const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(char(0x80));
  __m256i acc[kR][kV];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_si256();
  // Unrolled whole, so that no array is indexed at run time.
  for (int g = 0; g < groups; ++g) {
    __m256i wv[kV];
#pragma GCC unroll 8
    for (int v = 0; v < kV; ++v)
      wv[v] = _mm256_loadu_si256((const __m256i*)(wp + (size_t(g) * kBlockN + 8 * v) * kGroupK));
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) {
      int32_t four;
      std::memcpy(&four, x + r * stride + kGroupK * g, 4);
      const __m256i q = _mm256_xor_si256(_mm256_set1_epi32(four), flip);  // s8
      const __m256i q_abs = _mm256_sign_epi8(q, q);
#pragma GCC unroll 8
      for (int v = 0; v < kV; ++v) {
        const __m256i pairs = _mm256_maddubs_epi16(q_abs, _mm256_sign_epi8(wv[v], q));
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  for (int r = 0; r < kR; ++r)
    for (int v = 0; v < kV; ++v) _mm256_storeu_si256((__m256i*)(out[r] + 8 * v), acc[r][v]);
}

// Rows [m0, m0 + kR) x channels [c0, c0 + 8 kV) of block nb, into y.
template <int kR, int kV>
void rows_x_channels(const QuantizedRows& x, const QuantizedWeights& w,
                     const QuantizedWeights* w_out, int m0, int nb, int c0, float* y) {
  constexpr int kCols = 8 * kV;
  int32_t dots[kR][kCols], dots_out[kR][kCols];
  tile<kR, kV>(x.q.data() + size_t(m0) * x.k_pad, x.k_pad, w, nb, c0, dots);
  if (w_out)
    tile<kR, kV>(x.q_out.data() + size_t(m0) * x.outliers_pad, x.outliers_pad, *w_out, nb, c0,
                 dots_out);
  const int n0 = nb * kBlockN + c0;
  for (int r = 0; r < kR; ++r)
    for (int c = 0; c < kCols && n0 + c < w.n; ++c) {
      const int n = n0 + c, m = m0 + r;
      float sum = float(dots[r][c]) * x.scale[m];
      if (w_out) sum = sum + float(dots_out[r][c]) * x.scale_out[m];
      y[size_t(m) * w.n + n] = sum * w.scale[n] + w.bias[n];
    }
}

template <int kR>
void few_rows(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
              int m0, int nb, float* y) {
  rows_x_channels<kR, kBlockN / 8>(x, w, w_out, m0, nb, 0, y);
}

// Rows of u8 = q + 128 as int16 q, k_pad values a row, in and out.
void widen_rows(const uint8_t* x, int rows, int k_pad, int16_t* out) {
  const __m256i offset = _mm256_set1_epi16(128);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* in = x + size_t(r) * k_pad;
    int16_t* o = out + size_t(r) * k_pad;
    int c = 0;
    for (; c + 16 <= k_pad; c += 16) {
      const __m256i u = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(in + c)));
      _mm256_storeu_si256((__m256i*)(o + c), _mm256_sub_epi16(u, offset));
    }
    for (; c < k_pad; ++c) o[c] = int16_t(int(in[c]) - 128);
  }
}

// acc + the pairwise products of q and w (vpmaddwd, vpaddd). In assembly:
// from intrinsics GCC 12 kept the 6-row tile's accumulators on the stack,
// with a store and a move per product.
[[gnu::always_inline]] inline __m256i madd_add(__m256i acc, __m256i q, __m256i w) {
  __m256i products;
  asm("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(products) : "x"(q), "x"(w));
  return acc;
}

// out[r][c] = dot products of the int16 rows x + r * k_pad with the 8
// channels [c0, c0 + 8) of block nb, over every 4-k group of w.
template <int kR>
void tile16(const int16_t* x, int k_pad, const QuantizedWeights& w, int nb, int c0,
            int32_t (*out)[8]) {
  const int groups = w.k_pad / kGroupK;
  const int8_t* wp = w.packed.data() + size_t(nb) * groups * kBlockN * kGroupK + c0 * kGroupK;
  __m256i acc[kR][2];
  for (auto& row : acc) row[0] = row[1] = _mm256_setzero_si256();
  for (int g = 0; g < groups; ++g) {
    const int8_t* p = wp + size_t(g) * kBlockN * kGroupK;
    // w0: channels c0 .. c0 + 3, each as its 4 k (w1: the next 4). Against the
    // row's 4 k, int32 lane 2c + h holds channel c's products of k 2h, 2h + 1.
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)p));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(p + 16)));
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) {
      int64_t four;
      std::memcpy(&four, x + size_t(r) * k_pad + kGroupK * g, 8);
      const __m256i q = _mm256_set1_epi64x(four);
      acc[r][0] = madd_add(acc[r][0], q, w0);
      acc[r][1] = madd_add(acc[r][1], q, w1);
    }
  }
  for (int r = 0; r < kR; ++r) {
    // hadd: channels 0 1 4 5 | 2 3 6 7; the permute puts them in order.
    const __m256i sums = _mm256_hadd_epi32(acc[r][0], acc[r][1]);
    _mm256_storeu_si256((__m256i*)out[r], _mm256_permute4x64_epi64(sums, 0xD8));
  }
}

// Rows [m0, m0 + kR) x the whole block nb, 8 channels at a time.
template <int kR>
void rows_x_block16(const QuantizedRows& x, const QuantizedWeights& w,
                    const QuantizedWeights* w_out, int m0, int nb, float* y) {
  thread_local std::vector<int16_t> q, q_out;
  q.resize(size_t(kR) * x.k_pad);
  widen_rows(x.q.data() + size_t(m0) * x.k_pad, kR, x.k_pad, q.data());
  if (w_out) {
    q_out.resize(size_t(kR) * x.outliers_pad);
    widen_rows(x.q_out.data() + size_t(m0) * x.outliers_pad, kR, x.outliers_pad, q_out.data());
  }
  for (int c0 = 0; c0 < kBlockN && nb * kBlockN + c0 < w.n; c0 += 8) {
    int32_t dots[kR][8], dots_out[kR][8];
    tile16<kR>(q.data(), x.k_pad, w, nb, c0, dots);
    if (w_out) tile16<kR>(q_out.data(), x.outliers_pad, *w_out, nb, c0, dots_out);
    // gemm.h's formula, 8 columns at a time (scale and bias are padded).
    const int n0 = nb * kBlockN + c0;
    const __m256 sw = _mm256_loadu_ps(w.scale.data() + n0);
    const __m256 bias = _mm256_loadu_ps(w.bias.data() + n0);
    auto scaled = [](const int32_t* acc, float row_scale) {
      return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i*)acc)),
                           _mm256_set1_ps(row_scale));
    };
    for (int r = 0; r < kR; ++r) {
      const int m = m0 + r;
      __m256 sum = scaled(dots[r], x.scale[m]);
      if (w_out) sum = _mm256_add_ps(sum, scaled(dots_out[r], x.scale_out[m]));
      const __m256 out = _mm256_add_ps(_mm256_mul_ps(sum, sw), bias);
      float* yr = y + size_t(m) * w.n + n0;
      if (n0 + 8 <= w.n) {
        _mm256_storeu_ps(yr, out);
      } else {
        alignas(32) float last[8];
        _mm256_store_ps(last, out);
        std::memcpy(yr, last, sizeof(float) * size_t(w.n - n0));
      }
    }
  }
}

// fn(std::integral_constant<int, n>{}) for a run-time n from 1 to 5.
template <typename Fn>
void with_rows(int n, Fn&& fn) {
  switch (n) {
    case 1:
      return fn(std::integral_constant<int, 1>{});
    case 2:
      return fn(std::integral_constant<int, 2>{});
    case 3:
      return fn(std::integral_constant<int, 3>{});
    case 4:
      return fn(std::integral_constant<int, 4>{});
    case 5:
      return fn(std::integral_constant<int, 5>{});
    default:
      return;
  }
}

void avx2_block(const QuantizedRows& x, const QuantizedWeights& w, const QuantizedWeights* w_out,
                int m0, int m1, int nb, float* y) {
  if (m1 - m0 <= 5)
    return with_rows(m1 - m0, [&](auto rows) { few_rows<rows()>(x, w, w_out, m0, nb, y); });
  int r = m0;
  for (; r + 6 <= m1; r += 6) rows_x_block16<6>(x, w, w_out, r, nb, y);
  with_rows(m1 - r, [&](auto rows) { rows_x_block16<rows()>(x, w, w_out, r, nb, y); });
}

}  // namespace

BlockFn avx2_block_fn() { return avx2_block; }

}  // namespace amanuensis::gemm
