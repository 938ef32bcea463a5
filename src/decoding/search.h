// Generic token search over the decoder, with Whisper's logit rules plugged
// in: greedy, beam search (CTranslate2's, which faster-whisper runs: 2 x beam
// candidates a step, finished hypotheses collected until beam x patience,
// scores normalized by length^length_penalty) and best-of sampling at a
// temperature (a seeded generator: the same seed gives the same tokens).
#pragma once

#include <cstdint>
#include <vector>

#include "decoding/logit_rules.h"
#include "model/decoder.h"
#include "util/thread_pool.h"

namespace amanuensis::decoding {

struct SearchOptions {
  int beam_size = 5;             // at temperature 0; 1 = greedy
  float patience = 1.0f;         // beam search collects beam_size * patience hypotheses
  float length_penalty = 1.0f;   // score = sum logprob / length^length_penalty
  float temperature = 0.0f;      // > 0: sampling
  int best_of = 5;               // samples drawn at temperature > 0
  int max_length = 448;          // prompt + generated tokens
  uint64_t seed = 0;             // of the sampler
};

struct SearchResult {
  std::vector<int> tokens;      // sampled tokens, without the prompt and the final eot
  double sum_logprob = 0;       // of the tokens and the eot that ended them
  double avg_logprob = 0;       // sum_logprob / (tokens + 1)
  float no_speech_prob = 0;     // P(<|nospeech|>) right after <|startoftranscript|>
};

// Decodes one window whose cross-attention K/V are in `state` (Decoder::begin
// with room for max(beam_size, best_of) rows). prompt[sot_index] must be
// <|startoftranscript|>.
SearchResult search(const Decoder& decoder, DecoderState& state, const LogitRules& rules,
                    const std::vector<int>& prompt, int sot_index, const SearchOptions& options,
                    ThreadPool& pool);

// The indices of the k largest of x[0, n), best first, ties to the lower
// index (the order std::partial_sort gives with that comparison); k <= n.
void top_k(const float* x, int n, int k, int* out);

// P(language | audio) for each language token, from the logits after
// <|startoftranscript|> alone; state as for search().
std::vector<float> language_probabilities(const Decoder& decoder, DecoderState& state,
                                          const text::SpecialTokens& special, ThreadPool& pool);

}  // namespace amanuensis::decoding
