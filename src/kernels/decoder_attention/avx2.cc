// AVX2 + F16C (this file is compiled with -mavx2 -mfma -mf16c; the multiplies
// and adds stay apart, as -ffp-contract=off keeps them). A tile is 5 queries
// (a beam search's rows) by 16 keys or 16 channels: ten sums, the two vectors
// of converted halves, a broadcast and a product fill 14 of the 16 registers,
// and each 8 halves are loaded and converted once for all five queries.
#include <immintrin.h>

#include "kernels/decoder_attention/decoder_attention.h"

namespace amanuensis::decoder_attention {
namespace {

inline __m256 load_halves(const Half* h) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

// Scores of Q queries against the 16 keys of a K block that start at kb.
template <int Q>
void score_tile(const float* q, size_t q_stride, const Half* kb, float* p, size_t p_stride) {
  __m256 a[Q][2];
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) a[i][0] = a[i][1] = _mm256_setzero_ps();
  for (int c = 0; c < kHeadDim; ++c) {
    const __m256 k0 = load_halves(kb + c * kKeyBlock), k1 = load_halves(kb + c * kKeyBlock + 8);
#pragma GCC unroll 8
    for (int i = 0; i < Q; ++i) {
      const __m256 qc = _mm256_broadcast_ss(q + i * q_stride + c);
      a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(qc, k0));
      a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(qc, k1));
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) {
    _mm256_storeu_ps(p + i * p_stride, a[i][0]);
    _mm256_storeu_ps(p + i * p_stride + 8, a[i][1]);
  }
}

// Q queries' sums over keys [0, n) of 16 channels of V that start at v.
template <int Q>
void sum_tile(const float* p, size_t p_stride, const Half* v, int n, float* o, size_t o_stride) {
  __m256 a[Q][2];
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) {
    a[i][0] = _mm256_loadu_ps(o + i * o_stride);
    a[i][1] = _mm256_loadu_ps(o + i * o_stride + 8);
  }
  for (int j = 0; j < n; ++j) {
    const __m256 v0 = load_halves(v + j * kHeadDim), v1 = load_halves(v + j * kHeadDim + 8);
#pragma GCC unroll 8
    for (int i = 0; i < Q; ++i) {
      const __m256 pj = _mm256_broadcast_ss(p + i * p_stride + j);
      a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(pj, v0));
      a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(pj, v1));
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) {
    _mm256_storeu_ps(o + i * o_stride, a[i][0]);
    _mm256_storeu_ps(o + i * o_stride + 8, a[i][1]);
  }
}

}  // namespace

void scores_avx2(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                 size_t p_stride) {
  const int keys = (n + kKeyBlock - 1) / kKeyBlock * kKeyBlock;
  for (int j = 0; j < keys; j += 16) {
    const Half* kb = k + key_offset(j, 0);
    for_row_tiles(nq, [&](auto rows, int r) {
      score_tile<rows>(q + r * q_stride, q_stride, kb, p + r * p_stride + j, p_stride);
    });
  }
}

void weighted_sums_avx2(const float* p, size_t p_stride, int nq, const Half* v, int n, float* out,
                        size_t out_stride) {
  for (int c = 0; c < kHeadDim; c += 16)
    for_row_tiles(nq, [&](auto rows, int r) {
      sum_tile<rows>(p + r * p_stride, p_stride, v + c, n, out + r * out_stride + c, out_stride);
    });
}

}  // namespace amanuensis::decoder_attention
