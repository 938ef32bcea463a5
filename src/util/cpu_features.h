#pragma once

namespace amanuensis {

struct CpuFeatures {
  bool avx2 = false;         // AVX2 with FMA and F16C
  bool avx512_vnni = false;  // AVX-512 F, BW, VL and VNNI together, with OS support
};

const CpuFeatures& cpu_features();

}  // namespace amanuensis
