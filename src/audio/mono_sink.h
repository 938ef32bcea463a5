// Where both decoders (libsndfile, FFmpeg) meet: interleaved float frames at
// the input's rate in, 16 kHz mono out, with the input's limits checked as
// the samples arrive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "audio/decode.h"

namespace amanuensis::audio {

// Throws AudioError "what: why".
[[noreturn]] void fail(const std::string& what, const std::string& why);
[[noreturn]] void too_long(const std::string& what, double seconds, double max_seconds);

class Resampler;

// Refuses a bad rate or channel count, non-finite samples and more than
// `max_seconds`; averages the channels (their sum in double, divided by their
// count) and resamples unless the rate is already 16 kHz.
class MonoSink {
 public:
  MonoSink(int rate, int channels, const std::string& what, double max_seconds);
  ~MonoSink();
  MonoSink(const MonoSink&) = delete;
  MonoSink& operator=(const MonoSink&) = delete;

  int rate() const { return rate_; }
  int channels() const { return channels_; }
  int64_t frames() const { return frames_; }
  double max_frames() const { return max_frames_; }
  [[noreturn]] void fail_too_long(double frames) const;

  // n frames of `channels` interleaved samples.
  void push(const float* interleaved, size_t n);
  // The 16 kHz mono samples; throws if there were none.
  std::vector<float> finish();
  // Live input: the 16 kHz samples made since the last take() (the
  // resampler holds back the last few input samples until more arrive).
  std::vector<float> take();

 private:
  int rate_, channels_;
  std::string what_;
  double max_seconds_, max_frames_ = 0;
  int64_t frames_ = 0;
  std::unique_ptr<Resampler> resampler_;
  std::vector<float> mono_ = std::vector<float>(16384), out_;
};

}  // namespace amanuensis::audio
