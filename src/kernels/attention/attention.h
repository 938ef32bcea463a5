// Exact INT8 attention: quantize float Q/K/V, run the integer kernel on a
// chosen backend and thread count, and dequantize. See docs/attention.md.
#pragma once

#include <string>

#include "kernels/attention/problem.h"
#include "kernels/backend.h"
#include "util/thread_pool.h"

namespace amanuensis::attn {

using ::amanuensis::Backend;

bool is_valid_tile(int tile);

// out: float [heads][q_len][64]. Identical bytes for every backend and pool size.
void run_attention(const QuantizedAttention& p, Backend backend, int tile, ThreadPool& pool,
                   HeadsOut out);
inline void run_attention(const QuantizedAttention& p, Backend backend, int tile, ThreadPool& pool,
                          float* out) {
  run_attention(p, backend, tile, pool, contiguous_heads(out, p.q_len));
}

}  // namespace amanuensis::attn
