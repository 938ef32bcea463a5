// Long-form transcription, as openai-whisper's transcribe() and faster-whisper's
// generate_segments() do it: 30 s windows over the log-mel features, each
// decoded with temperature fallback, cut into segments at its timestamp
// tokens, the next window starting where the last complete segment ended.
#pragma once

#include <vector>

#include "amanuensis/amanuensis.h"
#include "model/decoder.h"
#include "model/encoder.h"
#include "text/tokenizer.h"
#include "util/thread_pool.h"

namespace amanuensis {

// What a transcription runs on: the shared model parts and one session's
// pool and decoder state.
struct TranscribeContext {
  const Encoder& encoder;
  const Decoder& decoder;
  const text::Tokenizer& tokenizer;
  ThreadPool& pool;
  DecoderState& state;
  const std::vector<std::pair<int, int>>& alignment_heads;  // (layer, head), for word timings
};

// Throws Error for options this model cannot honour: unknown language, a
// translation asked of an English-only model, impossible values.
void check_options(const text::SpecialTokens& special, const TranscribeOptions& options);

// Throws Error for options that cannot be honoured (unknown language, a
// translation asked of an English-only model, impossible values).
Transcription transcribe_samples(const TranscribeContext& ctx, const std::vector<float>& samples,
                                 const TranscribeOptions& options, const Callbacks& callbacks);

// len(text) / len(zlib(text)): how repetitive a transcript is.
double compression_ratio(const std::string& text);

}  // namespace amanuensis
