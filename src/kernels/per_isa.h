// The one way code is picked per instruction set: by the resolved Backend.
// Hand-written kernels (int8 GEMM and attention) have one file per ISA
// (reference.cc, avx2.cc, avx512_vnni.cc). Plain C++ loops are written once,
// as an always-inline function, and PerIsa<loop> compiles one copy per ISA:
//
//   [[gnu::always_inline]] inline void add_range(float* x, ...) { ... }
//   per_isa<add_range>(backend, x, ...);   // the copy for that backend
//
// Every copy performs the same IEEE operations in the same order (no FMA
// contraction, see CMakeLists.txt), so the bytes do not depend on the copy;
// only the vector width does. x86-64-v4 (AVX-512 F/BW/DQ/VL) is given to the
// AVX-512 copy because a plain "avx512f" target keeps 256-bit vectors.
#pragma once

#include <utility>

#include "kernels/backend.h"

namespace amanuensis {

template <auto Loop>
struct PerIsa;

template <typename R, typename... A, R (*Loop)(A...)>
struct PerIsa<Loop> {
  using Fn = R (*)(A...);
  [[gnu::target("arch=x86-64-v4")]] static R avx512(A... a) { return Loop(a...); }
  [[gnu::target("avx2")]] static R avx2(A... a) { return Loop(a...); }
  static R reference(A... a) { return Loop(a...); }

  // The copy for b's vector instruction set (vector_isa: kAuto is this CPU's
  // best, kAmx runs the AVX-512 copies).
  static Fn pick(Backend b) {
    switch (vector_isa(b)) {
      case Backend::kAvx512:
        return avx512;
      case Backend::kAvx2:
        return avx2;
      default:
        return reference;
    }
  }
};

template <auto Loop, typename... Args>
decltype(auto) per_isa(Backend b, Args&&... args) {
  return PerIsa<Loop>::pick(b)(std::forward<Args>(args)...);
}

}  // namespace amanuensis
