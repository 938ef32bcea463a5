// Float32 elementwise and row ops of the encoder and decoder, split over the
// pool. Plain C++ (no libm calls in the loops) so that the compiler vectorizes
// them, compiled once per instruction set (backend, kernels/per_isa.h); every
// copy computes the same bytes.
#pragma once

#include <cstddef>

#include "layers/linear.h"
#include "util/thread_pool.h"

namespace amanuensis {

// nn.GELU() (the erf form, kernels/gelu.h) in place.
void gelu(float* x, size_t n, Backend backend, ThreadPool& pool);

// y = (x - mean) / sqrt(var + 1e-5) * gamma + beta, per row of width d.
void layer_norm(const float* x, int rows, int d, const LayerNormWeights& ln, float* y,
                Backend backend, ThreadPool& pool);

// x += y
void add_inplace(float* x, const float* y, size_t n, Backend backend, ThreadPool& pool);

}  // namespace amanuensis
