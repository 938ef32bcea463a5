// libsndfile's way in: WAV, FLAC, MP3, Ogg/Vorbis, Opus and its other formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amanuensis::audio {

// The audio of an open file descriptor (taken and closed), or of bytes in
// memory, as 16 kHz mono; nullopt with libsndfile's reason in `why_not` when
// it cannot open them (FFmpeg may). Throws AudioError for audio it opens but
// finds bad: truncated, too long, not finite.
std::optional<std::vector<float>> sndfile_decode_fd(int fd, const std::string& what,
                                                    double max_seconds, std::string& why_not);
std::optional<std::vector<float>> sndfile_decode_memory(const uint8_t* bytes, size_t size,
                                                        const std::string& what,
                                                        double max_seconds, std::string& why_not);

}  // namespace amanuensis::audio
