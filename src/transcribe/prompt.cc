#include "transcribe/prompt.h"

#include <algorithm>
#include <cmath>

#include "util/whisper_geometry.h"

namespace amanuensis {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n\r\f\v");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r\f\v") - b + 1);
}

std::vector<int> sot_sequence(const text::SpecialTokens& sp, const std::string& language,
                              Task task) {
  std::vector<int> sot = {sp.sot};
  if (sp.multilingual) {
    sot.push_back(sp.language(text::language_index(language)));
    sot.push_back(task == Task::kTranslate ? sp.translate : sp.transcribe);
  }
  return sot;
}

decoding::LogitRules logit_rules(const text::Tokenizer& tok, const TranscribeOptions& o) {
  const text::SpecialTokens& sp = tok.special();
  decoding::LogitRules rules;
  rules.special = sp;
  if (o.suppress_tokens.size() == 1 && o.suppress_tokens[0] == -1) {
    rules.suppress = decoding::default_suppressed_tokens(tok);
  } else {  // the ids given, -1 standing for the default set, and always the control tokens
    for (int t : o.suppress_tokens) {
      if (t == -1) {
        const std::vector<int> d = decoding::default_suppressed_tokens(tok);
        rules.suppress.insert(rules.suppress.end(), d.begin(), d.end());
      } else {
        rules.suppress.push_back(t);
      }
    }
    for (int t : {sp.transcribe, sp.translate, sp.sot, sp.startofprev, sp.startoflm, sp.nospeech})
      rules.suppress.push_back(t);
  }
  if (o.suppress_blank) rules.suppress_begin = {tok.encode(" ").at(0), sp.eot};
  rules.timestamps = !o.without_timestamps;
  rules.max_initial_timestamp_index = int(std::lround(o.max_initial_timestamp / kTimestampSeconds));
  rules.repetition_penalty = o.repetition_penalty;
  rules.no_repeat_ngram_size = o.no_repeat_ngram_size;
  return rules;
}

PromptText prompt_text(const text::Tokenizer& tok, const TranscribeOptions& o, int n_ctx) {
  const int half = n_ctx / 2;
  auto tokens = [&](const std::string& text, bool capped) {
    if (trim(text).empty()) return std::vector<int>{};
    std::vector<int> t = tok.encode(" " + trim(text));
    if (capped && int(t.size()) >= half) t.resize(size_t(half - 1));
    return t;
  };
  return {tokens(o.initial_prompt, false), tokens(o.hotwords, true), tokens(o.prefix, true)};
}

WindowPrompt window_prompt(const PromptText& text, const std::vector<int>& previous,
                           const std::vector<int>& sot, const text::SpecialTokens& sp,
                           bool without_timestamps, int64_t seek, int n_ctx) {
  const int half = n_ctx / 2;
  WindowPrompt p;
  const bool use_hotwords = !text.hotwords.empty() && (text.prefix.empty() || seek > 0);
  if (!previous.empty() || use_hotwords) {
    p.tokens.push_back(sp.startofprev);
    if (use_hotwords) p.tokens.insert(p.tokens.end(), text.hotwords.begin(), text.hotwords.end());
    const size_t keep = std::min(previous.size(), size_t(half - 1));
    p.tokens.insert(p.tokens.end(), previous.end() - keep, previous.end());
  }
  p.sot_index = int(p.tokens.size());
  p.tokens.insert(p.tokens.end(), sot.begin(), sot.end());
  if (without_timestamps) p.tokens.push_back(sp.notimestamps);
  if (seek == 0 && !text.prefix.empty()) {
    if (!without_timestamps) p.forced.push_back(sp.timestamp_begin);
    p.forced.insert(p.forced.end(), text.prefix.begin(), text.prefix.end());
  }
  return p;
}

}  // namespace amanuensis
