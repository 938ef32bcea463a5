// Attention over Whisper's 64-wide heads, in one place, in two shapes:
//
// * SequenceAttention: every query against every key of a whole sequence (the
//   encoder's 1500 frames). Int8 runs the exact tiled kernel
//   (kernels/attention, the same bytes on every backend); fp32 runs BLAS.
// * attend(): a few queries (one per beam) against keys cached across decode
//   steps (the decoder's self- and cross-attention). Always float arithmetic:
//   at one query a row, quantizing K and V each step would cost more than it
//   saves (docs/PERFORMANCE.md, "Why the decoder's attention is float"); the
//   int8 decoder stores its cross-attention K/V as halves (kernels/half),
//   which kernels/decoder_attention reads.
#pragma once

#include <cstddef>

#include "amanuensis/types.h"
#include "kernels/attention/problem.h"
#include "kernels/decoder_attention/decoder_attention.h"
#include "kernels/half/half.h"
#include "util/round.h"
#include "util/thread_pool.h"
#include "util/whisper_geometry.h"

namespace amanuensis {

class SequenceAttention {
 public:
  // qk_planes: the int8 kernel's Q/K planes (1 or 2; see docs/attention.md).
  SequenceAttention(Precision precision, Backend backend, int qk_planes);
  // out = softmax(q . k^T / 8) . v for `heads` heads of `len` positions.
  void apply(attn::HeadsIn q, attn::HeadsIn k, attn::HeadsIn v, int heads, int len,
             attn::HeadsOut out, ThreadPool& pool) const;

 private:
  Precision precision_;
  Backend backend_;
  int qk_planes_;
};

// ---- decode steps ---------------------------------------------------------

// One head's K, in both caches, is stored in blocks of 32 keys (key_offset).
using decoder_attention::key_offset;
using decoder_attention::kKeyBlock;

// Scratch floats per query of attend(): its scores, padded, and 1 / sum.
inline int padded_len(int len) { return round_up(len, kKeyBlock) + 1; }

// Keys and values of one head: K in blocks (key_offset), V [positions][64].
struct KeyValues {
  const float* k;
  const float* v;
};

// nq queries (rows q_stride floats apart), each against `len` keys:
// out = softmax(q . K / 8) . V. Keys [0, common_len) come from `common` for
// every query, keys [common_len, len) from own[r] for query r (own: null when
// common_len == len; otherwise common_len is a multiple of 32). Keys go in
// chunks small enough for L1, each chunk used by every query before the next
// is read: the K/V of a 30 s window, or of the prompt that every beam shares,
// are read from memory once per step, not once per beam. Each query's scores,
// softmax and weighted sum run along its keys in order, wherever a key comes
// from, with one fixed order of additions, so they vectorize and every
// instruction set's copy (backend) computes the same bytes. Key rows hold len rounded
// up to 32 keys (the extra ones are read and ignored). p: scratch of
// nq * padded_len(len) floats (each query's scores, then its 1 / sum).
void attend(Backend backend, const float* q, size_t q_stride, int nq, const KeyValues& common,
            int common_len, const KeyValues* own, int len, float* p, float* out, size_t out_stride);

// Keys and values of one head stored as halves (the int8 decoder's
// cross-attention), laid out as KeyValues. What is stored is K / k_scale and
// V / v_scale: powers of two, 1 unless some value would not fit a half.
struct HalfKeyValues {
  const Half* k;
  const Half* v;
  float k_scale = 1.0f, v_scale = 1.0f;
};

// attend() with every query against all `len` keys of `kv`. The scales are
// powers of two, so the products, sums and outputs are the bytes attend()
// gives for the float values stored times their scales.
void attend(Backend backend, const float* q, size_t q_stride, int nq, const HalfKeyValues& kv,
            int len, float* p, float* out, size_t out_stride);

}  // namespace amanuensis
