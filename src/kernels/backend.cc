#include "kernels/backend.h"

#include <stdexcept>

#include "util/cpu_features.h"

namespace amanuensis {

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "reference") return Backend::kReference;
  if (name == "avx2") return Backend::kAvx2;
  if (name == "avx512") return Backend::kAvx512;
  throw std::invalid_argument("unknown backend '" + name +
                              "' (use reference, avx2, avx512 or auto)");
}

std::string backend_name(Backend b) {
  switch (b) {
    case Backend::kAuto:
      return "auto";
    case Backend::kReference:
      return "reference";
    case Backend::kAvx2:
      return "avx2";
    case Backend::kAvx512:
      return "avx512";
  }
  return "?";
}

Backend resolve_backend(Backend b) {
  const CpuFeatures& cpu = cpu_features();
  switch (b) {
    case Backend::kAuto:
      return cpu.avx512_vnni ? Backend::kAvx512 : cpu.avx2 ? Backend::kAvx2 : Backend::kReference;
    case Backend::kAvx512:
      if (!cpu.avx512_vnni)
        throw std::runtime_error("this CPU lacks AVX-512 VNNI (backend avx512)");
      return b;
    case Backend::kAvx2:
      if (!cpu.avx2) throw std::runtime_error("this CPU lacks AVX2 (backend avx2)");
      return b;
    case Backend::kReference:
      return b;
  }
  return b;
}

}  // namespace amanuensis
