// The one check of TranscribeOptions. Model::check and Session::transcribe
// call it; the CLI, the server and the bindings reach it through
// Model::check, so a value is judged the same way whoever passes it.
#pragma once

#include "amanuensis/types.h"
#include "text/tokenizer.h"

namespace amanuensis {

inline constexpr int kMaxBatchSize = 64;  // chunks decoded together (TranscribeOptions::batch_size)

// What the options are checked against: the model's vocabulary and whether
// Silero VAD weights were loaded with it.
struct OptionLimits {
  const text::SpecialTokens& special;
  bool has_vad = false;
};

// Throws Error (kBadInput or kUnsupported) naming the field at fault.
void check_options(const TranscribeOptions& options, const OptionLimits& limits);

// The language to decode in, lower case: "" (detect) for "auto" or "".
std::string requested_language(const TranscribeOptions& options);

}  // namespace amanuensis
