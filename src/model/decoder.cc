#include "model/decoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "layers/float_math.h"
#include "layers/float_ops.h"
#include "util/allocator.h"
#include "util/clones.h"
#include "util/uninit_vector.h"

namespace amanuensis {
namespace {

constexpr int kHeadDim = 64;
// The outlier split (layers/linear.h) in the decoder's per-token GEMMs: off.
// Each call would gather 32 weight columns of every layer and of the
// 51865-row embedding for a handful of rows; docs/PERFORMANCE.md has the
// cost and the transcripts with and without it.
constexpr bool kDecoderOutliers = false;
constexpr float kScoreScale = 0.125f;  // 1/sqrt(64): exact, so the bytes equal scaling q first

// One query against `len` keys: out[64] = softmax(q . K / 8) . V, with K
// transposed ([64][k_stride], keys along the row) and V [len][64]. Each loop
// runs along keys or channels with one fixed order of additions, so the
// compiler vectorizes it and every clone computes the same bytes. `p` is
// scratch of `len` floats.
AMANUENSIS_CLONES void attend_one(const float* q, const float* kt, size_t k_stride, const float* v,
                                  int len, float* p, float* out) {
  // Scores in blocks of kKeys keys whose sums stay in registers over all 64
  // channels; each score still adds its 64 products in channel order.
  constexpr int kKeys = 32;
  int j0 = 0;
  for (; j0 + kKeys <= len; j0 += kKeys) {
    float acc[kKeys] = {};
    for (int c = 0; c < kHeadDim; ++c) {
      const float qc = q[c];
      const float* kc = kt + size_t(c) * k_stride + j0;
      for (int l = 0; l < kKeys; ++l) acc[l] += qc * kc[l];
    }
    for (int l = 0; l < kKeys; ++l) p[j0 + l] = acc[l];
  }
  for (int j = j0; j < len; ++j) {
    float acc = 0.0f;
    for (int c = 0; c < kHeadDim; ++c) acc += q[c] * kt[size_t(c) * k_stride + j];
    p[j] = acc;
  }
  float mx = -3.0e38f;
  for (int j = 0; j < len; ++j) {
    p[j] *= kScoreScale;
    mx = p[j] > mx ? p[j] : mx;
  }
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  const int body = len / kLanes * kLanes;
  for (int j = 0; j < body; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += (p[j + l] = exp_nonpositive(p[j + l] - mx));
  for (int j = body; j < len; ++j) lanes[j - body] += (p[j] = exp_nonpositive(p[j] - mx));
  float sum = 0.0f;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  float acc[kHeadDim] = {};
  for (int j = 0; j < len; ++j) {
    const float pj = p[j];
    const float* vj = v + size_t(j) * kHeadDim;
    for (int c = 0; c < kHeadDim; ++c) acc[c] += pj * vj[c];
  }
  const float inv = 1.0f / sum;
  for (int c = 0; c < kHeadDim; ++c) out[c] = acc[c] * inv;
}

void check_rows(const std::string& what, int rows, int max_rows) {
  if (rows < 1 || rows > max_rows)
    throw std::invalid_argument("decoder: " + what + " " + std::to_string(rows) +
                                " rows, room for " + std::to_string(max_rows));
}

}  // namespace

void DecoderState::reorder(const std::vector<int>& from) {
  if (int(from.size()) != rows_) throw std::invalid_argument("decoder: reorder of the wrong size");
  bool identity = true;
  for (int i = 0; i < rows_; ++i) {
    if (from[i] < 0 || from[i] >= rows_) throw std::invalid_argument("decoder: bad reorder index");
    identity = identity && from[i] == i;
  }
  if (identity || length_ == 0) return;
  const size_t row_k = size_t(heads_) * kHeadDim * n_ctx_;  // same size for V
  std::vector<float> old;
  for (Layer& l : layers_) {
    for (std::vector<float>* cache : {&l.k_self, &l.v_self}) {
      old.assign(cache->begin(), cache->begin() + rows_ * row_k);
      for (int i = 0; i < rows_; ++i) {
        if (from[i] == i) continue;
        const float* src = old.data() + from[i] * row_k;
        float* dst = cache->data() + i * row_k;
        if (cache == &l.k_self) {  // [heads][64][n_ctx]: the first length_ of each channel
          for (int hc = 0; hc < heads_ * kHeadDim; ++hc)
            std::copy_n(src + size_t(hc) * n_ctx_, length_, dst + size_t(hc) * n_ctx_);
        } else {  // [heads][n_ctx][64]: the first length_ rows of each head
          for (int h = 0; h < heads_; ++h)
            std::copy_n(src + size_t(h) * n_ctx_ * kHeadDim, size_t(length_) * kHeadDim,
                        dst + size_t(h) * n_ctx_ * kHeadDim);
        }
      }
    }
  }
}

void DecoderState::replicate(int rows) {
  check_rows("replicate to", rows, capacity_rows_);
  if (rows_ != 1) throw std::invalid_argument("decoder: only one row can be replicated");
  const size_t row = size_t(heads_) * kHeadDim * n_ctx_;
  for (Layer& l : layers_)
    for (std::vector<float>* cache : {&l.k_self, &l.v_self})
      for (int i = 1; i < rows; ++i)
        std::copy_n(cache->begin(), row, cache->begin() + i * row);
  rows_ = rows;
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
      logits_(Linear{w.n_vocab, w.d_model, std::move(w.embedding),
                     std::vector<float>(size_t(w.n_vocab), 0.0f)},
              precision, backend_, kDecoderOutliers) {
  tune_allocator();
  for (DecoderLayerWeights& l : w.layers)
    layers_.push_back(LayerOps{std::move(l.self_ln), std::move(l.cross_ln), std::move(l.mlp_ln),
                               LinearOp(std::move(l.self_qkv), precision, backend_, kDecoderOutliers),
                               LinearOp(std::move(l.self_out), precision, backend_, kDecoderOutliers),
                               LinearOp(std::move(l.cross_q), precision, backend_, kDecoderOutliers),
                               // the encoder output: 1500 rows, once a window
                               LinearOp(std::move(l.cross_kv), precision, backend_, true),
                               LinearOp(std::move(l.cross_out), precision, backend_, kDecoderOutliers),
                               LinearOp(std::move(l.fc1), precision, backend_, kDecoderOutliers),
                               LinearOp(std::move(l.fc2), precision, backend_, kDecoderOutliers)});
}

void Decoder::begin(DecoderState& s, const float* encoded, int frames, int max_rows,
                    ThreadPool& pool) const {
  check_rows("begin with", max_rows, 64);
  s.rows_ = 0;
  s.length_ = 0;
  s.frames_ = frames;
  s.capacity_rows_ = max_rows;
  s.heads_ = heads_;
  s.n_ctx_ = n_ctx_;
  s.layers_.resize(layers_.size());
  UninitVector<float> kv(size_t(frames) * 2 * d_);
  for (size_t li = 0; li < layers_.size(); ++li) {
    DecoderState::Layer& l = s.layers_[li];
    layers_[li].cross_kv.apply(encoded, frames, kv.data(), pool);
    l.k_cross.resize(size_t(d_) * frames);
    l.v_cross.resize(size_t(d_) * frames);
    pool.parallel_for(heads_, [&](int h) {
      for (int f = 0; f < frames; ++f) {
        const float* row = kv.data() + size_t(f) * 2 * d_ + h * kHeadDim;
        for (int c = 0; c < kHeadDim; ++c) {
          l.k_cross[(size_t(h) * kHeadDim + c) * frames + f] = row[c];
          l.v_cross[(size_t(h) * frames + f) * kHeadDim + c] = row[d_ + c];
        }
      }
    });
    const size_t self = size_t(max_rows) * heads_ * kHeadDim * n_ctx_;
    if (l.k_self.size() < self) {
      l.k_self.resize(self);
      l.v_self.resize(self);
    }
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
  const size_t k_row = size_t(heads_) * kHeadDim * n_ctx_;
  for (size_t li = 0; li < layers_.size(); ++li) {
    const LayerOps& ops = layers_[li];
    DecoderState::Layer& cache = s.layers_[li];
    // Masked self-attention: the new tokens' K/V join the cache, then each new
    // token attends to every cached position up to its own.
    layer_norm(x.data(), m, d, ops.self_ln, ln.data(), pool);
    ops.self_qkv.apply(ln.data(), m, qkv.data(), pool);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < n; ++i) {
        const float* row = qkv.data() + (size_t(r) * n + i) * 3 * d;
        float* kt = cache.k_self.data() + r * k_row;
        float* v = cache.v_self.data() + r * k_row;
        for (int h = 0; h < heads_; ++h)
          for (int c = 0; c < kHeadDim; ++c) {
            kt[(size_t(h) * kHeadDim + c) * n_ctx_ + len0 + i] = row[d + h * kHeadDim + c];
            v[(size_t(h) * n_ctx_ + len0 + i) * kHeadDim + c] = row[2 * d + h * kHeadDim + c];
          }
      }
    pool.parallel_for(rows * heads_, [&](int item) {
      const int r = item / heads_, h = item % heads_;
      std::vector<float> p(size_t(len0 + n));
      const float* kt = cache.k_self.data() + r * k_row + size_t(h) * kHeadDim * n_ctx_;
      const float* v = cache.v_self.data() + r * k_row + size_t(h) * n_ctx_ * kHeadDim;
      for (int i = 0; i < n; ++i) {
        const size_t t = size_t(r) * n + i;
        attend_one(qkv.data() + t * 3 * d + h * kHeadDim, kt, n_ctx_, v, len0 + i + 1, p.data(),
                   att.data() + t * d + h * kHeadDim);
      }
    });
    ops.self_out.apply(att.data(), m, proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), pool);

    // Cross-attention to the window's encoder output.
    layer_norm(x.data(), m, d, ops.cross_ln, ln.data(), pool);
    ops.cross_q.apply(ln.data(), m, qkv.data(), pool);  // q only: [m][d]
    pool.parallel_for(m * heads_, [&](int item) {
      const int t = item / heads_, h = item % heads_;
      std::vector<float> p(size_t(s.frames_));
      attend_one(qkv.data() + size_t(t) * d + h * kHeadDim,
                 cache.k_cross.data() + size_t(h) * kHeadDim * s.frames_, s.frames_,
                 cache.v_cross.data() + size_t(h) * s.frames_ * kHeadDim, s.frames_, p.data(),
                 att.data() + size_t(t) * d + h * kHeadDim);
    });
    ops.cross_out.apply(att.data(), m, proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), pool);

    layer_norm(x.data(), m, d, ops.mlp_ln, ln.data(), pool);
    ops.fc1.apply(ln.data(), m, mlp.data(), pool);
    gelu(mlp.data(), mlp.size(), pool);
    ops.fc2.apply(mlp.data(), m, proj.data(), pool);
    add_inplace(x.data(), proj.data(), x.size(), pool);
  }
  s.length_ += n;
  // Logits of each row's last token only.
  for (int r = 0; r < rows; ++r)
    std::copy_n(x.data() + (size_t(r) * n + n - 1) * d, d, proj.data() + size_t(r) * d);
  layer_norm(proj.data(), rows, d, ln_, ln.data(), pool);
  logits_.apply(ln.data(), rows, logits, pool);
}

}  // namespace amanuensis
