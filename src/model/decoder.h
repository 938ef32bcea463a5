// The Whisper text decoder: tokens in, next-token logits out, one step at a
// time with a key/value cache. Beams (or best-of samples) are the rows of one
// sequence's state; one step can also run several independent sequences
// (other windows, other files, other requests) as one batch. The model
// (Decoder) is immutable and shared; everything that changes while decoding
// lives in a DecoderState per sequence.
#pragma once

#include <utility>
#include <vector>

#include "kernels/half/half.h"
#include "layers/linear.h"
#include "model/whisper_weights.h"
#include "util/thread_pool.h"
#include "util/uninit_vector.h"
#include "util/zeroed_buffer.h"

namespace amanuensis {

class Decoder;

// The caches of one 30 s window: cross-attention keys and values, computed
// once from the encoder output, and the self-attention cache of each row.
class DecoderState {
 public:
  int rows() const { return rows_; }
  int length() const { return length_; }  // tokens cached per row
  // Row i continues what row from[i] was (beam search reordering its beams).
  void reorder(const std::vector<int>& from);
  // Rows become `rows` copies of row 0 (a prompt run once, then beams).
  void replicate(int rows);
  // Forgets every row's positions from `length` on (tokens a speculative
  // step fed that the search did not take): as if they were never fed.
  void truncate(int length);

 private:
  friend class Decoder;
  struct Layer {
    // [heads][frames_pad / 32][64][32] (keys transposed in blocks of 32, zero
    // padding), [heads][frames][64]; from the session's scratch pool, where
    // the encoder's freed buffers are. An int8 decoder stores them as halves
    // (a batched step streams them: half the bytes), divided by a power of
    // two per head where a value would not fit (k_scale, v_scale); an fp32
    // decoder as floats.
    UninitVector<float> k_cross, v_cross;
    UninitVector<Half> k_cross_half, v_cross_half;
    std::vector<float> k_scale, v_scale;
    // [rows][heads][n_ctx / 32][64][32] (as k_cross), [rows][heads][n_ctx][64];
    // zero where never written, so padded key blocks read zeros
    ZeroedBuffer<float> k_self, v_self;
  };
  int rows_ = 0, length_ = 0, frames_ = 0, frames_pad_ = 0, capacity_rows_ = 0;
  // Positions whose tokens are the same in every row, and so their K/V bytes:
  // attention reads them once, from row 0, for all rows.
  int shared_ = 0;
  std::vector<std::vector<int>> tokens_;  // each row's tokens so far
  int heads_ = 0, n_ctx_ = 0;  // n_ctx_: cache positions, the model's rounded up to a key block
  std::vector<Layer> layers_;
};

// One sequence's part of a batched step: the tokens [rows][n] (row-major) to
// append to each of its state's rows; its logits follow each row's last
// token, or with every_token each of its tokens ([rows][n][n_vocab]).
struct DecoderStep {
  DecoderState* state = nullptr;
  const int* tokens = nullptr;
  int rows = 1, n = 1;
  bool every_token = false;
};
// Rows of logits a step part gets.
inline int logit_rows(const DecoderStep& s) { return s.every_token ? s.rows * s.n : s.rows; }

class Decoder {
 public:
  Decoder(DecoderWeights weights, Precision precision, Backend backend = Backend::kAuto);
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  int n_vocab() const { return n_vocab_; }
  Backend backend() const { return backend_; }  // resolved: the instruction set of every loop
  int n_ctx() const { return n_ctx_; }  // most tokens one sequence can hold (448)
  // Whether a token's logits and cache are the same bytes however the tokens
  // before it were split into steps (int8: every op is per row). fp32 rounds
  // differently by chunking.
  bool chunking_is_exact() const { return precision_ == Precision::kInt8; }
  int d_model() const { return d_; }
  int n_layers() const { return int(layers_.size()); }
  // Bytes one step must read whatever the batch: the per-token weights (int8
  // or float, with their scales) and, for `frames` encoder frames, the
  // cross-attention K/V of every layer.
  size_t step_weight_bytes() const;
  // Weights every row of a step multiplies (the per-token linear layers and
  // the logits): a step's multiply-adds per row.
  size_t step_weights() const;
  size_t cross_kv_bytes(int frames) const {
    return size_t(layers_.size()) * 2 * frames * d_ * (half_cross_kv() ? sizeof(Half) : 4);
  }

  // Starts a window: cross-attention K/V from the encoder output [frames][d],
  // the self-attention cache emptied, room for `max_rows` rows.
  void begin(DecoderState& s, const float* encoded, int frames, int max_rows,
             ThreadPool& pool) const;
  // Starts over in the window begin() set up: its cross-attention K/V are
  // kept (language detection, then decoding, then a temperature fallback all
  // read the same window), the self-attention cache emptied, room for
  // `max_rows` rows.
  void restart(DecoderState& s, int max_rows) const;
  // Appends tokens [s.rows()][n] (row-major) to every row and writes the
  // logits that follow each row's last token: [s.rows()][n_vocab]. The first
  // call of a window sets the row count (rows, <= max_rows).
  void step(DecoderState& s, const int* tokens, int rows, int n, float* logits,
            ThreadPool& pool) const;
  // The steps of several sequences (distinct states) at once: every linear
  // layer is one GEMM over all their rows, attention stays per sequence.
  // logits: [sum of logit_rows][n_vocab], in batch order. Each sequence's logits and
  // cache are the same bytes as its own step() gives, whatever else is in the
  // batch. Throws, changing no state, if any part is invalid.
  void step(const std::vector<DecoderStep>& batch, float* logits, ThreadPool& pool) const;
  // For word timings (openai-whisper's find_alignment): runs `tokens` as one
  // row with an empty self-attention cache against the window begin() set
  // up, and gives the logits after every token, [n][n_vocab], and the
  // cross-attention probabilities of each (layer, head) in `heads`,
  // [heads.size()][n][frames]. The row's earlier cache is dropped.
  void align(DecoderState& s, const std::vector<int>& tokens,
             const std::vector<std::pair<int, int>>& heads, std::vector<float>& logits,
             std::vector<float>& attention, ThreadPool& pool) const;

 private:
  struct LayerOps {
    LayerNormWeights self_ln, cross_ln, mlp_ln;
    LinearOp self_qkv, self_out, cross_q, cross_kv, cross_out, fc1, fc2;
  };
  bool half_cross_kv() const { return precision_ == Precision::kInt8; }
  // The linear layers every token row of a step goes through.
  std::vector<const LinearOp*> step_ops() const;
  void embed(const int* tokens, int rows, int n, int first_position, float* x) const;
  void check_step(const std::vector<DecoderStep>& batch) const;
  // op on the batch's rows, sequence g's being rows [first[g], first[g + 1]).
  void apply(const LinearOp& op, const std::vector<int>& first, const float* in, float* out,
             ThreadPool& pool) const;
  // One layer's self-attention and cross-attention of the batch, in place on
  // x: each sequence's rows * n token rows, from first[g] on (batch order).
  void self_attention(const std::vector<DecoderStep>& batch, const std::vector<int>& first,
                      size_t li, float* x, float* ln, float* qkv, float* att, float* proj,
                      ThreadPool& pool) const;
  void cross_attention(const std::vector<DecoderStep>& batch, const std::vector<int>& first,
                       size_t li, float* x, float* ln, float* q, float* att, float* proj,
                       const std::vector<std::pair<int, int>>* heads, float* attention,
                       ThreadPool& pool) const;
  // step() and align(): logits as each part asks (DecoderStep::every_token);
  // `heads` (may be null, one sequence only): cross-attention probabilities
  // to copy out.
  void forward(const std::vector<DecoderStep>& batch, float* logits,
               const std::vector<std::pair<int, int>>* heads, float* attention,
               ThreadPool& pool) const;

  int d_, heads_, n_vocab_, n_ctx_;
  Precision precision_;
  Backend backend_;
  std::vector<float> positions_;  // [n_ctx][d]
  std::vector<LayerOps> layers_;
  LayerNormWeights ln_;
  LinearOp logits_;  // the token embedding [n_vocab][d], tied: embeds tokens and gives logits
};

}  // namespace amanuensis
