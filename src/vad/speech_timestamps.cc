#include "vad/speech_timestamps.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vad/silero_vad.h"

namespace amanuensis::vad {
namespace {

int64_t floor_half(int64_t x) { return x >= 0 ? x / 2 : -((1 - x) / 2); }  // Python's x // 2

// Python's round(x, 2): correctly rounded from x's exact binary value, as
// printf's %.2f is (x * 100 then rounding can differ by an ulp at ties).
double round_centiseconds(double x) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f", x);
  return std::strtod(text, nullptr);
}

}  // namespace

void check_options(const VadOptions& o) {
  // Each error names its field ("vad.threshold"), so that a front end can
  // name its own flag or form field.
  auto bad = [](const std::string& field, const std::string& what) {
    throw Error("invalid option: vad " + what, ErrorKind::kBadInput, "vad." + field);
  };
  if (!(o.threshold > 0.0f && o.threshold < 1.0f))
    bad("threshold", "threshold must be between 0 and 1");
  if (!(o.neg_threshold < 0.0f) && !(o.neg_threshold <= 1.0f))
    bad("neg_threshold", "neg_threshold must be between 0 and 1 (or negative: threshold - 0.15)");
  if (o.min_speech_duration_ms < 0)
    bad("min_speech_duration_ms", "min speech duration must be >= 0 ms");
  if (!(o.max_speech_duration_s > 0.0f))
    bad("max_speech_duration_s", "max speech duration must be > 0 s");
  if (o.min_silence_duration_ms < 0)
    bad("min_silence_duration_ms", "min silence duration must be >= 0 ms");
  if (o.speech_pad_ms < 0) bad("speech_pad_ms", "speech pad must be >= 0 ms");
}

int64_t speech_end(const std::vector<float>& probabilities, int64_t begin, int64_t end,
                   float threshold) {
  if (end <= begin) return begin;
  // Frame i covers samples [i * kChunk, (i + 1) * kChunk).
  const int64_t first = std::max<int64_t>(begin, 0) / kChunk;
  int64_t i = std::min<int64_t>(int64_t(probabilities.size()), (end + kChunk - 1) / kChunk);
  while (--i >= first)
    if (probabilities[size_t(i)] >= threshold) return std::clamp((i + 1) * kChunk, begin, end);
  return begin;
}

std::vector<SpeechChunk> speech_timestamps(const std::vector<float>& probabilities,
                                           int64_t n_samples, const VadOptions& o) {
  // Lengths in samples, as doubles where faster-whisper's are floats.
  const double sr = kSampleRate;
  const double min_speech = sr * o.min_speech_duration_ms / 1000;
  const double pad = sr * o.speech_pad_ms / 1000;
  const double max_speech = sr * double(o.max_speech_duration_s) - kChunk - 2 * pad;
  const double min_silence = sr * o.min_silence_duration_ms / 1000;
  const double min_silence_at_max_speech = sr * 98 / 1000;  // a pause worth splitting at
  const double threshold = o.threshold;
  const double neg_threshold =
      o.neg_threshold < 0.0f ? std::max(threshold - 0.15, 0.01) : double(o.neg_threshold);

  std::vector<SpeechChunk> speeches;
  bool triggered = false;
  int64_t start = 0;
  // 0 means unset, as in faster-whisper (none of them can be set at sample 0).
  int64_t temp_end = 0;                  // where the current silence began
  int64_t prev_end = 0, next_start = 0;  // the last pause, for splitting overlong speech
  for (size_t i = 0; i < probabilities.size(); ++i) {
    const double p = probabilities[i];
    const int64_t pos = int64_t(i) * kChunk;
    if (p >= threshold && temp_end) {  // speech resumes: the silence did not last
      temp_end = 0;
      if (next_start < prev_end) next_start = pos;
    }
    if (p >= threshold && !triggered) {
      triggered = true;
      start = pos;
      continue;
    }
    if (triggered && double(pos - start) > max_speech) {
      if (prev_end) {  // split at the last long-enough pause
        speeches.push_back({start, prev_end});
        if (next_start < prev_end)
          triggered = false;  // still in that pause
        else
          start = next_start;
        prev_end = next_start = temp_end = 0;
      } else {  // no pause: cut here
        speeches.push_back({start, pos});
        prev_end = next_start = temp_end = 0;
        triggered = false;
        continue;
      }
    }
    if (p < neg_threshold && triggered) {
      if (!temp_end) temp_end = pos;
      if (double(pos - temp_end) > min_silence_at_max_speech) prev_end = temp_end;
      if (double(pos - temp_end) < min_silence) continue;
      if (double(temp_end - start) > min_speech) speeches.push_back({start, temp_end});
      prev_end = next_start = temp_end = 0;
      triggered = false;
    }
  }
  if (triggered && double(n_samples - start) > min_speech) speeches.push_back({start, n_samples});

  // Padding: speech_pad_ms each side, or half the gap where two chunks are closer.
  const auto pad_samples = int64_t(pad);  // a whole number: 16 samples per ms
  for (size_t i = 0; i < speeches.size(); ++i) {
    SpeechChunk& s = speeches[i];
    if (i == 0) s.start = std::max<int64_t>(0, s.start - pad_samples);
    if (i + 1 < speeches.size()) {
      SpeechChunk& next = speeches[i + 1];
      const int64_t silence = next.start - s.end;
      if (double(silence) < 2 * pad) {
        s.end += floor_half(silence);
        next.start = std::max<int64_t>(0, next.start - floor_half(silence));
      } else {
        s.end = std::min(n_samples, s.end + pad_samples);
        next.start = std::max<int64_t>(0, next.start - pad_samples);
      }
    } else {
      s.end = std::min(n_samples, s.end + pad_samples);
    }
  }
  return speeches;
}

std::vector<float> collect_chunks(const std::vector<float>& samples,
                                  const std::vector<SpeechChunk>& chunks) {
  std::vector<float> out;
  for (const SpeechChunk& c : chunks) {
    if (c.start < 0 || c.end < c.start || c.end > int64_t(samples.size()))
      throw Error("speech chunk [" + std::to_string(c.start) + ", " + std::to_string(c.end) +
                  ") lies outside the audio");
    out.insert(out.end(), samples.begin() + c.start, samples.begin() + c.end);
  }
  return out;
}

TimeMap::TimeMap(const std::vector<SpeechChunk>& chunks) {
  int64_t previous_end = 0, silent = 0;
  for (const SpeechChunk& c : chunks) {
    silent += c.start - previous_end;
    previous_end = c.end;
    chunk_end_.push_back(c.end - silent);
    silence_before_.push_back(double(silent) / kSampleRate);
  }
}

size_t TimeMap::chunk_index(double t, bool is_end) const {
  const auto sample = int64_t(t * kSampleRate);  // truncated, as Python's int()
  if (is_end) {
    auto it = std::find(chunk_end_.begin(), chunk_end_.end(), sample);
    if (it != chunk_end_.end()) return size_t(it - chunk_end_.begin());
  }
  const size_t after =
      size_t(std::upper_bound(chunk_end_.begin(), chunk_end_.end(), sample) - chunk_end_.begin());
  return std::min(after, chunk_end_.size() - 1);
}

double TimeMap::original_time(double t, size_t chunk) const {
  return round_centiseconds(silence_before_[chunk] + t);
}

void TimeMap::restore(Segment& s) const {
  if (chunk_end_.empty()) return;
  if (s.words.empty()) {
    s.start = original_time(s.start, chunk_index(s.start));
    s.end = original_time(s.end, chunk_index(s.end, /*is_end=*/true));
    return;
  }
  for (Word& w : s.words) {
    const size_t chunk = chunk_index((w.start + w.end) / 2);  // start and end in one chunk
    w.start = original_time(w.start, chunk);
    w.end = original_time(w.end, chunk);
  }
  s.start = s.words.front().start;
  s.end = s.words.back().end;
}

void start_words_at_speech(Segment& s, const std::vector<float>& probabilities) {
  const double frame = double(kChunk) / kSampleRate;  // seconds per probability
  const int min_frames = int(std::ceil(kWordSilenceMs / 1000.0 / frame));
  const int64_t n = int64_t(probabilities.size());
  for (Word& w : s.words) {
    // Frames from the one holding the start to the one holding the end.
    const int64_t f1 = std::min(n - 1, int64_t(std::floor(w.end / frame)));
    int silent = 0;
    for (int64_t f = std::max<int64_t>(0, int64_t(std::floor(w.start / frame))); f <= f1; ++f) {
      if (probabilities[f] < kWordSilenceThreshold) {
        ++silent;
        continue;
      }
      const double resumed = std::round(double(f) * frame * 100.0) / 100.0;
      if (silent >= min_frames && resumed > w.start && resumed < w.end) w.start = resumed;
      silent = 0;
    }
  }
  if (!s.words.empty()) s.start = s.words.front().start;
}

}  // namespace amanuensis::vad
