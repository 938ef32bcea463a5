#include "audio/sndfile_input.h"

#include <sndfile.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "audio/mono_sink.h"

namespace amanuensis::audio {
namespace {

// libsndfile's own words, without their closing full stop.
std::string sndfile_error(SNDFILE* f) {
  std::string s = sf_strerror(f);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using Sndfile = std::unique_ptr<SNDFILE, SndfileCloser>;

// Bytes in memory behind libsndfile's virtual I/O.
struct MemoryFile {
  const uint8_t* bytes;
  sf_count_t size, pos = 0;
};

sf_count_t mem_length(void* user) { return static_cast<MemoryFile*>(user)->size; }
sf_count_t mem_tell(void* user) { return static_cast<MemoryFile*>(user)->pos; }
sf_count_t mem_seek(sf_count_t offset, int whence, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
  if (offset < -base || offset > m->size - base) return -1;
  return m->pos = base + offset;
}
sf_count_t mem_read(void* ptr, sf_count_t count, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  const sf_count_t n = std::min(count, m->size - m->pos);
  if (n <= 0) return 0;
  std::memcpy(ptr, m->bytes + m->pos, size_t(n));
  m->pos += n;
  return n;
}
sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }

// libsndfile reads a WAV whose data chunk runs past the end of the file up to
// the end, and says so only in its log: "data : 32000 (should be 15978)".
// 0xFFFFFFFF is the "length unknown" that streaming writers leave: not a cut.
void check_wav_complete(SNDFILE* f, const std::string& what) {
  char log[8192] = {};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof log);
  long long claimed = 0, present = 0;
  for (const char* line = log; line; line = std::strchr(line, '\n')) {
    if (*line == '\n') ++line;
    if (std::sscanf(line, "data : %lld (should be %lld)", &claimed, &present) == 2 &&
        claimed != 0xFFFFFFFFLL)
      fail(what, "truncated: the data chunk promises " + std::to_string(claimed) +
                     " bytes, the file holds " + std::to_string(present));
  }
}

std::vector<float> decode_sndfile(SNDFILE* f, const SF_INFO& info, const std::string& what,
                                  double max_seconds) {
  MonoSink sink(info.samplerate, info.channels, what, max_seconds);
  if (info.frames > sink.max_frames() && info.frames != SF_COUNT_MAX)
    sink.fail_too_long(double(info.frames));
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV) check_wav_complete(f, what);

  const int channels = info.channels;
  const sf_count_t chunk = std::max(1, 65536 / channels);
  std::vector<float> interleaved(size_t(chunk) * size_t(channels));
  sf_count_t got;
  while ((got = sf_readf_float(f, interleaved.data(), chunk)) > 0)
    sink.push(interleaved.data(), size_t(got));
  if (sf_error(f) != SF_ERR_NO_ERROR)
    fail(what, "decoding failed after " + std::to_string(sink.frames()) + " frames (" +
                   sndfile_error(f) + ")");
  // MP3 lengths without a Xing/LAME header are estimates: only trust the others.
  const bool length_known =
      info.frames != SF_COUNT_MAX && (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG;
  if (length_known && sink.frames() < info.frames)
    fail(what, "truncated: decoded " + std::to_string(sink.frames()) + " of " +
                   std::to_string(info.frames) + " frames");
  return sink.finish();
}

// A WAV whose data chunk says 0 bytes holds no audio for any reader that
// trusts its header, libsndfile included; a recorder that stops before it
// patches the sizes in leaves such a file (FFmpeg reads on to the end).
void check_wav_declares_samples(const SF_INFO& info, const std::string& what) {
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV && info.frames == 0)
    fail(what,
         "contains no audio samples: its data chunk declares 0 bytes (a recording whose header "
         "was never finished? `ffmpeg -i FILE fixed.wav` reads what follows)");
}

}  // namespace

std::optional<std::vector<float>> sndfile_decode_fd(int fd, const std::string& what,
                                                    double max_seconds, std::string& why_not) {
  SF_INFO info{};
  Sndfile f(sf_open_fd(fd, SFM_READ, &info, /*close_desc=*/SF_TRUE));
  if (!f) {
    why_not = sndfile_error(nullptr);
    return std::nullopt;
  }
  check_wav_declares_samples(info, what);
  return decode_sndfile(f.get(), info, what, max_seconds);
}

std::optional<std::vector<float>> sndfile_decode_memory(const uint8_t* bytes, size_t size,
                                                        const std::string& what,
                                                        double max_seconds, std::string& why_not) {
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  MemoryFile mem{bytes, sf_count_t(size)};
  SF_INFO info{};
  Sndfile f(sf_open_virtual(&io, SFM_READ, &info, &mem));
  if (!f) {
    why_not = sndfile_error(nullptr);
    return std::nullopt;
  }
  check_wav_declares_samples(info, what);
  return decode_sndfile(f.get(), info, what, max_seconds);
}

}  // namespace amanuensis::audio
