#include "util/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace amanuensis {
namespace {

// CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports lacks "f16c").
bool has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

// CPUID leaf 7: EDX bit 24 AMX-TILE, bit 25 AMX-INT8. Linux also asks each
// process to request the tile data state (1 KiB per tile register x 8) before
// its first tile instruction, else that instruction faults; the grant covers
// every thread of the process. Values from the kernel's uapi asm/prctl.h.
bool has_amx_int8() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    f.avx512_vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    f.amx_int8 = f.avx512_vnni && has_amx_int8();
    return f;
  }();
  return features;
}

}  // namespace amanuensis
