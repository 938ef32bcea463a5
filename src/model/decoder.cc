#include "model/decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "layers/attention.h"
#include "layers/float_ops.h"
#include "util/uninit_vector.h"
#include "util/whisper_geometry.h"

namespace amanuensis {
namespace {

// The outlier split (layers/linear.h) in the decoder's per-token GEMMs: off.
// Each call would gather 32 weight columns of every layer and of the
// 51865-row embedding for a handful of rows; docs/PERFORMANCE.md has the
// cost and the transcripts with and without it.
constexpr bool kDecoderOutliers = false;
void check_rows(const std::string& what, int rows, int max_rows) {
  if (rows < 1 || rows > max_rows)
    throw std::invalid_argument("decoder: " + what + " " + std::to_string(rows) +
                                " rows, room for " + std::to_string(max_rows));
}

// The power of two that brings every value of one head (`frames` rows of 64,
// `stride` floats apart) below 2^15, well inside a half's range: 1 for any
// real model (Whisper's cross-attention K/V stay in the tens).
// (A maximum per channel, then over channels: the loop vectorizes, where one
// running std::max was a chain of dependent scalar maxima, 2 % of a batched
// run. The maximum is the same in any order; NaN is passed over either way.)
float half_scale(const float* x, int frames, size_t stride) {
  float channel_max[kHeadDim] = {};
  for (int f = 0; f < frames; ++f)
    for (int c = 0; c < kHeadDim; ++c) {
      const float a = std::fabs(x[f * stride + c]);
      channel_max[c] = a > channel_max[c] ? a : channel_max[c];
    }
  float max_abs = 0.0f;
  for (float m : channel_max) max_abs = m > max_abs ? m : max_abs;
  float scale = 1.0f;
  while (max_abs / scale >= 32768.0f && scale < 0x1p100f) scale *= 2.0f;
  return scale;
}

}  // namespace

// One head's K and V both hold 64 floats per cached position: V in position
// order, K in blocks of 32 positions (key_offset). Positions [begin, end) of
// a head therefore lie in one run of each, when K's run is widened to whole
// blocks.
struct CacheRun {
  size_t k_start = 0, k_len = 0, v_start = 0, v_len = 0;
};
CacheRun cache_run(int begin, int end) {
  const size_t b0 = size_t(begin / kKeyBlock), b1 = size_t((end + kKeyBlock - 1) / kKeyBlock);
  return {b0 * kKeyBlock * kHeadDim, (b1 - b0) * kKeyBlock * kHeadDim, size_t(begin) * kHeadDim,
          size_t(end - begin) * kHeadDim};
}

namespace {

int common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  return int(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

}  // namespace

void DecoderState::reorder(const std::vector<int>& from) {
  if (int(from.size()) != rows_) throw std::invalid_argument("decoder: reorder of the wrong size");
  for (int i = 0; i < rows_; ++i)
    if (from[i] < 0 || from[i] >= rows_) throw std::invalid_argument("decoder: bad reorder index");
  // A row's K/V at a position are a function of its tokens up to there (each
  // row's arithmetic is its own), so row i takes from[i]'s positions only
  // from where their tokens first differ: beams that share most of their
  // history move little. (K's run, widened to whole blocks, may move a few
  // equal positions too.)
  std::vector<CacheRun> runs(rows_);
  std::vector<size_t> offset(rows_ + 1, 0);
  for (int i = 0; i < rows_; ++i) {
    const int first = from[i] == i ? length_ : common_prefix(tokens_[i], tokens_[from[i]]);
    if (first < length_) runs[i] = cache_run(first, length_);
    offset[i + 1] = offset[i] + size_t(heads_) * (runs[i].k_len + runs[i].v_len);
  }
  if (offset[rows_] > 0) {
    const size_t head = size_t(n_ctx_) * kHeadDim;  // floats per head, K or V
    std::vector<float> temp(offset[rows_]);
    for (Layer& l : layers_)
      for (const bool copy_out : {true, false})
        for (int i = 0; i < rows_; ++i) {
          const CacheRun& run = runs[i];
          float* t = temp.data() + offset[i];
          for (int h = 0; h < heads_ && run.k_len > 0; ++h, t += run.k_len + run.v_len) {
            float* k = l.k_self.data() + (size_t(copy_out ? from[i] : i) * heads_ + h) * head;
            float* v = l.v_self.data() + (size_t(copy_out ? from[i] : i) * heads_ + h) * head;
            if (copy_out) {
              std::copy_n(k + run.k_start, run.k_len, t);
              std::copy_n(v + run.v_start, run.v_len, t + run.k_len);
            } else {
              std::copy_n(t, run.k_len, k + run.k_start);
              std::copy_n(t + run.k_len, run.v_len, v + run.v_start);
            }
          }
        }
  }
  std::vector<std::vector<int>> tokens(rows_);
  for (int i = 0; i < rows_; ++i) tokens[i] = tokens_[from[i]];
  tokens_ = std::move(tokens);
  shared_ = length_;
  for (int i = 1; i < rows_; ++i)
    shared_ = std::min(shared_, common_prefix(tokens_[0], tokens_[i]));
}

void DecoderState::replicate(int rows) {
  check_rows("replicate to", rows, capacity_rows_);
  if (rows_ != 1) throw std::invalid_argument("decoder: only one row can be replicated");
  const CacheRun run = cache_run(0, length_);
  const size_t head = size_t(n_ctx_) * kHeadDim;
  for (Layer& l : layers_)
    for (int i = 1; i < rows; ++i)  // the cached positions of row 0 only
      for (int h = 0; h < heads_; ++h) {
        const size_t src = size_t(h) * head, dst = (size_t(i) * heads_ + h) * head;
        std::copy_n(l.k_self.begin() + src + run.k_start, run.k_len,
                    l.k_self.begin() + dst + run.k_start);
        std::copy_n(l.v_self.begin() + src + run.v_start, run.v_len,
                    l.v_self.begin() + dst + run.v_start);
      }
  rows_ = rows;
  const std::vector<int> first = tokens_[0];
  tokens_.assign(rows, first);
  shared_ = length_;
}

void DecoderState::truncate(int length) {
  if (length < 0 || length > length_)
    throw std::invalid_argument("decoder: truncate to " + std::to_string(length) + " of " +
                                std::to_string(length_) + " positions");
  // Zeros again where nothing is cached: padded key blocks must read zeros.
  const size_t head = size_t(n_ctx_) * kHeadDim;
  for (Layer& l : layers_)
    for (int i = 0; i < rows_ * heads_; ++i) {
      float* k = l.k_self.data() + size_t(i) * head;
      float* v = l.v_self.data() + size_t(i) * head;
      for (int p = length; p < length_; ++p) {
        float* block = k + size_t(p / kKeyBlock) * kKeyBlock * kHeadDim + p % kKeyBlock;
        for (int c = 0; c < kHeadDim; ++c) block[size_t(c) * kKeyBlock] = 0.0f;
      }
      std::fill(v + size_t(length) * kHeadDim, v + size_t(length_) * kHeadDim, 0.0f);
    }
  length_ = length;
  shared_ = std::min(shared_, length);
  for (std::vector<int>& t : tokens_) t.resize(size_t(length));
}

Decoder::Decoder(DecoderWeights w, Precision precision, Backend backend)
    : d_(w.d_model),
      heads_(w.n_heads),
      n_vocab_(w.n_vocab),
      n_ctx_(w.n_ctx),
      precision_(precision),
      backend_(resolve_backend(backend)),
      positions_(std::move(w.positions)),
      ln_(std::move(w.ln)),
      logits_(std::move(w.embedding), precision, backend_, kDecoderOutliers) {
  for (DecoderLayerWeights& l : w.layers)
    layers_.push_back(LayerOps{
        std::move(l.self_ln), std::move(l.cross_ln), std::move(l.mlp_ln),
        LinearOp(std::move(l.self_qkv), precision, backend_, kDecoderOutliers),
        LinearOp(std::move(l.self_out), precision, backend_, kDecoderOutliers),
        LinearOp(std::move(l.cross_q), precision, backend_, kDecoderOutliers),
        // the encoder output: 1500 rows, once a window
        LinearOp(std::move(l.cross_kv), precision, backend_, true),
        LinearOp(std::move(l.cross_out), precision, backend_, kDecoderOutliers),
        LinearOp(std::move(l.fc1), precision, backend_, kDecoderOutliers, Activation::kGelu),
        LinearOp(std::move(l.fc2), precision, backend_, kDecoderOutliers)});
}

std::vector<const LinearOp*> Decoder::step_ops() const {
  std::vector<const LinearOp*> ops = {&logits_};
  for (const LayerOps& l : layers_)
    ops.insert(ops.end(), {&l.self_qkv, &l.self_out, &l.cross_q, &l.cross_out, &l.fc1, &l.fc2});
  return ops;
}

size_t Decoder::step_weight_bytes() const {
  const size_t per_weight = precision_ == Precision::kInt8 ? 1 : 4;
  size_t total = 0;
  for (const LinearOp* op : step_ops())
    total += size_t(op->out()) * op->in() * per_weight + size_t(op->out()) * 8;  // + scale, bias
  return total;
}

size_t Decoder::step_weights() const {
  size_t total = 0;
  for (const LinearOp* op : step_ops()) total += size_t(op->out()) * op->in();
  return total;
}

void Decoder::begin(DecoderState& s, const float* encoded, int frames, int max_rows,
                    ThreadPool& pool) const {
  check_rows("begin with", max_rows, 64);
  s.frames_ = frames;
  s.frames_pad_ = round_up(frames, kKeyBlock);
  s.heads_ = heads_;
  s.n_ctx_ = round_up(n_ctx_, kKeyBlock);  // room for attend()'s padded key blocks
  s.layers_.resize(layers_.size());
  UninitVector<float> kv(size_t(frames) * 2 * d_);
  for (size_t li = 0; li < layers_.size(); ++li) {
    DecoderState::Layer& l = s.layers_[li];
    layers_[li].cross_kv.apply(encoded, frames, kv.data(), pool);
    if (half_cross_kv()) {
      l.k_cross_half.resize(size_t(d_) * s.frames_pad_);
      l.v_cross_half.resize(size_t(d_) * frames);
      l.k_scale.assign(size_t(heads_), 1.0f);
      l.v_scale.assign(size_t(heads_), 1.0f);
      const FloatsToHalves to_halves = floats_to_halves_fn(backend_);
      pool.parallel_for(heads_, [&](int h) {
        // The head's K, divided by its scale, in attend()'s layout (zero
        // padded), then V likewise, each converted as one run.
        const float* head = kv.data() + h * kHeadDim;
        const size_t stride = size_t(2) * d_;
        // Multiplying by 1 / scale, a power of two, gives the bytes of
        // dividing: both round the same real x * 2^-m (and a scalar
        // division for each of the window's K values was 2 % of a batched
        // run).
        const float k_scale = l.k_scale[h] = half_scale(head, frames, stride);
        const float v_scale = l.v_scale[h] = half_scale(head + d_, frames, stride);
        const float k_inv = 1.0f / k_scale, v_inv = 1.0f / v_scale;
        UninitVector<float> t(size_t(kHeadDim) * s.frames_pad_);
        std::fill(t.begin() + size_t(frames / kKeyBlock * kKeyBlock) * kHeadDim, t.end(), 0.0f);
        for (int f = 0; f < frames; ++f)
          for (int c = 0; c < kHeadDim; ++c) t[key_offset(f, c)] = head[f * stride + c] * k_inv;
        to_halves(t.data(), t.size(), l.k_cross_half.data() + size_t(h) * kHeadDim * s.frames_pad_);
        for (int f = 0; f < frames; ++f)
          for (int c = 0; c < kHeadDim; ++c)
            t[size_t(f) * kHeadDim + c] = head[f * stride + d_ + c] * v_inv;
        to_halves(t.data(), size_t(frames) * kHeadDim,
                  l.v_cross_half.data() + size_t(h) * frames * kHeadDim);
      });
      continue;
    }
    l.k_cross.assign(size_t(d_) * s.frames_pad_, 0.0f);
    l.v_cross.resize(size_t(d_) * frames);
    pool.parallel_for(heads_, [&](int h) {
      for (int f = 0; f < frames; ++f) {
        const float* row = kv.data() + size_t(f) * 2 * d_ + h * kHeadDim;
        for (int c = 0; c < kHeadDim; ++c) {
          l.k_cross[size_t(h) * kHeadDim * s.frames_pad_ + key_offset(f, c)] = row[c];
          l.v_cross[(size_t(h) * frames + f) * kHeadDim + c] = row[d_ + c];
        }
      }
    });
  }
  restart(s, max_rows);
}

void Decoder::restart(DecoderState& s, int max_rows) const {
  if (s.layers_.size() != layers_.size()) throw std::logic_error("decoder: restart before begin");
  check_rows("restart with", max_rows, 64);
  s.rows_ = 0;
  s.length_ = 0;
  s.shared_ = 0;
  s.tokens_.clear();
  s.capacity_rows_ = max_rows;
  const size_t self = size_t(max_rows) * heads_ * kHeadDim * s.n_ctx_;
  for (DecoderState::Layer& l : s.layers_)
    if (l.k_self.size() < self) {
      l.k_self = ZeroedBuffer<float>(self);
      l.v_self = ZeroedBuffer<float>(self);
    }
}

void Decoder::embed(const int* tokens, int rows, int n, int first_position, float* x) const {
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < n; ++i) {
      const int t = tokens[r * n + i];
      if (t < 0 || t >= n_vocab_)
        throw std::invalid_argument("decoder: token id " + std::to_string(t) + " out of range");
      float* xr = x + (size_t(r) * n + i) * d_;
      logits_.weight_row(t, xr);  // the tied embedding, as the logits see it
      const float* pos = positions_.data() + size_t(first_position + i) * d_;
      for (int c = 0; c < d_; ++c) xr[c] += pos[c];
    }
}

void Decoder::step(DecoderState& s, const int* tokens, int rows, int n, float* logits,
                   ThreadPool& pool) const {
  forward({DecoderStep{&s, tokens, rows, n}}, logits, nullptr, nullptr, pool);
}

void Decoder::step(const std::vector<DecoderStep>& batch, float* logits, ThreadPool& pool) const {
  forward(batch, logits, nullptr, nullptr, pool);
}

void Decoder::align(DecoderState& s, const std::vector<int>& tokens,
                    const std::vector<std::pair<int, int>>& heads, std::vector<float>& logits,
                    std::vector<float>& attention, ThreadPool& pool) const {
  for (const auto& [layer, head] : heads)
    if (layer < 0 || layer >= n_layers() || head < 0 || head >= heads_)
      throw std::invalid_argument("decoder: no attention head (" + std::to_string(layer) + ", " +
                                  std::to_string(head) + ")");
  const int n = int(tokens.size());
  s.rows_ = 0;
  s.length_ = 0;
  s.shared_ = 0;
  s.tokens_.clear();
  logits.resize(size_t(n) * n_vocab_);
  attention.resize(heads.size() * n * s.frames_);
  forward({DecoderStep{&s, tokens.data(), 1, n, true}}, logits.data(), &heads, attention.data(),
          pool);
}

void Decoder::check_step(const std::vector<DecoderStep>& batch) const {
  if (batch.empty()) throw std::invalid_argument("decoder: a step with no sequence");
  for (size_t g = 0; g < batch.size(); ++g) {
    const DecoderStep& b = batch[g];
    if (!b.state || !b.tokens)
      throw std::invalid_argument("decoder: a step without state or tokens");
    const DecoderState& s = *b.state;
    for (size_t e = 0; e < g; ++e)
      if (batch[e].state == b.state)
        throw std::invalid_argument("decoder: one state twice in a batched step");
    if (s.layers_.size() != layers_.size()) throw std::logic_error("decoder: step before begin");
    if (s.length_ == 0)
      check_rows("step with", b.rows, s.capacity_rows_);
    else if (b.rows != s.rows_)
      throw std::invalid_argument("decoder: step with " + std::to_string(b.rows) +
                                  " rows, cache has " + std::to_string(s.rows_));
    if (b.n < 1 || s.length_ + b.n > n_ctx_)
      throw std::invalid_argument("decoder: " + std::to_string(s.length_ + b.n) +
                                  " tokens exceed the text context of " + std::to_string(n_ctx_));
    for (int i = 0; i < b.rows * b.n; ++i)
      if (b.tokens[i] < 0 || b.tokens[i] >= n_vocab_)
        throw std::invalid_argument("decoder: token id " + std::to_string(b.tokens[i]) +
                                    " out of range");
  }
}

void Decoder::apply(const LinearOp& op, const std::vector<int>& first, const float* in, float* out,
                    ThreadPool& pool) const {
  // int8: each row's bytes are its own (per-row quantization, exact integer
  // sums), so the batch is one GEMM. fp32: OpenBLAS rounds a row by where it
  // falls in its tiling, so each sequence gets its own call, with the rows it
  // has when it runs alone.
  if (precision_ == Precision::kInt8 || first.size() == 2)
    return op.apply(in, first.back(), out, pool);
  for (size_t g = 0; g + 1 < first.size(); ++g)
    op.apply(in + size_t(first[g]) * op.in(), first[g + 1] - first[g],
             out + size_t(first[g]) * op.out(), pool);
}

void Decoder::forward(const std::vector<DecoderStep>& batch, float* logits,
                      const std::vector<std::pair<int, int>>* heads, float* attention,
                      ThreadPool& pool) const {
  check_step(batch);
  if (heads && batch.size() != 1)
    throw std::logic_error("decoder: attention weights of one sequence at a time");
  // Each sequence's first token row in the batch.
  std::vector<int> first_token(batch.size() + 1, 0);
  for (size_t g = 0; g < batch.size(); ++g) {
    const DecoderStep& b = batch[g];
    if (b.state->length_ == 0) b.state->rows_ = b.rows;
    first_token[g + 1] = first_token[g] + b.rows * b.n;
  }
  const int m = first_token.back(), d = d_;
  UninitVector<float> x(size_t(m) * d), ln(size_t(m) * d), qkv(size_t(m) * 3 * d),
      att(size_t(m) * d), proj(size_t(m) * d), mlp(size_t(m) * 4 * d);
  for (size_t g = 0; g < batch.size(); ++g)
    embed(batch[g].tokens, batch[g].rows, batch[g].n, batch[g].state->length_,
          x.data() + size_t(first_token[g]) * d);
  for (size_t li = 0; li < layers_.size(); ++li) {
    const LayerOps& ops = layers_[li];
    self_attention(batch, first_token, li, x.data(), ln.data(), qkv.data(), att.data(), proj.data(),
                   pool);
    cross_attention(batch, first_token, li, x.data(), ln.data(), qkv.data(), att.data(),
                    proj.data(), heads, attention, pool);
    layer_norm(x.data(), m, d, ops.mlp_ln, ln.data(), backend_, pool);
    apply(ops.fc1, first_token, ln.data(), mlp.data(), pool);  // with its GELU
    apply(ops.fc2, first_token, mlp.data(), proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), backend_, pool);
  }
  for (const DecoderStep& b : batch) {
    DecoderState& s = *b.state;
    s.length_ += b.n;
    s.tokens_.resize(b.rows);
    for (int r = 0; r < b.rows; ++r)
      s.tokens_[r].insert(s.tokens_[r].end(), b.tokens + r * b.n, b.tokens + (r + 1) * b.n);
  }
  // Logits of each row's last token, or of each token where asked.
  std::vector<int> first_out(batch.size() + 1, 0);
  for (size_t g = 0; g < batch.size(); ++g) {
    const DecoderStep& b = batch[g];
    first_out[g + 1] = first_out[g] + logit_rows(b);
    float* out = proj.data() + size_t(first_out[g]) * d;
    const float* in = x.data() + size_t(first_token[g]) * d;
    if (b.every_token)
      std::copy_n(in, size_t(b.rows) * b.n * d, out);
    else
      for (int r = 0; r < b.rows; ++r)
        std::copy_n(in + (size_t(r + 1) * b.n - 1) * d, d, out + size_t(r) * d);
  }
  layer_norm(proj.data(), first_out.back(), d, ln_, ln.data(), backend_, pool);
  apply(logits_, first_out, ln.data(), logits, pool);
}

void Decoder::self_attention(const std::vector<DecoderStep>& batch, const std::vector<int>& first,
                             size_t li, float* x, float* ln, float* qkv, float* att, float* proj,
                             ThreadPool& pool) const {
  const LayerOps& ops = layers_[li];
  const int m = first.back(), d = d_;
  // Masked self-attention: the new tokens' K/V join each sequence's cache,
  // then each new token attends to every cached position up to its own.
  layer_norm(x, m, d, ops.self_ln, ln, backend_, pool);
  apply(ops.self_qkv, first, ln, qkv, pool);
  // Work items: (sequence, row, head); row -1: all rows of a beam step at once.
  struct Item {
    int g, r, h;
  };
  std::vector<Item> items;
  for (size_t g = 0; g < batch.size(); ++g) {
    const DecoderStep& b = batch[g];
    DecoderState& s = *b.state;
    DecoderState::Layer& cache = s.layers_[li];
    const size_t k_row = size_t(heads_) * kHeadDim * s.n_ctx_;
    for (int r = 0; r < b.rows; ++r)
      for (int i = 0; i < b.n; ++i) {
        const float* row = qkv + (size_t(first[g]) + size_t(r) * b.n + i) * 3 * d;
        float* kt = cache.k_self.data() + r * k_row;
        float* v = cache.v_self.data() + r * k_row;
        for (int h = 0; h < heads_; ++h)
          for (int c = 0; c < kHeadDim; ++c) {
            kt[size_t(h) * kHeadDim * s.n_ctx_ + key_offset(s.length_ + i, c)] =
                row[d + h * kHeadDim + c];
            v[(size_t(h) * s.n_ctx_ + s.length_ + i) * kHeadDim + c] =
                row[2 * d + h * kHeadDim + c];
          }
      }
    const bool beams = b.n == 1 && b.rows > 1;
    for (int r = 0; r < (beams ? 1 : b.rows); ++r)
      for (int h = 0; h < heads_; ++h) items.push_back({int(g), beams ? -1 : r, h});
  }
  pool.parallel_for(int(items.size()), [&](int item) {
    const Item it = items[item];
    const int h = it.h;
    const DecoderStep& b = batch[it.g];
    const DecoderState& s = *b.state;
    const DecoderState::Layer& cache = s.layers_[li];
    const int len0 = s.length_;
    const size_t t = size_t(first[it.g]);
    auto self_kv = [&](int row) {  // one head's cache in one row
      const size_t head = (size_t(row) * heads_ + h) * kHeadDim * s.n_ctx_;
      return KeyValues{cache.k_self.data() + head, cache.v_self.data() + head};
    };
    if (it.r < 0) {
      // A step of several beams: the whole key blocks that every row holds
      // alike (the replicated prompt) are read once, from row 0, for all rows.
      const int common = s.shared_ / kKeyBlock * kKeyBlock;
      std::vector<float> p(size_t(b.rows) * padded_len(len0 + 1));
      std::vector<KeyValues> own;
      for (int row = 0; row < b.rows; ++row) own.push_back(self_kv(row));
      attend(backend_, qkv + t * 3 * d + h * kHeadDim, size_t(3) * d, b.rows, own[0], common,
             own.data(), len0 + 1, p.data(), att + t * d + h * kHeadDim, size_t(d));
      return;
    }
    std::vector<float> p(size_t(padded_len(len0 + b.n)));
    const KeyValues kv = self_kv(it.r);
    for (int i = 0; i < b.n; ++i) {  // causal: token i sees positions up to its own
      const size_t row = t + size_t(it.r) * b.n + i;
      attend(backend_, qkv + row * 3 * d + h * kHeadDim, 0, 1, kv, 0, &kv, len0 + i + 1, p.data(),
             att + row * d + h * kHeadDim, 0);
    }
  });
  apply(ops.self_out, first, att, proj, pool);
  add_inplace(x, proj, size_t(m) * d, backend_, pool);
}

void Decoder::cross_attention(const std::vector<DecoderStep>& batch, const std::vector<int>& first,
                              size_t li, float* x, float* ln, float* q, float* att, float* proj,
                              const std::vector<std::pair<int, int>>* heads, float* attention,
                              ThreadPool& pool) const {
  const LayerOps& ops = layers_[li];
  const int m = first.back(), d = d_;
  layer_norm(x, m, d, ops.cross_ln, ln, backend_, pool);
  apply(ops.cross_q, first, ln, q, pool);  // q only: [m][d]
  // One item per sequence and head, all its queries (beams) together: each
  // head's K/V is read once per step.
  pool.parallel_for(int(batch.size()) * heads_, [&](int item) {
    const int g = item / heads_, h = item % heads_;
    const DecoderState& s = *batch[g].state;
    const DecoderState::Layer& cache = s.layers_[li];
    const int rows = first[g + 1] - first[g];
    const size_t stride = size_t(padded_len(s.frames_)), t = size_t(first[g]);
    std::vector<float> p(size_t(rows) * stride);
    const size_t k_head = size_t(h) * kHeadDim * s.frames_pad_,
                 v_head = size_t(h) * s.frames_ * kHeadDim;
    if (half_cross_kv()) {
      const HalfKeyValues kv{cache.k_cross_half.data() + k_head, cache.v_cross_half.data() + v_head,
                             cache.k_scale[h], cache.v_scale[h]};
      attend(backend_, q + t * d + h * kHeadDim, size_t(d), rows, kv, s.frames_, p.data(),
             att + t * d + h * kHeadDim, size_t(d));
    } else {
      const KeyValues kv{cache.k_cross.data() + k_head, cache.v_cross.data() + v_head};
      attend(backend_, q + t * d + h * kHeadDim, size_t(d), rows, kv, s.frames_, nullptr, s.frames_,
             p.data(), att + t * d + h * kHeadDim, size_t(d));
    }
    if (!heads) return;
    for (size_t k = 0; k < heads->size(); ++k) {
      if ((*heads)[k] != std::pair<int, int>(int(li), h)) continue;
      for (int r = 0; r < rows; ++r) {  // p: each query's exp(score - max), then 1 / sum
        const float* pr = p.data() + r * stride;
        float* a = attention + (k * rows + r) * s.frames_;
        for (int f = 0; f < s.frames_; ++f) a[f] = pr[f] * pr[stride - 1];
      }
    }
  });
  apply(ops.cross_out, first, att, proj, pool);
  add_inplace(x, proj, size_t(m) * d, backend_, pool);
}

}  // namespace amanuensis
