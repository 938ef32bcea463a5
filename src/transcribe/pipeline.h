// A whole transcription, as a pipeline of named stages (each in its own file
// of this folder):
//
//   check options (options.h) -> [VAD: speech only, vad_stage.h]
//   -> features (audio/mel.h) -> detect language (language.h)
//   -> rules and prompt text (prompt.h)
//   -> per 30 s window: skip silence, encode, window prompt (prompt.h),
//      decode with temperature fallback (fallback.h), skip if no speech,
//      split segments (segments.h), time words and skip hallucinations
//      (word_timing.h), emit (emit.h)
//   -> [VAD: times back on the original timeline]
//
// The long-form loop is openai-whisper's transcribe() and faster-whisper's
// generate_segments(): each window starts where the last complete segment
// of the one before ended.
#pragma once

#include <utility>
#include <vector>

#include "amanuensis/types.h"
#include "decoding/step_batcher.h"
#include "model/decoder.h"
#include "model/encoder.h"
#include "text/tokenizer.h"
#include "util/thread_pool.h"
#include "vad/silero_vad.h"

namespace amanuensis {

// What a transcription runs on: the shared model parts and one session's
// pool and decoder state; with a batcher, its decoder steps run together
// with other sessions' (the pool is then theirs too).
struct TranscribeContext {
  const Encoder& encoder;
  const Decoder& decoder;
  const text::Tokenizer& tokenizer;
  const std::vector<std::pair<int, int>>& alignment_heads;  // (layer, head), for word timings
  const vad::SileroVad* vad;                                 // null: none loaded
  ThreadPool& pool;
  DecoderState& state;
  decoding::StepBatcher* batcher = nullptr;
};

// Checks the options (check_options), then transcribes 16 kHz mono samples.
// Throws Error.
Transcription transcribe(const TranscribeContext& ctx, const std::vector<float>& samples,
                         const TranscribeOptions& options, const Callbacks& callbacks);

// Several recordings: with batch_size > 1 their chunks share the decoder's
// batches (each result the bytes it gets alone; `seconds` is the whole
// batch's); else one after another. callbacks: one per recording, or none.
std::vector<Transcription> transcribe(const TranscribeContext& ctx,
                                      const std::vector<std::vector<float>>& recordings,
                                      const TranscribeOptions& options,
                                      const std::vector<Callbacks>& callbacks);

}  // namespace amanuensis
