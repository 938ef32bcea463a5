#include "decoding/search.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "kernels/per_isa.h"
#include "layers/float_math.h"

namespace amanuensis::decoding {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A small, fast generator with a fixed definition (splitmix64), so that a
// seed gives the same samples on every machine and library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  double uniform() {  // [0, 1)
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return double(z >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t s_;
};

// Runs the prompt as one row: up to and including <|startoftranscript|> first
// (its logits give the no-speech probability), then the rest. Returns the
// logits after the last prompt token.
std::vector<float> run_prompt(const Decoder& decoder, DecoderState& state,
                              const text::SpecialTokens& sp, const std::vector<int>& prompt,
                              int sot_index, float* no_speech_prob, ThreadPool& pool) {
  if (sot_index < 0 || sot_index >= int(prompt.size()) || prompt[sot_index] != sp.sot)
    throw std::invalid_argument("search: the prompt has no <|startoftranscript|> where expected");
  const int v = decoder.n_vocab();
  std::vector<float> logits(v), logprobs(v);
  decoder.step(state, prompt.data(), 1, sot_index + 1, logits.data(), pool);
  log_softmax(logits.data(), v, logprobs.data(), decoder.backend());
  *no_speech_prob = exp_nonpositive(logprobs[sp.nospeech]);
  const int rest = int(prompt.size()) - sot_index - 1;
  if (rest > 0) decoder.step(state, prompt.data() + sot_index + 1, 1, rest, logits.data(), pool);
  return logits;
}

// The first i with u < exp(logp[0]) + ... + exp(logp[i]), the terms added in
// order in double, or -1 if the total stays at or below u. The exponentials
// go 8 at a time (exp_nonpositive_8: the scalar one's bytes).
[[gnu::always_inline]] inline int inverse_cdf(const float* logp, int n, double u) {
  double acc = 0;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    float e[8];
    std::memcpy(e, logp + i, sizeof e);
    exp_nonpositive_8(e);
    for (int l = 0; l < 8; ++l) {
      acc += e[l];
      if (u < acc) return i + l;
    }
  }
  for (; i < n; ++i) {
    acc += exp_nonpositive(logp[i]);
    if (u < acc) return i;
  }
  return -1;
}

int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

double normalized(double sum_logprob, size_t length, float length_penalty) {
  return length_penalty == 0.0f ? sum_logprob
                                : sum_logprob / std::pow(double(length), double(length_penalty));
}

SearchResult finish(std::vector<int> tokens, double sum_logprob, float no_speech_prob) {
  SearchResult r;
  r.avg_logprob = sum_logprob / double(tokens.size() + 1);
  r.tokens = std::move(tokens);
  r.sum_logprob = sum_logprob;
  r.no_speech_prob = no_speech_prob;
  return r;
}

// Greedy (temperature 0, one row) or sampling (best_of rows), each row
// decoded until eot or the length limit; the best normalized score wins.
SearchResult sample_rows(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
                         const std::vector<int>& prompt, int sot_index, const SearchOptions& o,
                         ThreadPool& pool) {
  const text::SpecialTokens& sp = rules.special;
  const int v = decoder.n_vocab();
  const bool sampling = o.temperature > 0.0f;
  const int rows = sampling ? std::max(1, o.best_of) : 1;
  float no_speech = 0;
  std::vector<float> first = run_prompt(decoder, state, sp, prompt, sot_index, &no_speech, pool);
  std::vector<float> logits(size_t(rows) * v);
  for (int r = 0; r < rows; ++r) std::copy(first.begin(), first.end(), logits.begin() + r * v);
  if (rows > 1) state.replicate(rows);
  Rng rng(o.seed);
  std::vector<std::vector<int>> seqs(rows);
  std::vector<double> sums(rows, 0.0), draws(rows, 0.0);
  std::vector<char> done(rows, false);  // not vector<bool>: rows write theirs in parallel
  std::vector<float> logprobs(size_t(rows) * v), scaled(sampling ? size_t(rows) * v : 0);
  std::vector<int> next(rows);
  const int max_new = o.max_length - int(prompt.size());
  for (int step = 0; step < max_new; ++step) {
    // Rows are independent but for the generator: the live rows draw first,
    // in row order, and then run as items of the pool.
    for (int r = 0; r < rows; ++r)
      if (sampling && !done[r]) draws[r] = rng.uniform();
    pool.parallel_for(rows, [&](int r) {
      if (done[r]) {
        next[r] = sp.eot;
        return;
      }
      float* row = logits.data() + size_t(r) * v;
      float* lp = logprobs.data() + size_t(r) * v;
      apply_logit_rules(rules, seqs[r], row, decoder.backend());
      log_softmax(row, v, lp, decoder.backend());
      int t = -1;
      if (sampling) {  // inverse CDF of softmax(logits / T)
        float* sc = scaled.data() + size_t(r) * v;
        for (int i = 0; i < v; ++i) sc[i] = row[i] / o.temperature;
        log_softmax(sc, v, sc, decoder.backend());
        t = per_isa<inverse_cdf>(decoder.backend(), sc, v, draws[r]);
      }
      if (t < 0) t = argmax(row, v);  // greedy, or rounding left the draw above the total
      sums[r] += lp[t];
      if (t == sp.eot)
        done[r] = true;
      else
        seqs[r].push_back(t);
      next[r] = t;
    });
    if (std::all_of(done.begin(), done.end(), [](char d) { return d; })) break;
    if (step + 1 == max_new) break;
    decoder.step(state, next.data(), rows, 1, logits.data(), pool);
  }
  int best = 0;
  for (int r = 1; r < rows; ++r)
    if (normalized(sums[r], seqs[r].size(), o.length_penalty) >
        normalized(sums[best], seqs[best].size(), o.length_penalty))
      best = r;
  return finish(std::move(seqs[best]), sums[best], no_speech);
}

struct Hypothesis {
  std::vector<int> tokens;
  double sum_logprob, score;
};

SearchResult beam_search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
                         const std::vector<int>& prompt, int sot_index, const SearchOptions& o,
                         ThreadPool& pool) {
  const text::SpecialTokens& sp = rules.special;
  const int v = decoder.n_vocab(), beam = o.beam_size, candidates = 2 * beam;
  const size_t max_finished = size_t(std::lround(double(beam) * o.patience));
  float no_speech = 0;
  std::vector<float> logits = run_prompt(decoder, state, sp, prompt, sot_index, &no_speech, pool);
  int rows = 1;  // the first step expands the prompt's single row
  std::vector<std::vector<int>> seqs(1);
  std::vector<double> sums(1, 0.0);
  std::vector<Hypothesis> finished;
  std::vector<float> logprobs(size_t(beam) * v);
  const int max_new = o.max_length - int(prompt.size());
  for (int step = 0; step < max_new; ++step) {
    // Candidates: the best 2 x beam (row, token) pairs by cumulative logprob.
    struct Candidate {
      double sum;
      int row, token;
    };
    // Rows are independent until their candidates meet: one pool item each.
    std::vector<Candidate> pool_c(size_t(rows) * candidates);
    pool.parallel_for(rows, [&](int r) {
      float* row = logits.data() + size_t(r) * v;
      apply_logit_rules(rules, seqs[r], row, decoder.backend());
      float* lp = logprobs.data() + size_t(r) * v;
      log_softmax(row, v, lp, decoder.backend());
      // This row's own best `candidates` suffice for the global best.
      std::vector<int> best(candidates);
      top_k(lp, v, candidates, best.data());
      for (int k = 0; k < candidates; ++k)
        pool_c[size_t(r) * candidates + k] = {sums[r] + lp[best[k]], r, best[k]};
    });
    std::stable_sort(pool_c.begin(), pool_c.end(), [](const Candidate& a, const Candidate& b) {
      return a.sum != b.sum ? a.sum > b.sum : (a.row != b.row ? a.row < b.row : a.token < b.token);
    });
    pool_c.resize(candidates);
    const bool last_step = step + 1 == max_new;
    // The first `beam` candidates continue; one that ends (eot) is recorded
    // and its place goes to the next candidate that does not end.
    std::vector<int> from, next;
    std::vector<std::vector<int>> new_seqs;
    std::vector<double> new_sums;
    size_t secondary = size_t(beam);
    for (int k = 0; k < beam; ++k) {
      Candidate c = pool_c[k];
      if (c.token == sp.eot || last_step) {
        std::vector<int> toks = seqs[c.row];
        if (c.token != sp.eot) toks.push_back(c.token);
        finished.push_back({toks, c.sum, normalized(c.sum, toks.size(), o.length_penalty)});
        for (; secondary < pool_c.size(); ++secondary)
          if (pool_c[secondary].token != sp.eot) {
            c = pool_c[secondary++];
            break;
          }
      }
      from.push_back(c.row);
      next.push_back(c.token);
      new_seqs.push_back(seqs[c.row]);
      new_seqs.back().push_back(c.token);
      new_sums.push_back(c.sum);
    }
    if (last_step || finished.size() >= max_finished) break;
    if (rows == 1)
      state.replicate(beam);  // every candidate of the first step extends row 0
    else
      state.reorder(from);
    rows = beam;
    seqs = std::move(new_seqs);
    sums = std::move(new_sums);
    logits.resize(size_t(rows) * v);
    decoder.step(state, next.data(), rows, 1, logits.data(), pool);
  }
  if (finished.empty()) throw std::logic_error("beam search ended with no hypothesis");
  const auto best = std::max_element(
      finished.begin(), finished.end(),
      [](const Hypothesis& a, const Hypothesis& b) { return a.score < b.score; });
  return finish(best->tokens, best->sum_logprob, no_speech);
}

}  // namespace

// One pass that compares each value with the k-th best so far: beam search
// calls it on every row's 51865 log-probabilities each step.
void top_k(const float* x, int n, int k, int* out) {
  int size = 0;
  for (int i = 0; i < n; ++i) {
    if (size == k && !(x[i] > x[out[k - 1]])) continue;  // earlier indices win ties
    int j = size < k ? size++ : k - 1;
    for (; j > 0 && x[i] > x[out[j - 1]]; --j) out[j] = out[j - 1];
    out[j] = i;
  }
}

SearchResult search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
                    const std::vector<int>& prompt, int sot_index, const SearchOptions& o,
                    ThreadPool& pool) {
  if (int(prompt.size()) >= o.max_length)
    throw std::invalid_argument("search: the prompt fills the whole text context");
  if (o.temperature > 0.0f || o.beam_size <= 1)
    return sample_rows(decoder, state, rules, prompt, sot_index, o, pool);
  return beam_search(decoder, state, rules, prompt, sot_index, o, pool);
}

std::vector<float> language_probabilities(const Decoder& decoder, DecoderState& state,
                                          const text::SpecialTokens& sp, ThreadPool& pool) {
  const int v = decoder.n_vocab();
  std::vector<float> logits(v);
  const int sot = sp.sot;
  decoder.step(state, &sot, 1, 1, logits.data(), pool);
  std::vector<float> lang(sp.n_languages);
  for (int i = 0; i < sp.n_languages; ++i) lang[i] = logits[sp.language(i)];
  std::vector<float> out(sp.n_languages);
  log_softmax(lang.data(), sp.n_languages, out.data(), decoder.backend());
  for (float& p : out) p = exp_nonpositive(p);
  return out;
}

}  // namespace amanuensis::decoding
