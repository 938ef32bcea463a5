// Stage: what the decoder is given besides the audio. The logit rules (the
// suppress list, timestamp rules, penalties) are fixed for a whole
// transcription; the prompt (previous text, hotwords, the task tokens, the
// prefix) is built for each window.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "amanuensis/types.h"
#include "decoding/logit_rules.h"
#include "text/tokenizer.h"

namespace amanuensis {

// <|startoftranscript|>, and on multilingual models the language and task.
std::vector<int> sot_sequence(const text::SpecialTokens& special, const std::string& language,
                              Task task);

decoding::LogitRules logit_rules(const text::Tokenizer& tokenizer, const TranscribeOptions& options);

// The options' texts as tokens. Hotwords and prefix are cut to half the text
// context (n_ctx), as faster-whisper cuts them.
struct PromptText {
  std::vector<int> initial;  // the initial prompt: the first "previous text"
  std::vector<int> hotwords;
  std::vector<int> prefix;
};
PromptText prompt_text(const text::Tokenizer& tokenizer, const TranscribeOptions& options,
                       int n_ctx);

struct WindowPrompt {
  std::vector<int> tokens;
  int sot_index = 0;  // where <|startoftranscript|> is
  // The result's first tokens, given (decoding::SearchOptions::forced):
  // <|0.00|> (with timestamps) and the prefix.
  std::vector<int> forced;
};

// The prompt of the window at frame `seek`: the last of `previous` (the text
// so far since the last prompt reset, at most half the context) after
// <|startofprev|> and the hotwords, then the sot sequence; on the file's
// first window the prefix is forced as the start of its text, as
// faster-whisper (CTranslate2) does.
WindowPrompt window_prompt(const PromptText& text, const std::vector<int>& previous,
                           const std::vector<int>& sot, const text::SpecialTokens& special,
                           bool without_timestamps, int64_t seek, int n_ctx);

// s without leading and trailing white space.
std::string trim(const std::string& s);

}  // namespace amanuensis
