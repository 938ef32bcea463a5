// Stage: decode a window with temperature fallback (openai-whisper's and
// faster-whisper's rule): decode again, hotter, while the text repeats itself
// or the model is unsure, unless the model says there is no speech.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "amanuensis/types.h"
#include "decoding/search.h"

namespace amanuensis {

struct Attempt {
  decoding::SearchResult result;
  double compression_ratio = 0;
  float temperature = 0;
};

// Whether `a` is not good enough to keep and a hotter temperature may help.
bool needs_fallback(const Attempt& a, const TranscribeOptions& options);

// When every temperature failed: the likeliest attempt that did not repeat
// itself (else the likeliest of all), reported at the last temperature.
Attempt best_of_failed(const std::vector<Attempt>& attempts, const TranscribeOptions& options);

// Runs `decode(temperature, attempt_index)` up the options' temperature ladder
// until an attempt needs no fallback. `text` turns tokens into the text whose
// compression ratio is judged.
Attempt decode_with_fallback(
    const TranscribeOptions& options,
    const std::function<decoding::SearchResult(float temperature, int attempt)>& decode,
    const std::function<std::string(const std::vector<int>&)>& text);

// len(text) / len(zlib(text)): how repetitive a transcript is.
double compression_ratio(const std::string& text);

}  // namespace amanuensis
