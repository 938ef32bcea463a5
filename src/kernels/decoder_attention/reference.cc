// The plain loops every other copy must match, and the dispatch.
#include "kernels/decoder_attention/decoder_attention.h"

namespace amanuensis::decoder_attention {

void scores_reference(const float* q, size_t q_stride, int nq, const Half* k, int n, float* p,
                      size_t p_stride) {
  const int keys = (n + kKeyBlock - 1) / kKeyBlock * kKeyBlock;
  for (int r = 0; r < nq; ++r)
    for (int j = 0; j < keys; ++j) {
      float s = 0.0f;
      for (int c = 0; c < kHeadDim; ++c)
        s += q[r * q_stride + c] * half_to_float(k[key_offset(j, c)]);
      p[r * p_stride + j] = s;
    }
}

void weighted_sums_reference(const float* p, size_t p_stride, int nq, const Half* v, int n,
                             float* out, size_t out_stride) {
  for (int r = 0; r < nq; ++r)
    for (int c = 0; c < kHeadDim; ++c) {
      float o = out[r * out_stride + c];
      for (int j = 0; j < n; ++j) o += p[r * p_stride + j] * half_to_float(v[j * kHeadDim + c]);
      out[r * out_stride + c] = o;
    }
}

HalfKernels half_kernels_for(Backend b) {
  switch (vector_isa(b)) {
    case Backend::kAvx512:
      return {scores_avx512, weighted_sums_avx512};
    case Backend::kAvx2:
      return {scores_avx2, weighted_sums_avx2};
    default:
      return {scores_reference, weighted_sums_reference};
  }
}

}  // namespace amanuensis::decoder_attention
