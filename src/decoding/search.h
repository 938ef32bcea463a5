// Generic token search over the decoder, with Whisper's logit rules plugged
// in: greedy, beam search (CTranslate2's, which faster-whisper runs: 2 x beam
// candidates a step, finished hypotheses collected until beam x patience,
// scores normalized by length^length_penalty) and best-of sampling at a
// temperature (a seeded generator: the same seed gives the same tokens).
#pragma once

#include <cstdint>
#include <vector>

#include "decoding/logit_rules.h"
#include "decoding/step_batcher.h"
#include "model/decoder.h"
#include "util/interrupt.h"
#include "util/thread_pool.h"

namespace amanuensis::decoding {

struct SearchOptions {
  int beam_size = 5;             // at temperature 0; 1 = greedy
  float patience = 1.0f;         // beam search collects beam_size * patience hypotheses
  float length_penalty = 1.0f;   // score = sum logprob / length^length_penalty
  float temperature = 0.0f;      // > 0: sampling
  int best_of = 5;               // samples drawn at temperature > 0
  // The result's first tokens, given rather than chosen (<|0.00|> and the
  // prefix): as in CTranslate2 they count in a result's length but add
  // nothing to its log-probability, and the rules treat the token after them
  // as the first sampled one (logit_rules.h).
  std::vector<int> forced;
  // The most tokens in a result, the forced ones included; the prompt and
  // all but the last of them must fit in the decoder's text context.
  int max_tokens = 224;
  // Tokens the result is expected to hold (a live stream's previous
  // hypothesis): greedy search feeds runs of them in one step and keeps what
  // it would have chosen anyway, so the result is the same bytes, sooner.
  // Used where the decoder's chunking is exact (int8).
  std::vector<int> draft;
  // > 0: a row whose last loop_tokens tokens are one phrase repeated
  // (decoding/loops.h) ends there, as at the length limit. 0: off.
  int loop_tokens = 0;
  uint64_t seed = 0;             // of the sampler
};

struct SearchResult {
  std::vector<int> tokens;  // the forced and the sampled tokens, without the final eot
  // Each token's log-probability where it was chosen: log-softmax of the
  // logits after the rules, at temperature 1 (sum_logprob's terms but eot's);
  // 0 for a forced token.
  std::vector<float> token_logprobs;
  double sum_logprob = 0;       // of the tokens and the eot that ended them
  double avg_logprob = 0;       // sum_logprob / (tokens + 1)
  float no_speech_prob = 0;     // P(<|nospeech|>) right after <|startoftranscript|>
};

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

// One window's search as a sequence of decoder steps, so that the searches
// of many windows (files, requests) can share each step: Decoder::step with a
// batch, as run_searches does. The state (Decoder::begin with room for
// max(beam_size, best_of) rows) holds the window's cross-attention K/V.
// prompt[sot_index] must be <|startoftranscript|>. A search's tokens and
// scores are the same bytes alone or in any batch.
class Search {
 public:
  Search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
         std::vector<int> prompt, int sot_index, const SearchOptions& options);
  bool done() const { return phase_ == Phase::kDone; }
  // The step to run next (the state already replicated or reordered for it).
  DecoderStep next() const;
  // That step's logits, [its rows][n_vocab]; used as scratch (the rules apply in place).
  void advance(float* logits, ThreadPool& pool);
  const SearchResult& result() const;

 private:
  enum class Phase { kPromptToSot, kPromptRest, kTokens, kDone };
  struct Hypothesis {
    std::vector<int> tokens;
    std::vector<float> logprobs;
    double sum_logprob, score;
  };
  void start(float* first, ThreadPool& pool);
  void select_samples(float* logits, ThreadPool& pool);
  int choose(int row, float* logits);
  void end_samples();
  void propose();
  void check_proposal(float* logits);
  void select_beams(float* logits, ThreadPool& pool);
  void finish(std::vector<int> tokens, std::vector<float> logprobs, double sum_logprob);

  const Decoder& decoder_;
  DecoderState& state_;
  const LogitRules& rules_;
  const SearchOptions o_;
  std::vector<int> prompt_;  // the forced tokens appended
  const int sot_index_, v_;
  int max_new_ = 0;
  Phase phase_ = Phase::kPromptToSot;
  bool beams_ = false;
  int rows_ = 1, step_ = 0;
  float no_speech_ = 0;
  Rng rng_;
  std::vector<std::vector<int>> seqs_;  // each row's tokens after the prompt, forced ones first
  std::vector<std::vector<float>> seq_logprobs_;  // and their log-probabilities
  std::vector<double> sums_, draws_;
  std::vector<char> done_;  // not vector<bool>: rows write theirs in parallel
  std::vector<float> logprobs_, scaled_;
  std::vector<int> next_;
  std::vector<Hypothesis> finished_;
  // Greedy search with a draft: the next step's tokens when it checks a run
  // of the draft (next_[0], then the draft's; empty otherwise), and where
  // the draft was left.
  static constexpr size_t kMaxProposal = 32;
  std::vector<int> fed_;
  size_t draft_from_ = 0;
  SearchResult result_;
};

// Runs the searches to their ends, every step of all the live ones as one
// batch; `interrupt` is checked before each step. With a batcher, each step
// runs together with other threads' (StepBatcher), on the batcher's pool.
void run_searches(const Decoder& decoder, const std::vector<Search*>& searches, ThreadPool& pool,
                  const Interrupt& interrupt = {}, StepBatcher* batcher = nullptr);

// One search (with other threads' when batcher is given).
SearchResult search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
                    const std::vector<int>& prompt, int sot_index, const SearchOptions& options,
                    ThreadPool& pool, const Interrupt& interrupt = {},
                    StepBatcher* batcher = nullptr);

// The indices of the k largest of x[0, n), best first, ties to the lower
// index (the order std::partial_sort gives with that comparison); k <= n.
void top_k(const float* x, int n, int k, int* out);

// P(language | audio) for each language token, from the logits after
// <|startoftranscript|> alone; state as for search().
std::vector<float> language_probabilities(const Decoder& decoder, DecoderState& state,
                                          const text::SpecialTokens& special, ThreadPool& pool);

}  // namespace amanuensis::decoding
