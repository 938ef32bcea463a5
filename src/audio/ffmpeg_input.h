// FFmpeg's way in, for everything libsndfile cannot open: m4a/AAC, WebM,
// the audio of MP4/MKV/MOV video. The libraries are opened on first use
// (audio/libav.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace amanuensis::audio {

// The bytes FFmpeg reads: a buffer in memory or an open file descriptor.
struct ByteSource {
  const uint8_t* bytes = nullptr;  // memory when set
  int64_t size = 0, pos = 0;
  int fd = -1;  // else this file
};

// The first audio stream of whatever FFmpeg demuxes, as 16 kHz mono. Strict:
// a demuxer or decoder error, a packet flagged corrupt, or (where the
// container declares the stream's length) a stream that ends well short of
// that length is refused rather than returned as partial audio. `sndfile_why`
// is why libsndfile could not open the bytes first. Throws AudioError.
std::vector<float> ffmpeg_decode(ByteSource& src, const std::string& what, double max_seconds,
                                 const std::string& sndfile_why);

}  // namespace amanuensis::audio
