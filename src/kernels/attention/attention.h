// Exact INT8 attention: quantize float Q/K/V, run the integer kernel on a
// chosen backend and thread count, and dequantize. See docs/attention.md.
#pragma once

#include <string>

#include "kernels/attention/problem.h"
#include "util/thread_pool.h"

namespace amanuensis::attn {

enum class Backend { kAuto, kReference, kAvx2, kAvx512 };

Backend parse_backend(const std::string& name);  // throws std::invalid_argument
std::string backend_name(Backend b);
// The backend that kAuto picks on this CPU, or b itself if this CPU runs it;
// throws std::runtime_error if b needs instructions this CPU lacks.
Backend resolve_backend(Backend b);
bool is_valid_tile(int tile);

// out: float [heads][q_len][64]. Identical bytes for every backend and pool size.
void run_attention(const QuantizedAttention& p, Backend backend, int tile, ThreadPool& pool,
                   float* out);

}  // namespace amanuensis::attn
