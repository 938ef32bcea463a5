// Audio files in, 16 kHz mono out: libsndfile first (audio/sndfile_input.h),
// FFmpeg for what it cannot open (audio/ffmpeg_input.h); both hand their
// frames to one MonoSink (audio/mono_sink.h) that mixes down and resamples.
#include "audio/decode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "audio/ffmpeg_input.h"
#include "audio/mono_sink.h"
#include "audio/sndfile_input.h"

namespace amanuensis::audio {

namespace {

// A descriptor closed when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::vector<float> load_audio_16k_mono(const std::string& path, double max_seconds) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) fail(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  struct stat st {};
  const bool regular = ::fstat(fd.fd, &st) == 0 && S_ISREG(st.st_mode);
  if (S_ISDIR(st.st_mode)) fail(path, "is a folder, not an audio file");
  if (regular && st.st_size == 0) fail(path, "is an empty file");
  // libsndfile closes the descriptor it fails to open whatever close_desc says:
  // it gets a duplicate (same file offset), FFmpeg may need the original.
  const int dup = ::fcntl(fd.fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) fail(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  std::string sndfile_why;
  if (auto samples = sndfile_decode_fd(dup, path, max_seconds, sndfile_why))  // closes dup
    return std::move(*samples);
  if (!regular || ::lseek(fd.fd, 0, SEEK_SET) != 0)  // a pipe: libsndfile has read from it
    fail(path, "not a readable audio file (" + sndfile_why + ")");
  ByteSource src;
  src.fd = fd.fd;
  src.size = int64_t(st.st_size);
  return ffmpeg_decode(src, path, max_seconds, sndfile_why);
}

std::vector<float> decode_audio_16k_mono(const uint8_t* bytes, size_t size, const std::string& what,
                                         double max_seconds) {
  if (size == 0) fail(what, "is an empty file");
  std::string sndfile_why;
  if (auto samples = sndfile_decode_memory(bytes, size, what, max_seconds, sndfile_why))
    return std::move(*samples);
  ByteSource src;
  src.bytes = bytes;
  src.size = int64_t(size);
  return ffmpeg_decode(src, what, max_seconds, sndfile_why);
}

}  // namespace amanuensis::audio
