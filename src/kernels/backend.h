// Which instruction set a kernel runs on. Every backend of a kernel gives the
// same bytes; the choice only changes speed.
#pragma once

#include <string>

namespace amanuensis {

enum class Backend { kAuto, kReference, kAvx2, kAvx512 };

Backend parse_backend(const std::string& name);  // throws std::invalid_argument
std::string backend_name(Backend b);
// The backend kAuto picks on this CPU (AVX-512 VNNI, else AVX2, else the
// reference), or b itself; throws std::runtime_error if this CPU cannot run b.
Backend resolve_backend(Backend b);

}  // namespace amanuensis
