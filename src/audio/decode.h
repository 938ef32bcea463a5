// Audio files in, 16 kHz mono float samples out: what Whisper's front end takes.
// libsndfile decodes what it can open (WAV, FLAC, MP3, Ogg/Vorbis, Opus and its
// other formats, at any rate and channel count); anything else goes to FFmpeg
// (m4a/AAC, WebM, MP4/MKV/MOV video files' first audio stream, ...). Either way
// the interleaved float frames meet in one place: channels are averaged, libsoxr
// resamples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "util/whisper_geometry.h"

namespace amanuensis::audio {

using ::amanuensis::kSampleRate;
constexpr double kMaxSeconds = 4 * 3600;  // longer is refused: no one transcribes that in one go
constexpr int kMinInputRate = 1000, kMaxInputRate = 768000;
constexpr int kMaxChannels = 1024;  // libsndfile's own limit

struct AudioError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The audio is longer than the caller's limit (a resource limit, not bad input).
struct AudioTooLong : AudioError {
  using AudioError::AudioError;
};

// Throws AudioError naming the file for anything but a complete, readable audio
// stream of at least one sample, at most `max_seconds` long, all samples finite.
std::vector<float> load_audio_16k_mono(const std::string& path, double max_seconds = kMaxSeconds);
// The same from bytes in memory (the fuzzer's way in); `what` names them in errors.
std::vector<float> decode_audio_16k_mono(const uint8_t* bytes, size_t size, const std::string& what,
                                         double max_seconds = kMaxSeconds);

}  // namespace amanuensis::audio
