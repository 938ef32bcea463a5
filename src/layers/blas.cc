#include "layers/blas.h"

#include <dlfcn.h>

#include <string>

#include "amanuensis/types.h"

namespace amanuensis::blas {
namespace {

constexpr const char* kSoname = "libopenblas.so.0";

struct OpenBlas {
  decltype(&::cblas_sgemm) sgemm = nullptr;
  std::string error;  // why it could not be opened, or ""
};

const OpenBlas& openblas() {
  static const OpenBlas lib = [] {
    OpenBlas b;
    void* h = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      b.error = why ? why : std::string("cannot open ") + kSoname;
      return b;
    }
    b.sgemm = reinterpret_cast<decltype(&::cblas_sgemm)>(dlsym(h, "cblas_sgemm"));
    using SetThreads = void (*)(int);
    auto set_threads = reinterpret_cast<SetThreads>(dlsym(h, "openblas_set_num_threads"));
    if (!b.sgemm || !set_threads) {
      b.sgemm = nullptr;
      b.error = std::string(kSoname) + " lacks cblas_sgemm or openblas_set_num_threads";
      return b;
    }
    set_threads(1);
    // The pthread build started a worker per core as it loaded; each spins
    // for ~0.1 s before it sleeps. Setting the count does not stop them; the
    // shutdown its own fork handler uses does. Other builds lack it.
    using Shutdown = int (*)();
    if (auto shutdown = reinterpret_cast<Shutdown>(dlsym(h, "blas_thread_shutdown_"))) shutdown();
    return b;
  }();
  return lib;
}

}  // namespace

void sgemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, int m, int n, int k, float alpha,
           const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  const OpenBlas& lib = openblas();
  if (!lib.sgemm)
    throw Error("precision fp32 needs OpenBLAS, which cannot be loaded (" + lib.error + ")",
                ErrorKind::kUnsupported, "precision");
  lib.sgemm(CblasRowMajor, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace amanuensis::blas
