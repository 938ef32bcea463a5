// Which instruction set a kernel runs on (amanuensis::Backend, a public type).
// Every backend of a kernel gives the same bytes; the choice only changes speed.
#pragma once

#include <vector>

#include "amanuensis/types.h"

namespace amanuensis {

// The backend kAuto picks on this CPU (AMX, else AVX-512 VNNI, else AVX2,
// else the reference), or b itself; throws Error (kUnsupported) if this CPU
// cannot run b.
Backend resolve_backend(Backend b);

// The vector instruction set of b's plain loops (everything but the int8
// products): resolve_backend(b), with AMX's AVX-512 for kAmx.
Backend vector_isa(Backend b);

// The backends this CPU can run, the reference first: the list the kernels'
// tests and benchmarks go through.
std::vector<Backend> supported_backends();

}  // namespace amanuensis
