// libFuzzer target for audio decoding from memory (libsndfile, else FFmpeg
// through an in-memory AVIOContext; channel average, soxr): any bytes must give
// 16 kHz samples or an AudioError. Seeds in fuzz/corpus/audio cover both paths
// (WAV, FLAC, MP3; m4a, ADTS AAC, WebM/Opus, MP4 with video).
#include <cstddef>
#include <cstdint>

#include "audio/decode.h"

// A few bytes of FLAC, Vorbis or AAC can promise hours of audio; 60 s keeps each run short.
constexpr double kMaxSeconds = 60;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    amanuensis::audio::decode_audio_16k_mono(data, size, "fuzz", kMaxSeconds);
  } catch (const amanuensis::audio::AudioError&) {
  }
  return 0;
}
