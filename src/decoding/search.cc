#include "decoding/search.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>

#include "decoding/loops.h"
#include "kernels/per_isa.h"
#include "layers/float_math.h"

namespace amanuensis::decoding {
namespace {

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

}  // namespace

// One pass that compares each value with the k-th best so far: beam search
// calls it on every row's 51865 log-probabilities each step. Once k are held,
// a block of values none of which beats the k-th best is skipped with one
// vector comparison: the k-th best only rises along the pass, so each of
// them would have been passed over one at a time too.
void top_k(const float* x, int n, int k, int* out) {
  int size = 0;
  auto consider = [&](int i) {
    if (size == k && !(x[i] > x[out[k - 1]])) return;  // earlier indices win ties
    int j = size < k ? size++ : k - 1;
    for (; j > 0 && x[i] > x[out[j - 1]]; --j) out[j] = out[j - 1];
    out[j] = i;
  };
  int i = 0;
  for (; i < n && size < k; ++i) consider(i);
  constexpr int kBlock = 16;
  for (; i + kBlock <= n; i += kBlock) {
    const __m128 kth = _mm_set1_ps(x[out[k - 1]]);
    int beaten = 0;  // SSE, which every x86-64 has: the compiler left this scalar
    for (int l = 0; l < kBlock; l += 4)
      beaten |= _mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(x + i + l), kth));
    if (beaten)
      for (int l = 0; l < kBlock; ++l) consider(i + l);
  }
  for (; i < n; ++i) consider(i);
}

Search::Search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
               std::vector<int> prompt, int sot_index, const SearchOptions& options)
    : decoder_(decoder),
      state_(state),
      rules_(rules),
      o_(options),
      prompt_(std::move(prompt)),
      sot_index_(sot_index),
      v_(decoder.n_vocab()),
      rng_(options.seed) {
  if (sot_index_ < 0 || sot_index_ >= int(prompt_.size()) ||
      prompt_[sot_index_] != rules_.special.sot)
    throw std::invalid_argument("search: the prompt has no <|startoftranscript|> where expected");
  const int forced = int(o_.forced.size());
  if (o_.max_tokens <= forced)
    throw std::invalid_argument("search: no room for a token after the forced ones");
  if (int(prompt_.size()) - 1 + o_.max_tokens > decoder.n_ctx())
    throw std::invalid_argument("search: the prompt and max_tokens exceed the text context");
  // The forced tokens go in with the prompt: nothing is chosen at their steps.
  prompt_.insert(prompt_.end(), o_.forced.begin(), o_.forced.end());
  max_new_ = o_.max_tokens - forced;
}

DecoderStep Search::next() const {
  switch (phase_) {
    case Phase::kPromptToSot:  // up to <|startoftranscript|>: its logits give no_speech
      return {&state_, prompt_.data(), 1, sot_index_ + 1};
    case Phase::kPromptRest:
      return {&state_, prompt_.data() + sot_index_ + 1, 1, int(prompt_.size()) - sot_index_ - 1};
    case Phase::kTokens:
      if (!fed_.empty()) return {&state_, fed_.data(), 1, int(fed_.size()), true};
      return {&state_, next_.data(), rows_, 1};
    case Phase::kDone:
      break;
  }
  throw std::logic_error("search: next() after the search ended");
}

void Search::advance(float* logits, ThreadPool& pool) {
  switch (phase_) {
    case Phase::kPromptToSot: {
      std::vector<float> logprobs(v_);
      log_softmax(logits, v_, logprobs.data(), decoder_.backend());
      no_speech_ = exp_nonpositive(logprobs[rules_.special.nospeech]);
      if (sot_index_ + 1 < int(prompt_.size())) {
        phase_ = Phase::kPromptRest;
        return;
      }
      return start(logits, pool);
    }
    case Phase::kPromptRest:
      return start(logits, pool);
    case Phase::kTokens:
      if (beams_) return select_beams(logits, pool);
      if (!fed_.empty()) return check_proposal(logits);
      return select_samples(logits, pool);
    case Phase::kDone:
      break;
  }
  throw std::logic_error("search: advance() after the search ended");
}

// After the prompt: greedy and sampling give each of their rows the prompt's
// logits; beam search expands its one row on the first step.
void Search::start(float* first, ThreadPool& pool) {
  phase_ = Phase::kTokens;
  beams_ = o_.temperature <= 0.0f && o_.beam_size > 1;
  const std::vector<float> forced_logprobs(o_.forced.size(), 0.0f);
  if (beams_) {
    rows_ = 1;
    seqs_.assign(1, o_.forced);
    seq_logprobs_.assign(1, forced_logprobs);
    sums_.assign(1, 0.0);
    logprobs_.resize(size_t(o_.beam_size) * v_);
    return select_beams(first, pool);
  }
  rows_ = o_.temperature > 0.0f ? std::max(1, o_.best_of) : 1;
  std::vector<float> logits(size_t(rows_) * v_);
  for (int r = 0; r < rows_; ++r) std::copy_n(first, v_, logits.begin() + size_t(r) * v_);
  if (rows_ > 1) state_.replicate(rows_);
  seqs_.assign(rows_, o_.forced);
  seq_logprobs_.assign(rows_, forced_logprobs);
  sums_.assign(rows_, 0.0);
  draws_.assign(rows_, 0.0);
  done_.assign(rows_, false);
  logprobs_.resize(size_t(rows_) * v_);
  scaled_.resize(o_.temperature > 0.0f ? size_t(rows_) * v_ : 0);
  next_.resize(rows_);
  select_samples(logits.data(), pool);
}

// Greedy (temperature 0, one row) or sampling (best_of rows), each row
// decoded until eot or the length limit; the best normalized score wins.
void Search::select_samples(float* logits, ThreadPool& pool) {
  const bool sampling = o_.temperature > 0.0f;
  // Rows are independent but for the generator: the live rows draw first,
  // in row order, and then run as items of the pool.
  for (int r = 0; r < rows_; ++r)
    if (sampling && !done_[r]) draws_[r] = rng_.uniform();
  pool.parallel_for(rows_, [&](int r) {
    next_[r] = done_[r] ? rules_.special.eot : choose(r, logits + size_t(r) * v_);
  });
  const bool all_done = std::all_of(done_.begin(), done_.end(), [](char d) { return d; });
  if (!all_done && ++step_ < max_new_) return propose();
  end_samples();
}

// Row r's next token from its logits (the rules applied in place): the
// argmax, or at a temperature a sample with the row's draw.
int Search::choose(int r, float* row) {
  const text::SpecialTokens& sp = rules_.special;
  float* lp = logprobs_.data() + size_t(r) * v_;
  apply_logit_rules(rules_, seqs_[r], o_.forced.size(), row, decoder_.backend());
  log_softmax(row, v_, lp, decoder_.backend());
  int t = -1;
  if (o_.temperature > 0.0f) {  // inverse CDF of softmax(logits / T)
    float* sc = scaled_.data() + size_t(r) * v_;
    for (int i = 0; i < v_; ++i) sc[i] = row[i] / o_.temperature;
    log_softmax(sc, v_, sc, decoder_.backend());
    t = per_isa<inverse_cdf>(decoder_.backend(), sc, v_, draws_[r]);
  }
  if (t < 0) t = argmax(row, v_);  // greedy, or rounding left the draw above the total
  sums_[r] += lp[t];
  if (t == sp.eot) {
    done_[r] = true;
  } else {
    seqs_[r].push_back(t);
    seq_logprobs_[r].push_back(lp[t]);
    if (ends_in_loop(seqs_[r], o_.loop_tokens)) done_[r] = true;
  }
  return t;
}

void Search::end_samples() {
  int best = 0;
  for (int r = 1; r < rows_; ++r)
    if (normalized(sums_[r], seqs_[r].size(), o_.length_penalty) >
        normalized(sums_[best], seqs_[best].size(), o_.length_penalty))
      best = r;
  finish(std::move(seqs_[best]), std::move(seq_logprobs_[best]), sums_[best]);
}

// Greedy search with a draft: where the tokens so far end as a run of the
// draft does, the next step also feeds the draft's next tokens, and
// check_proposal() takes them while they are what greedy search would
// choose. Only where the decoder's chunking is exact: a token's logits are
// then the same bytes in a long step as in its own, and so is the result.
void Search::propose() {
  fed_.clear();
  const std::vector<int>& d = o_.draft;
  if (d.empty() || rows_ != 1 || o_.temperature > 0.0f || !decoder_.chunking_is_exact()) return;
  const std::vector<int>& seq = seqs_[0];
  const size_t sampled = seq.size() - o_.forced.size();
  // The draft's run that ends as the tokens do: their last two, from where
  // the last proposal was taken on, else the last one there (a text token),
  // else the last two anywhere.
  auto find = [&](size_t g, size_t from) -> size_t {
    if (g == 0 || g > sampled || g > d.size()) return d.size();
    for (size_t p = from; p + g <= d.size(); ++p)
      if (std::equal(seq.end() - long(g), seq.end(), d.begin() + long(p))) return p + g;
    return d.size();
  };
  size_t at = find(2, draft_from_);
  if (at == d.size() && seq.back() < rules_.special.eot) at = find(1, draft_from_);
  if (at == d.size()) at = find(2, 0);
  // No further than the length limit and the text context allow.
  const size_t room =
      size_t(std::max(0, std::min(max_new_ - step_ - 1, decoder_.n_ctx() - state_.length() - 1)));
  const size_t n = std::min({d.size() - at, room, kMaxProposal});
  if (n == 0) return;
  draft_from_ = at + n;
  fed_.assign(1, next_[0]);
  fed_.insert(fed_.end(), d.begin() + long(at), d.begin() + long(at + n));
}

// The logits after each token a speculative step fed: the search takes each
// next token as greedy search would, as long as it is the one fed next; past
// the first it did not take, the state forgets what was fed.
void Search::check_proposal(float* logits) {
  const int before = state_.length() - int(fed_.size());
  for (size_t i = 0; i < fed_.size(); ++i) {
    const int t = choose(0, logits + i * size_t(v_));
    if (done_[0] || ++step_ >= max_new_) return end_samples();
    next_[0] = t;
    if (i + 1 < fed_.size() && t == fed_[i + 1]) continue;
    if (i + 1 < fed_.size()) state_.truncate(before + int(i) + 1);
    break;
  }
  propose();
}

// CTranslate2's beam search: the best 2 x beam (row, token) candidates by
// cumulative logprob; the first `beam` continue, one that ends (eot) is
// recorded and its place goes to the next candidate that does not end.
void Search::select_beams(float* logits, ThreadPool& pool) {
  const text::SpecialTokens& sp = rules_.special;
  const int beam = o_.beam_size, candidates = 2 * beam;
  const size_t max_finished = size_t(std::lround(double(beam) * o_.patience));
  struct Candidate {
    double sum;
    int row, token;
    float logprob;
  };
  // Rows are independent until their candidates meet: one pool item each.
  std::vector<Candidate> pool_c(size_t(rows_) * candidates);
  pool.parallel_for(rows_, [&](int r) {
    float* row = logits + size_t(r) * v_;
    apply_logit_rules(rules_, seqs_[r], o_.forced.size(), row, decoder_.backend());
    float* lp = logprobs_.data() + size_t(r) * v_;
    log_softmax(row, v_, lp, decoder_.backend());
    // This row's own best `candidates` suffice for the global best.
    std::vector<int> best(candidates);
    top_k(lp, v_, candidates, best.data());
    for (int k = 0; k < candidates; ++k)
      pool_c[size_t(r) * candidates + k] = {sums_[r] + lp[best[k]], r, best[k], lp[best[k]]};
  });
  std::stable_sort(pool_c.begin(), pool_c.end(), [](const Candidate& a, const Candidate& b) {
    return a.sum != b.sum ? a.sum > b.sum : (a.row != b.row ? a.row < b.row : a.token < b.token);
  });
  pool_c.resize(candidates);
  if (step_ == 0 && !o_.forced.empty())  // CTranslate2 after a prefix: only the best may end
    for (int k = 1; k < candidates; ++k)
      if (pool_c[k].token == sp.eot) pool_c[k] = {-1e10, 0, 0, -1e10f};
  const bool last_step = step_ + 1 == max_new_;
  std::vector<int> from;
  std::vector<std::vector<int>> new_seqs;
  std::vector<std::vector<float>> new_logprobs;
  std::vector<double> new_sums;
  next_.clear();
  size_t secondary = size_t(beam);
  // A candidate that completes a loop ends, as at the length limit (like an
  // eot, it also stays a live row when no other candidate is left to take
  // its place: rare, and that row's next candidates are checked again).
  auto loops = [&](const Candidate& c) {
    if (o_.loop_tokens <= 0 || c.token == sp.eot) return false;
    std::vector<int> toks = seqs_[c.row];
    toks.push_back(c.token);
    return ends_in_loop(toks, o_.loop_tokens);
  };
  for (int k = 0; k < beam; ++k) {
    Candidate c = pool_c[k];
    if (c.token == sp.eot || last_step || loops(c)) {
      std::vector<int> toks = seqs_[c.row];
      std::vector<float> lps = seq_logprobs_[c.row];
      if (c.token != sp.eot) {
        toks.push_back(c.token);
        lps.push_back(c.logprob);
      }
      const double score = normalized(c.sum, toks.size(), o_.length_penalty);
      finished_.push_back({std::move(toks), std::move(lps), c.sum, score});
      for (; secondary < pool_c.size(); ++secondary)
        if (pool_c[secondary].token != sp.eot && !loops(pool_c[secondary])) {
          c = pool_c[secondary++];
          break;
        }
    }
    from.push_back(c.row);
    next_.push_back(c.token);
    new_seqs.push_back(seqs_[c.row]);
    new_seqs.back().push_back(c.token);
    new_logprobs.push_back(seq_logprobs_[c.row]);
    new_logprobs.back().push_back(c.logprob);
    new_sums.push_back(c.sum);
  }
  ++step_;
  if (last_step || finished_.size() >= max_finished) {
    if (finished_.empty()) throw std::logic_error("beam search ended with no hypothesis");
    const auto best = std::max_element(
        finished_.begin(), finished_.end(),
        [](const Hypothesis& a, const Hypothesis& b) { return a.score < b.score; });
    return finish(best->tokens, best->logprobs, best->sum_logprob);
  }
  if (rows_ == 1)
    state_.replicate(beam);  // every candidate of the first step extends row 0
  else
    state_.reorder(from);
  rows_ = beam;
  seqs_ = std::move(new_seqs);
  seq_logprobs_ = std::move(new_logprobs);
  sums_ = std::move(new_sums);
}

void Search::finish(std::vector<int> tokens, std::vector<float> logprobs, double sum_logprob) {
  result_.avg_logprob = sum_logprob / double(tokens.size() + 1);
  result_.tokens = std::move(tokens);
  result_.token_logprobs = std::move(logprobs);
  result_.sum_logprob = sum_logprob;
  result_.no_speech_prob = no_speech_;
  phase_ = Phase::kDone;
}

const SearchResult& Search::result() const {
  if (phase_ != Phase::kDone) throw std::logic_error("search: result() before the search ended");
  return result_;
}

void run_searches(const Decoder& decoder, const std::vector<Search*>& searches, ThreadPool& pool,
                  const Interrupt& interrupt, StepBatcher* batcher) {
  std::optional<StepBatcher::Member> member;
  if (batcher) member.emplace(*batcher);
  std::vector<DecoderStep> batch;
  std::vector<Search*> live;
  std::vector<float> logits;
  for (;;) {
    batch.clear();
    live.clear();
    int rows = 0;
    for (Search* s : searches)
      if (!s->done()) {
        batch.push_back(s->next());
        live.push_back(s);
        rows += logit_rows(batch.back());
      }
    if (batch.empty()) return;
    interrupt.check();
    logits.resize(size_t(rows) * decoder.n_vocab());
    if (batcher)
      batcher->step(batch, logits.data(), pool);
    else
      decoder.step(batch, logits.data(), pool);
    float* at = logits.data();
    for (size_t i = 0; i < live.size(); ++i) {
      live[i]->advance(at, pool);
      at += size_t(logit_rows(batch[i])) * decoder.n_vocab();
    }
  }
}

SearchResult search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
                    const std::vector<int>& prompt, int sot_index, const SearchOptions& o,
                    ThreadPool& pool, const Interrupt& interrupt, StepBatcher* batcher) {
  Search s(decoder, state, rules, prompt, sot_index, o);
  run_searches(decoder, {&s}, pool, interrupt, batcher);
  return s.result();
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
