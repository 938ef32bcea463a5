#include "audio/mono_sink.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <iterator>

namespace amanuensis::audio {

[[noreturn]] void fail(const std::string& what, const std::string& why) {
  throw AudioError(what + ": " + why);
}

[[noreturn]] void too_long(const std::string& what, double seconds, double max_seconds) {
  throw AudioTooLong(what + ": is " + std::to_string(int64_t(seconds)) + " s long; the limit is " +
                     std::to_string(int64_t(max_seconds)) + " s");
}

// One channel of float32 through libsoxr at SOXR_HQ: 20-bit precision
// (about 120 dB stopband rejection), linear phase, passband flat to 91.3 % of
// the lower Nyquist frequency (7.3 kHz of 8 kHz when going down to 16 kHz).
// Streaming, so memory follows the output, not the input.
class Resampler {
 public:
  Resampler(double in_rate, const std::string& what) {
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    soxr_error_t err = nullptr;
    soxr_ = soxr_create(in_rate, kSampleRate, 1, &err, &io, &quality, nullptr);
    if (!soxr_) fail(what, std::string("cannot create the resampler: ") + soxr_strerror(err));
  }
  ~Resampler() { soxr_delete(soxr_); }
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  // Appends what `n` more input samples yield to `out`; in == nullptr flushes.
  void push(const float* in, size_t n, std::vector<float>& out) {
    float buf[4096];
    for (;;) {
      size_t used = 0, made = 0;
      soxr_process(soxr_, in, n, in ? &used : nullptr, buf, std::size(buf), &made);
      out.insert(out.end(), buf, buf + made);
      if (in) {
        in += used;
        n -= used;
        if (n == 0 && made < std::size(buf)) return;
      } else if (made == 0) {
        return;
      }
    }
  }

 private:
  soxr_t soxr_ = nullptr;
};

MonoSink::MonoSink(int rate, int channels, const std::string& what, double max_seconds)
    : rate_(rate), channels_(channels), what_(what), max_seconds_(max_seconds) {
  if (channels < 1) fail(what, "has no channels");
  if (channels > kMaxChannels)
    fail(what, "has " + std::to_string(channels) + " channels; the limit is " +
                   std::to_string(kMaxChannels));
  if (rate < kMinInputRate || rate > kMaxInputRate)
    fail(what, "sample rate " + std::to_string(rate) + " Hz is outside " +
                   std::to_string(kMinInputRate) + ".." + std::to_string(kMaxInputRate) + " Hz");
  max_frames_ = max_seconds * rate;
  if (rate != kSampleRate) resampler_ = std::make_unique<Resampler>(rate, what);
}

MonoSink::~MonoSink() = default;

void MonoSink::fail_too_long(double frames) const { too_long(what_, frames / rate_, max_seconds_); }

void MonoSink::push(const float* interleaved, size_t n) {
  while (n > 0) {
    const size_t got = std::min(n, mono_.size());
    for (size_t i = 0; i < got; ++i) {
      double sum = 0;
      for (int c = 0; c < channels_; ++c) {
        const float x = interleaved[i * size_t(channels_) + size_t(c)];
        if (!std::isfinite(x))
          fail(what_, "sample " + std::to_string(frames_ + int64_t(i)) + " of channel " +
                          std::to_string(c) + " is NaN or infinite");
        sum += x;
      }
      mono_[i] = float(sum / channels_);
    }
    frames_ += int64_t(got);
    if (double(frames_) > max_frames_) fail_too_long(double(frames_));
    if (resampler_)
      resampler_->push(mono_.data(), got, out_);
    else
      out_.insert(out_.end(), mono_.begin(), mono_.begin() + std::ptrdiff_t(got));
    interleaved += got * size_t(channels_);
    n -= got;
  }
}

std::vector<float> MonoSink::finish() {
  if (frames_ == 0) fail(what_, "contains no audio samples");
  if (resampler_) resampler_->push(nullptr, 0, out_);
  return take();
}

std::vector<float> MonoSink::take() {
  for (float x : out_)
    if (!std::isfinite(x)) fail(what_, "samples too large to resample (the result is not finite)");
  std::vector<float> out = std::move(out_);
  out_.clear();
  return out;
}

}  // namespace amanuensis::audio
