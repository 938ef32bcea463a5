#include "audio/decode.h"

#include <fcntl.h>
#include <sndfile.h>
#include <soxr.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>

namespace amanuensis::audio {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& why) {
  throw AudioError(what + ": " + why);
}

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

std::vector<float> decode(SNDFILE* f, const SF_INFO& info, const std::string& what,
                          double max_seconds) {
  if (info.channels < 1) fail(what, "has no channels");
  if (info.samplerate < kMinInputRate || info.samplerate > kMaxInputRate)
    fail(what, "sample rate " + std::to_string(info.samplerate) + " Hz is outside " +
                   std::to_string(kMinInputRate) + ".." + std::to_string(kMaxInputRate) + " Hz");
  const double max_frames = max_seconds * info.samplerate;
  auto too_long = [&](double frames) {
    fail(what, "is " + std::to_string(int64_t(frames / info.samplerate)) +
                   " s long; the limit is " + std::to_string(int64_t(max_seconds)) + " s");
  };
  if (info.frames > max_frames && info.frames != SF_COUNT_MAX) too_long(double(info.frames));
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV) check_wav_complete(f, what);

  const bool resample = info.samplerate != kSampleRate;
  std::unique_ptr<Resampler> resampler;
  if (resample) resampler = std::make_unique<Resampler>(info.samplerate, what);
  const int channels = info.channels;
  const sf_count_t chunk = std::max(1, 65536 / channels);
  std::vector<float> interleaved(size_t(chunk) * size_t(channels));
  std::vector<float> mono(static_cast<size_t>(chunk)), out;
  sf_count_t frames = 0, got;
  while ((got = sf_readf_float(f, interleaved.data(), chunk)) > 0) {
    for (sf_count_t i = 0; i < got; ++i) {
      double sum = 0;
      for (int c = 0; c < channels; ++c) {
        const float x = interleaved[size_t(i) * channels + c];
        if (!std::isfinite(x))
          fail(what, "sample " + std::to_string(frames + i) + " of channel " + std::to_string(c) +
                         " is NaN or infinite");
        sum += x;
      }
      mono[size_t(i)] = float(sum / channels);
    }
    frames += got;
    if (frames > max_frames) too_long(double(frames));
    if (resample)
      resampler->push(mono.data(), size_t(got), out);
    else
      out.insert(out.end(), mono.begin(), mono.begin() + got);
  }
  if (sf_error(f) != SF_ERR_NO_ERROR)
    fail(what,
         "decoding failed after " + std::to_string(frames) + " frames (" + sndfile_error(f) + ")");
  // MP3 lengths without a Xing/LAME header are estimates: only trust the others.
  const bool length_known =
      info.frames != SF_COUNT_MAX && (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG;
  if (length_known && frames < info.frames)
    fail(what, "truncated: decoded " + std::to_string(frames) + " of " +
                   std::to_string(info.frames) + " frames");
  if (frames == 0) fail(what, "contains no audio samples");
  if (resample) resampler->push(nullptr, 0, out);
  for (float x : out)
    if (!std::isfinite(x)) fail(what, "samples too large to resample (the result is not finite)");
  return out;
}

}  // namespace

std::vector<float> load_audio_16k_mono(const std::string& path, double max_seconds) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
    ::close(fd);
    fail(path, "is an empty file");
  }
  SF_INFO info{};
  Sndfile f(sf_open_fd(fd, SFM_READ, &info, /*close_desc=*/SF_TRUE));  // closes fd on failure too
  if (!f) fail(path, "not a readable audio file (" + sndfile_error(nullptr) + ")");
  return decode(f.get(), info, path, max_seconds);
}

std::vector<float> decode_audio_16k_mono(const uint8_t* bytes, size_t size, const std::string& what,
                                         double max_seconds) {
  if (size == 0) fail(what, "is an empty file");
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  MemoryFile mem{bytes, sf_count_t(size)};
  SF_INFO info{};
  Sndfile f(sf_open_virtual(&io, SFM_READ, &info, &mem));
  if (!f) fail(what, "not a readable audio file (" + sndfile_error(nullptr) + ")");
  return decode(f.get(), info, what, max_seconds);
}

}  // namespace amanuensis::audio
