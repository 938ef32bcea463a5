// Speech intervals from Silero VAD probabilities, and what faster-whisper's
// transcribe(vad_filter=True) does with them: transcribe only the speech,
// joined into one buffer, then map times back to the original timeline.
#pragma once

#include <cstdint>
#include <vector>

#include "amanuensis/types.h"

namespace amanuensis::vad {

struct SpeechChunk {
  int64_t start = 0, end = 0;  // samples, end exclusive
  bool operator==(const SpeechChunk&) const = default;
};

// Throws Error for impossible VadOptions. speech_timestamps() expects options
// that passed it.
void check_options(const VadOptions& o);

// faster-whisper 1.2.1's get_speech_timestamps over one probability per 512
// samples of audio `n_samples` long: hysteresis between threshold and
// neg_threshold, silences shorter than min_silence_duration_ms bridged,
// chunks over max_speech_duration_s split, short ones dropped, then padded.
std::vector<SpeechChunk> speech_timestamps(const std::vector<float>& probabilities,
                                           int64_t n_samples, const VadOptions& o);

// Where the speech in samples [begin, end) ends: the end of the last
// 512-sample frame there whose probability reaches `threshold` (capped at
// end); begin when there is none.
int64_t speech_end(const std::vector<float>& probabilities, int64_t begin, int64_t end,
                   float threshold);

// The chunks' samples, joined in order.
std::vector<float> collect_chunks(const std::vector<float>& samples,
                                  const std::vector<SpeechChunk>& chunks);

// Times in the joined audio -> times in the original (faster-whisper's
// SpeechTimestampsMap and restore_speech_timestamps): a time belongs to the
// chunk it falls in, and gains the silence removed before that chunk.
class TimeMap {
 public:
  explicit TimeMap(const std::vector<SpeechChunk>& chunks);
  // The chunk holding joined time t (s); an end time exactly at a chunk's end stays in it.
  size_t chunk_index(double t, bool is_end = false) const;
  // t plus the silence before `chunk`, rounded to 10 ms as faster-whisper rounds it.
  double original_time(double t, size_t chunk) const;
  // A segment's start and end, and its words' (each word mapped with the chunk
  // of its midpoint; the segment then spans its words). No chunks: unchanged.
  void restore(Segment& s) const;

 private:
  std::vector<int64_t> chunk_end_;      // chunk ends in the joined audio, samples
  std::vector<double> silence_before_;  // seconds removed before each chunk
};

// Word starts at the speech: a word whose span holds a silence of at least
// kWordSilenceMs (probability below kWordSilenceThreshold, Silero's default
// neg_threshold) followed by speech starts where that speech resumes, rounded
// to 10 ms. Cross-attention alignment hands the pause before a word to the
// word (docs/word_timestamps.md); the acoustic evidence puts the start back.
// Ends are left as they are. The segment starts with its first word.
inline constexpr float kWordSilenceThreshold = 0.35f;
inline constexpr int kWordSilenceMs = 100;
void start_words_at_speech(Segment& s, const std::vector<float>& probabilities);

}  // namespace amanuensis::vad
