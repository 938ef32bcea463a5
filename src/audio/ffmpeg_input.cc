#include "audio/ffmpeg_input.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>

#include "audio/libav.h"
#include "audio/mono_sink.h"

namespace amanuensis::audio {
namespace {

// FFmpeg's functions, once ffmpeg_decode has found its libraries loaded.
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

// A container opened for reading, and its first audio stream.
struct Input {
  std::unique_ptr<AVIOContext, AvioDeleter> avio;  // declared first: freed after fmt
  std::unique_ptr<AVFormatContext, FormatDeleter> fmt;
  int index = -1;
  const AVCodec* codec = nullptr;
  double declared = -1;  // seconds, where the container states the stream's length
};

Input open_input(ByteSource& src, const std::string& what, const std::string& sndfile_why) {
  Input in;
  std::string no_ffmpeg;
  if (!libav(&no_ffmpeg))
    fail(what, "not a format libsndfile reads (" + sndfile_why +
                   "), and FFmpeg's libraries, which would try it, cannot be loaded (" + no_ffmpeg +
                   ")");
  constexpr int kBufSize = 1 << 16;
  auto* buf = static_cast<uint8_t*>(av().av_malloc(kBufSize));
  if (!buf) fail(what, "out of memory");
  in.avio.reset(av().avio_alloc_context(buf, kBufSize, 0, &src, source_read, nullptr, source_seek));
  std::unique_ptr<AVIOContext, AvioDeleter>& avio = in.avio;
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
  in.fmt.reset(raw);
  std::unique_ptr<AVFormatContext, FormatDeleter>& fmt = in.fmt;
  if ((err = av().avformat_find_stream_info(fmt.get(), nullptr)) < 0)
    fail(what, "truncated or corrupt (" + av_error(err) + ")");

  int& index = in.index;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (index < 0 && fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
      index = int(i);
    else
      fmt->streams[i]->discard = AVDISCARD_ALL;  // the demuxer skips their packets
  }
  if (index < 0)
    fail(what, std::string("no audio stream (in a ") + fmt->iformat->name + " container)");
  const AVStream* st = fmt->streams[index];
  in.codec = av().avcodec_find_decoder(st->codecpar->codec_id);
  if (!in.codec)
    fail(what, std::string("no decoder for its audio codec (") +
                   av().avcodec_get_name(st->codecpar->codec_id) + ")");
  // Declared length: trusted when the container states it, not when FFmpeg
  // guessed it from the bit rate.
  // The file's length stands for the stream's only where there is no other
  // stream (Matroska states only the file's; a video may outlast its audio).
  double& declared = in.declared;
  if (fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
    if (st->duration > 0 && st->time_base.num > 0 && st->time_base.den > 0)
      declared = double(st->duration) * av_q2d(st->time_base);
    else if (fmt->nb_streams == 1 && fmt->duration > 0)
      declared = double(fmt->duration) / AV_TIME_BASE;
  }
  return in;
}

}  // namespace

std::vector<float> ffmpeg_decode(ByteSource& src, const std::string& what, double max_seconds,
                                 const std::string& sndfile_why) {
  Input in = open_input(src, what, sndfile_why);
  if (in.declared > max_seconds) too_long(what, in.declared, max_seconds);
  AVFormatContext* fmt = in.fmt.get();
  const int index = in.index;
  const double declared = in.declared;
  const AVStream* st = fmt->streams[index];
  const AVCodec* codec = in.codec;
  int err = 0;
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
    err = av().av_read_frame(fmt, pkt.get());
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

}  // namespace amanuensis::audio
