// AVX-512 (this file is compiled for AVX-512 F/BW/VL, which includes F16C's
// conversions; multiplies and adds stay apart, as -ffp-contract=off keeps
// them). A tile is 5 queries (a beam search's rows) by a whole block of 32
// keys, or by 32 channels: ten sums in registers, each 16 halves loaded and
// converted once for all five queries.
#include <immintrin.h>

#include "kernels/decoder_attention/decoder_attention.h"

namespace amanuensis::decoder_attention {
namespace {

inline __m512 load_halves(const Half* h) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
}

// Scores of Q queries against the 32 keys of the K block kb.
template <int Q>
void score_tile(const float* q, size_t q_stride, const Half* kb, float* p, size_t p_stride) {
  __m512 a[Q][2];
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) a[i][0] = a[i][1] = _mm512_setzero_ps();
  for (int c = 0; c < kHeadDim; ++c) {
    const __m512 k0 = load_halves(kb + c * kKeyBlock), k1 = load_halves(kb + c * kKeyBlock + 16);
#pragma GCC unroll 8
    for (int i = 0; i < Q; ++i) {
      const __m512 qc = _mm512_set1_ps(q[i * q_stride + c]);
      a[i][0] = _mm512_add_ps(a[i][0], _mm512_mul_ps(qc, k0));
      a[i][1] = _mm512_add_ps(a[i][1], _mm512_mul_ps(qc, k1));
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) {
    _mm512_storeu_ps(p + i * p_stride, a[i][0]);
    _mm512_storeu_ps(p + i * p_stride + 16, a[i][1]);
  }
}

// Q queries' sums over keys [0, n) of 32 channels of V that start at v.
template <int Q>
void sum_tile(const float* p, size_t p_stride, const Half* v, int n, float* o, size_t o_stride) {
  __m512 a[Q][2];
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) {
    a[i][0] = _mm512_loadu_ps(o + i * o_stride);
    a[i][1] = _mm512_loadu_ps(o + i * o_stride + 16);
  }
  for (int j = 0; j < n; ++j) {
    const __m512 v0 = load_halves(v + j * kHeadDim), v1 = load_halves(v + j * kHeadDim + 16);
#pragma GCC unroll 8
    for (int i = 0; i < Q; ++i) {
      const __m512 pj = _mm512_set1_ps(p[i * p_stride + j]);
      a[i][0] = _mm512_add_ps(a[i][0], _mm512_mul_ps(pj, v0));
      a[i][1] = _mm512_add_ps(a[i][1], _mm512_mul_ps(pj, v1));
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < Q; ++i) {
    _mm512_storeu_ps(o + i * o_stride, a[i][0]);
    _mm512_storeu_ps(o + i * o_stride + 16, a[i][1]);
  }
}

}  // namespace

void scores_avx512(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                   size_t p_stride) {
  for (int j = 0; j < n; j += kKeyBlock) {
    const Half* kb = k + key_offset(j, 0);
    for_row_tiles(nq, [&](auto rows, int r) {
      score_tile<rows>(q + r * q_stride, q_stride, kb, p + r * p_stride + j, p_stride);
    });
  }
}

void weighted_sums_avx512(const float* p, size_t p_stride, int nq, const Half* v, int n, float* out,
                          size_t out_stride) {
  for (int c = 0; c < kHeadDim; c += 32)
    for_row_tiles(nq, [&](auto rows, int r) {
      sum_tile<rows>(p + r * p_stride, p_stride, v + c, n, out + r * out_stride + c, out_stride);
    });
}

}  // namespace amanuensis::decoder_attention
