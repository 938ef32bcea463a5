#include "kernels/backend.h"

#include "util/cpu_features.h"

namespace amanuensis {

Backend resolve_backend(Backend b) {
  const CpuFeatures& cpu = cpu_features();
  switch (b) {
    case Backend::kAuto:
      return cpu.amx_int8      ? Backend::kAmx
             : cpu.avx512_vnni ? Backend::kAvx512
             : cpu.avx2        ? Backend::kAvx2
                               : Backend::kReference;
    case Backend::kAmx:
      if (!cpu.amx_int8)
        throw Error("this CPU or its kernel does not offer AMX-INT8 (backend amx)",
                    ErrorKind::kUnsupported, "backend");
      return b;
    case Backend::kAvx512:
      if (!cpu.avx512_vnni)
        throw Error("this CPU lacks AVX-512 VNNI (backend avx512)", ErrorKind::kUnsupported,
                    "backend");
      return b;
    case Backend::kAvx2:
      if (!cpu.avx2)
        throw Error("this CPU lacks AVX2 (backend avx2)", ErrorKind::kUnsupported, "backend");
      return b;
    case Backend::kReference:
      return b;
  }
  return b;
}

Backend vector_isa(Backend b) {
  const Backend r = resolve_backend(b);
  return r == Backend::kAmx ? Backend::kAvx512 : r;
}

std::vector<Backend> supported_backends() {
  const CpuFeatures& cpu = cpu_features();
  std::vector<Backend> b = {Backend::kReference};
  if (cpu.avx2) b.push_back(Backend::kAvx2);
  if (cpu.avx512_vnni) b.push_back(Backend::kAvx512);
  if (cpu.amx_int8) b.push_back(Backend::kAmx);
  return b;
}

}  // namespace amanuensis
