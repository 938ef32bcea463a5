#include "transcribe/vad_stage.h"

#include "vad/speech_timestamps.h"

namespace amanuensis {

bool uses_vad(const TranscribeOptions& o) {
  return o.vad_filter || (o.word_timestamps && o.word_starts_at_speech);
}

Transcription transcribe_with_vad(const vad::SileroVad& vad, ThreadPool& pool,
                                  const std::vector<float>& samples, const TranscribeOptions& o,
                                  const Callbacks& callbacks, const TranscribeAudio& transcribe) {
  const bool starts_at_speech = o.word_timestamps && o.word_starts_at_speech;
  // One pass of Silero VAD over the original audio serves both uses.
  const std::vector<float> probabilities = vad.probabilities(samples, pool);
  std::vector<vad::SpeechChunk> speech;
  if (o.vad_filter) speech = vad::speech_timestamps(probabilities, int64_t(samples.size()), o.vad);
  const std::vector<float> joined =
      o.vad_filter ? vad::collect_chunks(samples, speech) : std::vector<float>{};
  const vad::TimeMap map(speech);  // no chunks: times unchanged
  auto finish = [&](Segment& s) {
    map.restore(s);
    if (starts_at_speech) vad::start_words_at_speech(s, probabilities);
  };
  Callbacks inner = callbacks;
  const std::vector<float>& heard = o.vad_filter ? joined : samples;
  if (callbacks.on_info)
    inner.on_info = [&](const TranscriptionInfo& info) {
      TranscriptionInfo restored = info;
      restored.duration = double(samples.size()) / kSampleRate;
      restored.duration_after_vad = double(heard.size()) / kSampleRate;
      callbacks.on_info(restored);
    };
  if (callbacks.on_segment)
    inner.on_segment = [&](const Segment& s) {
      Segment finished = s;
      finish(finished);
      callbacks.on_segment(finished);
    };
  Transcription t = transcribe(heard, inner);
  for (Segment& s : t.segments) finish(s);
  t.info.duration = double(samples.size()) / kSampleRate;
  t.info.duration_after_vad = double(heard.size()) / kSampleRate;
  return t;
}

}  // namespace amanuensis
