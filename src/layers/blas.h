// OpenBLAS for the fp32 path only, opened on first use rather than linked.
// Linked, it starts a worker thread per core when the process starts, which
// spin beside model loading; the int8 path never calls BLAS, so a process
// that never asks for fp32 never loads it and the library changes nothing of
// OpenBLAS's in its host. The first fp32 call sets OpenBLAS to one thread
// (our pool splits the work; BLAS threads would change the summation order
// with the core count) and stops the workers it started.
#pragma once

#include <cblas.h>

namespace amanuensis::blas {

// cblas_sgemm, row-major, on the calling thread. Throws Error (kUnsupported)
// naming the library if OpenBLAS cannot be loaded.
void sgemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, int m, int n, int k, float alpha,
           const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace amanuensis::blas
