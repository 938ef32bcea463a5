#include "model/decoder.h"

#include <algorithm>
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
    layers_.push_back(
        LayerOps{std::move(l.self_ln), std::move(l.cross_ln), std::move(l.mlp_ln),
                 LinearOp(std::move(l.self_qkv), precision, backend_, kDecoderOutliers),
                 LinearOp(std::move(l.self_out), precision, backend_, kDecoderOutliers),
                 LinearOp(std::move(l.cross_q), precision, backend_, kDecoderOutliers),
                 // the encoder output: 1500 rows, once a window
                 LinearOp(std::move(l.cross_kv), precision, backend_, true),
                 LinearOp(std::move(l.cross_out), precision, backend_, kDecoderOutliers),
                 LinearOp(std::move(l.fc1), precision, backend_, kDecoderOutliers),
                 LinearOp(std::move(l.fc2), precision, backend_, kDecoderOutliers)});
}

size_t Decoder::step_weight_bytes() const {
  const size_t per_weight = precision_ == Precision::kInt8 ? 1 : 4;
  auto bytes = [&](const LinearOp& op) {
    return size_t(op.out()) * op.in() * per_weight + size_t(op.out()) * 8;  // + scale, bias
  };
  size_t total = bytes(logits_);
  for (const LayerOps& l : layers_)
    total += bytes(l.self_qkv) + bytes(l.self_out) + bytes(l.cross_q) + bytes(l.cross_out) +
             bytes(l.fc1) + bytes(l.fc2);
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
  forward(s, tokens, rows, n, false, logits, nullptr, nullptr, pool);
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
  forward(s, tokens.data(), 1, n, true, logits.data(), &heads, attention.data(), pool);
}

void Decoder::forward(DecoderState& s, const int* tokens, int rows, int n, bool every_token,
                      float* logits, const std::vector<std::pair<int, int>>* heads,
                      float* attention, ThreadPool& pool) const {
  if (s.layers_.size() != layers_.size()) throw std::logic_error("decoder: step before begin");
  if (s.length_ == 0) {
    check_rows("step with", rows, s.capacity_rows_);
    s.rows_ = rows;
  } else if (rows != s.rows_) {
    throw std::invalid_argument("decoder: step with " + std::to_string(rows) + " rows, cache has " +
                                std::to_string(s.rows_));
  }
  if (n < 1 || s.length_ + n > n_ctx_)
    throw std::invalid_argument("decoder: " + std::to_string(s.length_ + n) +
                                " tokens exceed the text context of " + std::to_string(n_ctx_));
  const int m = rows * n, d = d_, len0 = s.length_;
  UninitVector<float> x(size_t(m) * d), ln(size_t(m) * d), qkv(size_t(m) * 3 * d),
      att(size_t(m) * d), proj(size_t(m) * d), mlp(size_t(m) * 4 * d);
  embed(tokens, rows, n, len0, x.data());
  const int cap = s.n_ctx_;  // cache positions per row and head
  const size_t k_row = size_t(heads_) * kHeadDim * cap;
  for (size_t li = 0; li < layers_.size(); ++li) {
    const LayerOps& ops = layers_[li];
    DecoderState::Layer& cache = s.layers_[li];
    // Masked self-attention: the new tokens' K/V join the cache, then each new
    // token attends to every cached position up to its own.
    layer_norm(x.data(), m, d, ops.self_ln, ln.data(), backend_, pool);
    ops.self_qkv.apply(ln.data(), m, qkv.data(), pool);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < n; ++i) {
        const float* row = qkv.data() + (size_t(r) * n + i) * 3 * d;
        float* kt = cache.k_self.data() + r * k_row;
        float* v = cache.v_self.data() + r * k_row;
        for (int h = 0; h < heads_; ++h)
          for (int c = 0; c < kHeadDim; ++c) {
            kt[size_t(h) * kHeadDim * cap + key_offset(len0 + i, c)] = row[d + h * kHeadDim + c];
            v[(size_t(h) * cap + len0 + i) * kHeadDim + c] = row[2 * d + h * kHeadDim + c];
          }
      }
    // One head's cache in row r.
    auto self_kv = [&](int r, int h) {
      return KeyValues{cache.k_self.data() + r * k_row + size_t(h) * kHeadDim * cap,
                       cache.v_self.data() + r * k_row + size_t(h) * cap * kHeadDim};
    };
    if (n == 1 && rows > 1) {
      // A step of several beams: the whole key blocks that every row holds
      // alike (the replicated prompt) are read once, from row 0, for all rows.
      const int common = s.shared_ / kKeyBlock * kKeyBlock;
      pool.parallel_for(heads_, [&](int h) {
        std::vector<float> p(size_t(rows) * padded_len(len0 + 1));
        std::vector<KeyValues> own;
        for (int r = 0; r < rows; ++r) own.push_back(self_kv(r, h));
        attend(backend_, qkv.data() + h * kHeadDim, size_t(3) * d, rows, own[0], common, own.data(),
               len0 + 1, p.data(), att.data() + h * kHeadDim, size_t(d));
      });
    } else {
      pool.parallel_for(rows * heads_, [&](int item) {
        const int r = item / heads_, h = item % heads_;
        std::vector<float> p(size_t(padded_len(len0 + n)));
        const KeyValues kv = self_kv(r, h);
        for (int i = 0; i < n; ++i) {  // causal: token i sees positions up to its own
          const size_t t = size_t(r) * n + i;
          attend(backend_, qkv.data() + t * 3 * d + h * kHeadDim, 0, 1, kv, 0, &kv, len0 + i + 1,
                 p.data(), att.data() + t * d + h * kHeadDim, 0);
        }
      });
    }
    ops.self_out.apply(att.data(), m, proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), backend_, pool);

    // Cross-attention to the window's encoder output.
    layer_norm(x.data(), m, d, ops.cross_ln, ln.data(), backend_, pool);
    ops.cross_q.apply(ln.data(), m, qkv.data(), pool);  // q only: [m][d]
    // One item per head, all queries (beams) together: each head's K/V is
    // read once per step.
    pool.parallel_for(heads_, [&](int h) {
      const size_t stride = size_t(padded_len(s.frames_));
      std::vector<float> p(size_t(m) * stride);
      const KeyValues kv{cache.k_cross.data() + size_t(h) * kHeadDim * s.frames_pad_,
                         cache.v_cross.data() + size_t(h) * s.frames_ * kHeadDim};
      attend(backend_, qkv.data() + h * kHeadDim, size_t(d), m, kv, s.frames_, nullptr, s.frames_,
             p.data(), att.data() + h * kHeadDim, size_t(d));
      if (!heads) return;
      for (size_t k = 0; k < heads->size(); ++k) {
        if ((*heads)[k] != std::pair<int, int>(int(li), h)) continue;
        for (int t = 0; t < m; ++t) {  // p: each query's exp(score - max), then 1 / sum
          const float* pt = p.data() + t * stride;
          float* a = attention + (k * m + t) * s.frames_;
          for (int f = 0; f < s.frames_; ++f) a[f] = pt[f] * pt[stride - 1];
        }
      }
    });
    ops.cross_out.apply(att.data(), m, proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), backend_, pool);

    layer_norm(x.data(), m, d, ops.mlp_ln, ln.data(), backend_, pool);
    ops.fc1.apply(ln.data(), m, mlp.data(), pool);
    gelu(mlp.data(), mlp.size(), backend_, pool);
    ops.fc2.apply(mlp.data(), m, proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), backend_, pool);
  }
  s.length_ += n;
  s.tokens_.resize(rows);
  for (int r = 0; r < rows; ++r)
    s.tokens_[r].insert(s.tokens_[r].end(), tokens + r * n, tokens + (r + 1) * n);
  if (every_token) {
    layer_norm(x.data(), m, d, ln_, ln.data(), backend_, pool);
    logits_.apply(ln.data(), m, logits, pool);
    return;
  }
  // Logits of each row's last token only.
  for (int r = 0; r < rows; ++r)
    std::copy_n(x.data() + (size_t(r) * n + n - 1) * d, d, proj.data() + size_t(r) * d);
  layer_norm(proj.data(), rows, d, ln_, ln.data(), backend_, pool);
  logits_.apply(ln.data(), rows, logits, pool);
}

}  // namespace amanuensis
