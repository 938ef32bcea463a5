// IEEE binary16 ("half") storage: the int8 decoder keeps its cross-attention
// keys and values as halves, since a batched decoder step streams every
// window's K/V, as many bytes as the weights (docs/PERFORMANCE.md,
// "Throughput: batched decoding"). Arithmetic stays float; halves are only
// stored and loaded. Both conversions are exact IEEE ones (half to float is
// exact; float to half rounds to nearest, ties to even, whatever the FPU's
// mode), so the reference code and F16C's instructions give the same bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backend.h"

namespace amanuensis {

using Half = uint16_t;  // the bits of an IEEE binary16

float half_to_float(Half h);
Half float_to_half(float x);  // beyond 65504, the largest half (after rounding): inf

// n conversions, contiguous.
using FloatsToHalves = void (*)(const float* in, size_t n, Half* out);

// The conversion for a resolved backend: F16C's instructions on AVX2 and
// AVX-512 (every CPU with either has F16C), the scalar code above otherwise.
// (Halves are read back by the decoder's attention kernels, which convert
// them in registers: kernels/decoder_attention.)
FloatsToHalves floats_to_halves_fn(Backend b);

namespace half_kernels {
void floats_to_halves_reference(const float* in, size_t n, Half* out);
void floats_to_halves_f16c(const float* in, size_t n, Half* out);  // requires F16C
}  // namespace half_kernels

}  // namespace amanuensis
