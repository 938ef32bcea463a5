#include "transcribe/options.h"

#include <cctype>
#include <cmath>
#include <string>

#include "vad/speech_timestamps.h"

namespace amanuensis {
namespace {

// Values that no model could honour.
void check_values(const TranscribeOptions& o) {
  auto bad = [](const char* option, const std::string& what) {
    throw Error("invalid option: " + what, ErrorKind::kBadInput, option);
  };
  if (o.task != Task::kTranscribe && o.task != Task::kTranslate) bad("task", "unknown task");
  if (o.beam_size < 1 || o.beam_size > 16) bad("beam_size", "beam size must be 1 to 16");
  if (o.best_of < 1 || o.best_of > 16) bad("best_of", "best_of must be 1 to 16");
  if (!(o.patience > 0.0f) || o.patience > 16.0f) bad("patience", "patience must be in (0, 16]");
  if (!std::isfinite(o.length_penalty) || o.length_penalty < 0)
    bad("length_penalty", "length penalty must be >= 0");
  if (o.temperatures.empty()) bad("temperatures", "give at least one temperature");
  for (float t : o.temperatures)
    if (!(t >= 0.0f && t <= 10.0f)) bad("temperatures", "temperatures must be between 0 and 10");
  if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty))
    bad("repetition_penalty", "repetition penalty must be > 0");
  if (o.no_repeat_ngram_size < 0 || o.no_repeat_ngram_size > 64)
    bad("no_repeat_ngram_size", "no-repeat n-gram size must be 0 to 64");
  if (!(o.max_initial_timestamp >= 0.0f) || o.max_initial_timestamp > 30.0f)
    bad("max_initial_timestamp", "max initial timestamp must be 0 to 30 s");
  if (!std::isnan(o.min_text_end) && !(o.min_text_end >= 0.0f && std::isfinite(o.min_text_end)))
    bad("min_text_end", "min text end must be a time of 0 s or more");
  if (o.max_new_tokens < 0) bad("max_new_tokens", "max new tokens must be >= 0");
  if (o.stop_loops_after != 0 && !(o.stop_loops_after >= 3 && o.stop_loops_after <= 448))
    bad("stop_loops_after", "stop loops after must be 0 (off) or 3 to 448 tokens");
  if (!std::isnan(o.hallucination_silence_threshold) &&
      !(o.hallucination_silence_threshold > 0 && o.hallucination_silence_threshold <= 3600))
    bad("hallucination_silence_threshold",
        "hallucination silence threshold must be a positive number of seconds");
  if (!std::isnan(o.hallucination_silence_threshold) && !o.word_timestamps)
    bad("hallucination_silence_threshold",
        "the hallucination silence threshold needs word timestamps");
  if (std::isinf(o.log_prob_threshold) || std::isinf(o.no_speech_threshold) ||
      std::isnan(o.compression_ratio_threshold) || std::isnan(o.prompt_reset_on_temperature))
    bad("thresholds", "thresholds must be finite (NaN turns the log-prob and no-speech ones off)");
  for (int t : o.suppress_tokens)
    if (t < -1) bad("suppress_tokens", "suppressed token " + std::to_string(t) + " is not a token id");
  if (o.batch_size < 1 || o.batch_size > kMaxBatchSize)
    bad("batch_size", "batch size must be 1 to " + std::to_string(kMaxBatchSize));
  if (o.batch_size > 1 && !std::isnan(o.hallucination_silence_threshold))
    bad("hallucination_silence_threshold",
        "the hallucination skip moves the next window, which batched mode does not have");
  if (o.batch_size > 1 && !std::isnan(o.min_text_end))
    bad("min_text_end", "batched mode holds each chunk's text to its speech's end itself");
}

}  // namespace

std::string requested_language(const TranscribeOptions& o) {
  std::string code = o.language;  // "EN" is "en": codes are case-blind
  for (char& c : code) c = char(std::tolower(static_cast<unsigned char>(c)));
  return code == "auto" ? "" : code;
}

void check_options(const TranscribeOptions& o, const OptionLimits& limits) {
  check_values(o);
  const text::SpecialTokens& sp = limits.special;
  const std::string language = requested_language(o);
  if (!language.empty()) {
    const int index = text::language_index(language);
    if (index < 0 || index >= sp.n_languages)
      throw Error("unknown language code '" + language + "'", ErrorKind::kBadInput, "language");
    if (!sp.multilingual && language != "en")
      throw Error("this model is English-only; it cannot transcribe language '" + language + "'",
                  ErrorKind::kUnsupported, "language");
  }
  if (!sp.multilingual && o.task == Task::kTranslate)
    throw Error("this model is English-only; it cannot translate", ErrorKind::kUnsupported,
                "task");
  for (int t : o.suppress_tokens)
    if (t >= sp.n_vocab)
      throw Error("invalid option: suppressed token " + std::to_string(t) +
                      " is not in the vocabulary",
                  ErrorKind::kBadInput, "suppress_tokens");
  for (int t : o.draft_tokens)
    if (t < 0 || t >= sp.n_vocab)
      throw Error("invalid option: draft token " + std::to_string(t) + " is not in the vocabulary",
                  ErrorKind::kBadInput, "draft_tokens");
  if (o.word_timestamps && o.word_starts_at_speech && !limits.has_vad)
    throw Error("word_starts_at_speech needs Silero VAD weights: set ModelOptions::vad_model",
                ErrorKind::kUnsupported, "word_starts_at_speech");
  if (!o.vad_filter) return;
  if (!limits.has_vad)
    throw Error("vad_filter needs Silero VAD weights: set ModelOptions::vad_model",
                ErrorKind::kUnsupported, "vad_filter");
  vad::check_options(o.vad);
}

}  // namespace amanuensis
