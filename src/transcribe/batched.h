// Batched mode (TranscribeOptions::batch_size > 1): the audio is cut into
// chunks of at most 30 s, each decoded as an independent window, up to
// batch_size of them in every decoder step (decoding::run_searches):
//
//   chunks (Silero VAD's speech merged up to 30 s with vad_filter, else
//   consecutive 30 s windows) -> rounds of up to batch_size windows: the
//   windows for the rest of chunks whose text ended before their audio did,
//   then new chunks' first windows (features, encode, [detect language on a
//   recording's first]) -> decode all with temperature fallback, one
//   temperature at a time, the windows that still need it batched again ->
//   per window: skip if no speech, split segments, time words, and a window
//   for the rest of the chunk into the next round -> emit each chunk, in
//   order, once it is heard to its end, on the original timeline
//
// Where it differs from the sequential pipeline: no chunk is conditioned on
// the text before it (the initial prompt and hotwords go to every chunk, nor
// a chunk's later window on its first; the prefix starts the recording's
// first window only, as in the sequential mode), chunks start where VAD (or
// the 30 s grid) says rather than at the last segment's end, and there is no
// hallucination skip. faster-whisper's BatchedInferencePipeline makes the
// same choices (its 1.2.1 ignores the prefix). A chunk's transcript does not
// depend on the batch size or on the other chunks.
#pragma once

#include <cstdint>
#include <vector>

#include "amanuensis/types.h"
#include "transcribe/pipeline.h"

namespace amanuensis {

// A stretch of the audio decoded as one window: samples [start, end).
struct AudioChunk {
  int64_t start = 0, end = 0;
};

// Consecutive chunks of at most max_samples: speech stretches (sorted, not
// overlapping) merged while the span from the first start to the last end
// fits; a stretch longer than that is cut. Starts are moved down to a whole
// 10 ms frame (up, where that would hear the previous chunk's audio again),
// so that with a max_samples of whole frames (the 30 s window) times on the
// original timeline stay on that grid.
std::vector<AudioChunk> merge_chunks(const std::vector<AudioChunk>& speech, int64_t max_samples);

// Several recordings (one or more) whose chunks share the groups: a
// recording's transcript is the same bytes alone or with others. callbacks:
// one per recording, or none. Options and callbacks checked by the caller
// (transcribe()).
std::vector<Transcription> transcribe_batched(
    const TranscribeContext& ctx, const std::vector<const std::vector<float>*>& recordings,
    const TranscribeOptions& options, const std::vector<Callbacks>& callbacks);

}  // namespace amanuensis
