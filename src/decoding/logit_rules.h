// Whisper's rules on the next-token logits, as openai-whisper's decoding.py
// and CTranslate2's Whisper model apply them: tokens that are never sampled,
// no blank at the start, and timestamps that come in pairs, never go back and
// begin within max_initial_timestamp (and, where asked, no eot before the
// speech ends). Also faster-whisper's optional
// repetition penalty and no-repeat n-grams. Suppressed logits become -inf.
#pragma once

#include <vector>

#include "amanuensis/types.h"
#include "text/tokenizer.h"

namespace amanuensis::decoding {

struct LogitRules {
  text::SpecialTokens special;
  std::vector<int> suppress;      // always -inf (sorted ids)
  std::vector<int> suppress_begin;  // -inf at the first sampled token (blank, eot); may be empty
  bool timestamps = true;           // false: <|notimestamps|> mode, no timestamp rules
  int max_initial_timestamp_index = 50;  // 1.0 s / 0.02 s; negative: no limit
  // eot only once a timestamp has reached this index: the window is known to
  // hold speech until then (batched mode's VAD chunks), and the model may
  // not end its text early. Negative: eot at any time.
  int eot_from_timestamp_index = -1;
  float repetition_penalty = 1.0f;       // 1: off
  int no_repeat_ngram_size = 0;          // 0: off
};

// The default suppressed set: openai-whisper's non-speech symbols (encoded
// with the model's own vocabulary) plus the task and control tokens, as
// faster-whisper's suppress_tokens=[-1] resolves it.
std::vector<int> default_suppressed_tokens(const text::Tokenizer& tokenizer);

// Applies the rules to one row of logits [n_vocab], given the window's tokens
// so far (after the prompt), of which the first `forced` were given, not
// sampled (<|0.00|> and the prefix). As in CTranslate2, the penalties see all
// of them; the other rules only the sampled ones, and a window with forced
// tokens need not open with a timestamp. backend: the instruction set of the
// loops (the decoder's; every one gives the same bytes).
void apply_logit_rules(const LogitRules& rules, const std::vector<int>& tokens, size_t forced,
                       float* logits, Backend backend = Backend::kAuto);

// log_softmax of one row, same bytes on every machine and backend.
void log_softmax(const float* logits, int n, float* out, Backend backend = Backend::kAuto);

}  // namespace amanuensis::decoding
