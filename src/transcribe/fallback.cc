#include "transcribe/fallback.h"

#include <zlib.h>

#include <cmath>

#include "decoding/loops.h"

namespace amanuensis {

double compression_ratio(const std::string& text) {
  if (text.empty()) return 0.0;
  uLongf size = compressBound(uLong(text.size()));
  std::vector<Bytef> out(size);
  if (compress(out.data(), &size, reinterpret_cast<const Bytef*>(text.data()),
               uLong(text.size())) != Z_OK)
    throw Error("zlib could not compress a transcript", ErrorKind::kInternal);
  return double(text.size()) / double(size);
}

namespace {

// Text that compresses too well, or a search that stopped in a loop
// (stop_loops_after: only a loop ends a result in one, since the search stops
// as soon as the loop is long enough).
bool repeats_itself(const Attempt& a, const TranscribeOptions& o) {
  return (o.compression_ratio_threshold > 0 &&
          a.compression_ratio > o.compression_ratio_threshold) ||
         decoding::ends_in_loop(a.result.tokens, o.stop_loops_after);
}

bool unsure(const Attempt& a, const TranscribeOptions& o) {
  return !std::isnan(o.log_prob_threshold) && a.result.avg_logprob < o.log_prob_threshold;
}

}  // namespace

decoding::SearchOptions attempt_options(const TranscribeOptions& o, const WindowPrompt& prompt,
                                        int n_ctx, int64_t seek, float temperature, int attempt) {
  decoding::SearchOptions so;
  so.beam_size = o.beam_size;
  so.patience = o.patience;
  so.length_penalty = o.length_penalty;
  so.best_of = o.best_of;
  so.forced = prompt.forced;
  if (seek == 0) so.draft = o.draft_tokens;
  // The last token is never fed back: the prompt's and all but one of the
  // result's fit the context.
  const int prompt_tokens = int(prompt.tokens.size()), forced = int(prompt.forced.size());
  so.max_tokens = std::min(n_ctx / 2, n_ctx - prompt_tokens + 1);
  if (o.max_new_tokens > 0) so.max_tokens = std::min(so.max_tokens, forced + o.max_new_tokens);
  if (so.max_tokens <= forced)
    throw Error("the prompt (" + std::to_string(prompt_tokens + forced) +
                    " tokens) leaves no room to decode in the text context of " +
                    std::to_string(n_ctx),
                ErrorKind::kBadInput, "initial_prompt");
  so.loop_tokens = o.stop_loops_after;
  so.temperature = temperature;
  so.seed = o.seed ^ (uint64_t(seek) * 0x9E3779B97F4A7C15ULL) ^ uint64_t(attempt);
  return so;
}

bool needs_fallback(const Attempt& a, const TranscribeOptions& o) {
  const bool silence = !std::isnan(o.no_speech_threshold) &&
                       a.result.no_speech_prob > o.no_speech_threshold && unsure(a, o);
  if (silence) return false;  // no temperature will help
  return repeats_itself(a, o) || unsure(a, o);
}

bool is_silent(const float* samples, size_t n) {
  return std::all_of(samples, samples + n, [](float x) { return std::fabs(x) < kSilentPeak; });
}

bool no_speech(const decoding::SearchResult& r, const TranscribeOptions& o) {
  return !std::isnan(o.no_speech_threshold) && r.no_speech_prob > o.no_speech_threshold &&
         !(!std::isnan(o.log_prob_threshold) && r.avg_logprob > o.log_prob_threshold);
}

Attempt best_of_failed(const std::vector<Attempt>& attempts, const TranscribeOptions& o) {
  const Attempt* best = nullptr;
  for (const Attempt& a : attempts)
    if (!repeats_itself(a, o) && (!best || a.result.avg_logprob > best->result.avg_logprob))
      best = &a;
  if (!best)
    for (const Attempt& a : attempts)
      if (!best || a.result.avg_logprob > best->result.avg_logprob) best = &a;
  Attempt chosen = *best;
  chosen.temperature = o.temperatures.back();
  return chosen;
}

Attempt decode_with_fallback(
    const TranscribeOptions& o,
    const std::function<decoding::SearchResult(float temperature, int attempt)>& decode,
    const std::function<std::string(const std::vector<int>&)>& text) {
  std::vector<Attempt> attempts;
  for (float temperature : o.temperatures) {
    Attempt a;
    a.result = decode(temperature, int(attempts.size()));
    a.temperature = temperature;
    a.compression_ratio = compression_ratio(text(a.result.tokens));
    if (!needs_fallback(a, o)) return a;
    attempts.push_back(std::move(a));
  }
  return best_of_failed(attempts, o);
}

}  // namespace amanuensis
