// Stage: Silero VAD around a transcription. With vad_filter, only the speech
// is transcribed (joined, as faster-whisper does) and every time is put back
// on the original timeline; with word starts at speech, words that begin
// with a pause start where the speech does.
#pragma once

#include <functional>
#include <vector>

#include "amanuensis/types.h"
#include "util/thread_pool.h"
#include "vad/silero_vad.h"

namespace amanuensis {

// Whether `options` need the VAD at all.
bool uses_vad(const TranscribeOptions& options);

// Runs `transcribe` over the audio the options ask for (the speech alone, or
// all of it), with segments finished on the original timeline, both those
// handed to callbacks.on_segment and those returned.
using TranscribeAudio =
    std::function<Transcription(const std::vector<float>& samples, const Callbacks& callbacks)>;
Transcription transcribe_with_vad(const vad::SileroVad& vad, ThreadPool& pool,
                                  const std::vector<float>& samples,
                                  const TranscribeOptions& options, const Callbacks& callbacks,
                                  const TranscribeAudio& transcribe);

}  // namespace amanuensis
