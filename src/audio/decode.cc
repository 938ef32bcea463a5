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
#include <optional>
#include <type_traits>

#include "audio/libav.h"

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

[[noreturn]] void too_long(const std::string& what, double seconds, double max_seconds) {
  fail(what, "is " + std::to_string(int64_t(seconds)) + " s long; the limit is " +
                 std::to_string(int64_t(max_seconds)) + " s");
}

// Where both decoders meet: interleaved float frames at the native rate in,
// 16 kHz mono out. Refuses a bad rate or channel count, non-finite samples and
// more than `max_seconds`; averages the channels (their sum in double, divided
// by their count) and resamples unless the rate is already 16 kHz.
class MonoSink {
 public:
  MonoSink(int rate, int channels, const std::string& what, double max_seconds)
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

  int rate() const { return rate_; }
  int channels() const { return channels_; }
  int64_t frames() const { return frames_; }
  double max_frames() const { return max_frames_; }
  [[noreturn]] void fail_too_long(double frames) const {
    too_long(what_, frames / rate_, max_seconds_);
  }

  void push(const float* interleaved, size_t n) {
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

  std::vector<float> finish() {
    if (frames_ == 0) fail(what_, "contains no audio samples");
    if (resampler_) resampler_->push(nullptr, 0, out_);
    for (float x : out_)
      if (!std::isfinite(x)) fail(what_, "samples too large to resample (the result is not finite)");
    return std::move(out_);
  }

 private:
  int rate_, channels_;
  std::string what_;
  double max_seconds_, max_frames_ = 0;
  int64_t frames_ = 0;
  std::unique_ptr<Resampler> resampler_;
  std::vector<float> mono_ = std::vector<float>(16384), out_;
};

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

// ---- FFmpeg: everything libsndfile cannot open ------------------------------

// FFmpeg's functions, once decode_ffmpeg has found its libraries loaded.
const LibAv& av() {
  std::string unused;
  return *libav(&unused);
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av().av_strerror(err, buf, sizeof buf);
  return buf;
}

// The bytes FFmpeg reads: a buffer in memory or an open file descriptor.
struct ByteSource {
  const uint8_t* bytes = nullptr;  // memory when set
  int64_t size = 0, pos = 0;
  int fd = -1;  // else this file
};

int source_read(void* opaque, uint8_t* buf, int len) {
  auto* s = static_cast<ByteSource*>(opaque);
  if (s->bytes) {
    const int64_t n = std::min<int64_t>(len, s->size - s->pos);
    if (n <= 0) return AVERROR_EOF;
    std::memcpy(buf, s->bytes + s->pos, size_t(n));
    s->pos += n;
    return int(n);
  }
  for (;;) {
    const ssize_t n = ::read(s->fd, buf, size_t(len));
    if (n > 0) return int(n);
    if (n == 0) return AVERROR_EOF;
    if (errno != EINTR) return AVERROR(errno);
  }
}

int64_t source_seek(void* opaque, int64_t offset, int whence) {
  auto* s = static_cast<ByteSource*>(opaque);
  whence &= ~AVSEEK_FORCE;
  if (whence == AVSEEK_SIZE) return s->size >= 0 ? s->size : AVERROR(ENOSYS);
  if (s->bytes) {
    const int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->size;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return AVERROR(EINVAL);
    if (offset < -base || offset > s->size - base) return AVERROR(EINVAL);
    return s->pos = base + offset;
  }
  const off_t r = ::lseek(s->fd, off_t(offset), whence);
  return r < 0 ? AVERROR(errno) : int64_t(r);
}

// Formats that name other files (HLS and DASH playlists, concat lists, image
// sequences, ...) must not reach past the bytes they were given: every nested
// open through the context is refused, and the nested demuxers that open their
// own (concat, HLS) inherit a protocol whitelist that names no protocol.
int refuse_nested_open(AVFormatContext*, AVIOContext**, const char*, int, AVDictionary**) {
  return AVERROR(EPERM);
}

struct AvioDeleter {
  void operator()(AVIOContext* c) const {
    av().av_freep(&c->buffer);
    av().avio_context_free(&c);
  }
};
struct FormatDeleter {
  void operator()(AVFormatContext* c) const { av().avformat_close_input(&c); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* c) const { av().avcodec_free_context(&c); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av().av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av().av_frame_free(&f); }
};

// Integer samples scaled as libsndfile scales them (v / 2^(bits-1); u8 is
// offset by 128), float as stored, double rounded to float.
template <class T>
float to_float(T v) {
  if constexpr (std::is_same_v<T, uint8_t>) return float((int(v) - 128) / 128.0);
  else if constexpr (std::is_same_v<T, int16_t>) return float(v / 32768.0);
  else if constexpr (std::is_same_v<T, int32_t>) return float(v / 2147483648.0);
  else if constexpr (std::is_same_v<T, int64_t>) return float(double(v) / 9223372036854775808.0);
  else return float(v);
}

template <class T>
void interleave(const AVFrame* f, int channels, bool planar, std::vector<float>& out) {
  const size_t n = size_t(f->nb_samples), ch = size_t(channels);
  for (size_t c = 0; c < ch; ++c) {
    const T* src = reinterpret_cast<const T*>(f->extended_data[planar ? c : 0]);
    for (size_t i = 0; i < n; ++i) out[i * ch + c] = to_float(planar ? src[i] : src[i * ch + c]);
  }
}

void frame_to_float(const AVFrame* f, int channels, const std::string& what,
                    std::vector<float>& out) {
  const auto fmt = AVSampleFormat(f->format);
  const bool planar = av().av_sample_fmt_is_planar(fmt);
  out.resize(size_t(f->nb_samples) * size_t(channels));
  switch (av().av_get_packed_sample_fmt(fmt)) {
    case AV_SAMPLE_FMT_U8: return interleave<uint8_t>(f, channels, planar, out);
    case AV_SAMPLE_FMT_S16: return interleave<int16_t>(f, channels, planar, out);
    case AV_SAMPLE_FMT_S32: return interleave<int32_t>(f, channels, planar, out);
    case AV_SAMPLE_FMT_S64: return interleave<int64_t>(f, channels, planar, out);
    case AV_SAMPLE_FMT_FLT: return interleave<float>(f, channels, planar, out);
    case AV_SAMPLE_FMT_DBL: return interleave<double>(f, channels, planar, out);
    default: fail(what, "the decoder gives an unsupported sample format (" + std::to_string(f->format) + ")");
  }
}

// The first audio stream of whatever FFmpeg demuxes, decoded to float at its
// own rate. Strict: a demuxer or decoder error, a packet flagged corrupt, or
// (where the container declares the stream's length) a stream that ends well
// short of that length is refused rather than returned as partial audio.
// `sndfile_why` is why libsndfile could not open the bytes first.
std::vector<float> decode_ffmpeg(ByteSource& src, const std::string& what, double max_seconds,
                                 const std::string& sndfile_why) {
  std::string no_ffmpeg;
  if (!libav(&no_ffmpeg))
    fail(what, "not a format libsndfile reads (" + sndfile_why +
                   "), and FFmpeg's libraries, which would try it, cannot be loaded (" + no_ffmpeg +
                   ")");
  constexpr int kBufSize = 1 << 16;
  auto* buf = static_cast<uint8_t*>(av().av_malloc(kBufSize));
  if (!buf) fail(what, "out of memory");
  std::unique_ptr<AVIOContext, AvioDeleter> avio(
      av().avio_alloc_context(buf, kBufSize, 0, &src, source_read, nullptr, source_seek));
  if (!avio) {
    av().av_free(buf);
    fail(what, "out of memory");
  }
  avio->seekable = src.size >= 0 ? AVIO_SEEKABLE_NORMAL : 0;

  AVFormatContext* raw = av().avformat_alloc_context();
  if (!raw) fail(what, "out of memory");
  raw->pb = avio.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  raw->io_open = refuse_nested_open;
  AVDictionary* options = nullptr;
  av().av_dict_set(&options, "protocol_whitelist", "none", 0);
  int err = av().avformat_open_input(&raw, "", nullptr, &options);  // frees `raw` on failure
  av().av_dict_free(&options);
  if (err < 0)
    fail(what, "not a readable audio file or unsupported format (libsndfile: " + sndfile_why +
                   "; FFmpeg: " + av_error(err) + ")");
  std::unique_ptr<AVFormatContext, FormatDeleter> fmt(raw);
  if ((err = av().avformat_find_stream_info(fmt.get(), nullptr)) < 0)
    fail(what, "truncated or corrupt (" + av_error(err) + ")");

  int index = -1;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (index < 0 && fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
      index = int(i);
    else
      fmt->streams[i]->discard = AVDISCARD_ALL;  // the demuxer skips their packets
  }
  if (index < 0)
    fail(what, std::string("no audio stream (in a ") + fmt->iformat->name + " container)");
  const AVStream* st = fmt->streams[index];
  const AVCodec* codec = av().avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec)
    fail(what, std::string("no decoder for its audio codec (") +
                   av().avcodec_get_name(st->codecpar->codec_id) + ")");
  // Declared length: trusted when the container states it, not when FFmpeg
  // guessed it from the bit rate.
  // The file's length stands for the stream's only where there is no other
  // stream (Matroska states only the file's; a video may outlast its audio).
  double declared = -1;
  if (fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
    if (st->duration > 0 && st->time_base.num > 0 && st->time_base.den > 0)
      declared = double(st->duration) * av_q2d(st->time_base);
    else if (fmt->nb_streams == 1 && fmt->duration > 0)
      declared = double(fmt->duration) / AV_TIME_BASE;
  }
  if (declared > max_seconds) too_long(what, declared, max_seconds);

  std::unique_ptr<AVCodecContext, CodecDeleter> dec(av().avcodec_alloc_context3(codec));
  if (!dec) fail(what, "out of memory");
  if ((err = av().avcodec_parameters_to_context(dec.get(), st->codecpar)) < 0)
    fail(what, "bad audio stream parameters (" + av_error(err) + ")");
  dec->pkt_timebase = st->time_base;
  dec->thread_count = 1;
  if ((err = av().avcodec_open2(dec.get(), codec, nullptr)) < 0)
    fail(what, std::string("cannot decode its ") + codec->name + " audio (" + av_error(err) + ")");

  std::unique_ptr<AVPacket, PacketDeleter> pkt(av().av_packet_alloc());
  std::unique_ptr<AVFrame, FrameDeleter> frame(av().av_frame_alloc());
  if (!pkt || !frame) fail(what, "out of memory");
  std::optional<MonoSink> sink;
  std::vector<float> interleaved;
  auto at = [&] {
    return sink ? " after " + seconds(double(sink->frames()) / sink->rate()) : "";
  };
  auto corrupt = [&](int e) {
    fail(what, "truncated or corrupt " + std::string(codec->name) + " audio" + at() + " (" +
                   av_error(e) + ")");
  };
  auto drain = [&] {
    for (;;) {
      const int r = av().avcodec_receive_frame(dec.get(), frame.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) corrupt(r);
      if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT))
        corrupt(AVERROR_INVALIDDATA);
      int channels = frame->ch_layout.nb_channels;
      if (channels <= 0) channels = dec->ch_layout.nb_channels;
      if (!sink) {
        sink.emplace(frame->sample_rate, channels, what, max_seconds);
      } else if (frame->sample_rate != sink->rate() || channels != sink->channels()) {
        fail(what, "the audio changes from " + std::to_string(sink->rate()) + " Hz, " +
                       std::to_string(sink->channels()) + " channels to " +
                       std::to_string(frame->sample_rate) + " Hz, " + std::to_string(channels) +
                       " channels" + at());
      }
      if (frame->nb_samples > 0) {
        frame_to_float(frame.get(), channels, what, interleaved);
        sink->push(interleaved.data(), size_t(frame->nb_samples));
      }
      av().av_frame_unref(frame.get());
    }
  };
  for (;;) {
    err = av().av_read_frame(fmt.get(), pkt.get());
    if (err == AVERROR_EOF) break;
    if (err < 0) corrupt(err);
    if (pkt->stream_index != index) {
      av().av_packet_unref(pkt.get());
      continue;
    }
    if (pkt->flags & AV_PKT_FLAG_CORRUPT) corrupt(AVERROR_INVALIDDATA);
    err = av().avcodec_send_packet(dec.get(), pkt.get());
    av().av_packet_unref(pkt.get());
    if (err < 0) corrupt(err);
    drain();
  }
  if ((err = av().avcodec_send_packet(dec.get(), nullptr)) < 0) corrupt(err);
  drain();
  if (!sink) fail(what, "contains no audio samples");
  const double decoded = double(sink->frames()) / sink->rate();
  if (declared > 0 && decoded < declared - std::max(0.5, 0.02 * declared))
    fail(what, "truncated: decoded " + seconds(decoded) + " of the " + seconds(declared) +
                   " its " + fmt->iformat->name + " header declares");
  return sink->finish();
}

}  // namespace

// A descriptor closed when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::vector<float> load_audio_16k_mono(const std::string& path, double max_seconds) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) fail(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  struct stat st {};
  const bool regular = ::fstat(fd.fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular && st.st_size == 0) fail(path, "is an empty file");
  // libsndfile closes the descriptor it fails to open whatever close_desc says:
  // it gets a duplicate (same file offset), FFmpeg may need the original.
  const int dup = ::fcntl(fd.fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) fail(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  SF_INFO info{};
  {
    Sndfile f(sf_open_fd(dup, SFM_READ, &info, /*close_desc=*/SF_TRUE));  // closes dup
    if (f) return decode_sndfile(f.get(), info, path, max_seconds);
  }
  const std::string sndfile_why = sndfile_error(nullptr);
  if (!regular || ::lseek(fd.fd, 0, SEEK_SET) != 0)  // a pipe: libsndfile has read from it
    fail(path, "not a readable audio file (" + sndfile_why + ")");
  ByteSource src;
  src.fd = fd.fd;
  src.size = int64_t(st.st_size);
  return decode_ffmpeg(src, path, max_seconds, sndfile_why);
}

std::vector<float> decode_audio_16k_mono(const uint8_t* bytes, size_t size, const std::string& what,
                                         double max_seconds) {
  if (size == 0) fail(what, "is an empty file");
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  MemoryFile mem{bytes, sf_count_t(size)};
  SF_INFO info{};
  {
    Sndfile f(sf_open_virtual(&io, SFM_READ, &info, &mem));
    if (f) return decode_sndfile(f.get(), info, what, max_seconds);
  }
  ByteSource src;
  src.bytes = bytes;
  src.size = int64_t(size);
  return decode_ffmpeg(src, what, max_seconds, sndfile_error(nullptr));
}

}  // namespace amanuensis::audio
