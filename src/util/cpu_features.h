#pragma once

namespace amanuensis {

struct CpuFeatures {
  bool avx2 = false;         // AVX2 with FMA and F16C
  bool avx512_vnni = false;  // AVX-512 F, BW, VL and VNNI together, with OS support
  // AMX tiles and int8 products with AVX-512 VNNI, and the kernel's leave to
  // use the tile registers (granted to the whole process at the first call).
  bool amx_int8 = false;
};

const CpuFeatures& cpu_features();

}  // namespace amanuensis
