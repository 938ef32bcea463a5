// Stage: decode a window with temperature fallback (openai-whisper's and
// faster-whisper's rule): decode again, hotter, while the text repeats itself
// or the model is unsure, unless the model says there is no speech.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "amanuensis/types.h"
#include "decoding/search.h"
#include "transcribe/prompt.h"

namespace amanuensis {

struct Attempt {
  decoding::SearchResult result;
  double compression_ratio = 0;
  float temperature = 0;
};

// The search of attempt `attempt` (at `temperature`) on the window at frame
// `seek` with `prompt`: the options' search settings, the forced tokens, the
// draft (the first window's), the length limit, and a seed fixed by the
// options' seed, the window and the attempt. The limit is CTranslate2's (so faster-whisper's and,
// for short prompts, openai-whisper's): at most half the text context n_ctx, and no more than fits
// after the prompt; max_new_tokens, where set, limits the tokens after the forced ones. Throws
// Error if the prompt leaves no room.
decoding::SearchOptions attempt_options(const TranscribeOptions& options,
                                        const WindowPrompt& prompt, int n_ctx, int64_t seek,
                                        float temperature, int attempt);
// Decoder rows a window's search needs: beams or samples.
inline int search_rows(const TranscribeOptions& o) { return std::max(o.beam_size, o.best_of); }

// Whether `a` is not good enough to keep and a hotter temperature may help.
bool needs_fallback(const Attempt& a, const TranscribeOptions& options);

// A window whose loudest sample is below kSilentPeak (-70 dBFS) holds no
// sound to transcribe, and is not decoded at all, in every mode. Whisper,
// given digital silence, still says " you" with P(no speech) 0.94 and an
// average log-probability above -1 (faster-whisper prints it too).
inline constexpr float kSilentPeak = 3.16e-4f;
bool is_silent(const float* samples, size_t n);

// The model is sure there is no speech, and not sure of its text: the
// window is skipped.
bool no_speech(const decoding::SearchResult& r, const TranscribeOptions& options);

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
