// FFmpeg's libraries, opened on first use rather than linked. Linked, libavformat
// and libavcodec bring ~120 libraries that cost every process ~60 ms at start
// (docs/PERFORMANCE.md), though WAV, FLAC, MP3 and Ogg never reach FFmpeg:
// libsndfile decodes them.
#pragma once

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/samplefmt.h>
}

namespace amanuensis::audio {

// Every FFmpeg function the decoder calls.
#define AMANUENSIS_LIBAV_FUNCTIONS(X)                                                            \
  X(av_dict_free) X(av_dict_set) X(av_frame_alloc) X(av_frame_free) X(av_frame_unref)           \
  X(av_free) X(av_freep) X(av_get_packed_sample_fmt) X(av_log_set_level) X(av_malloc)           \
  X(av_packet_alloc) X(av_packet_free) X(av_packet_unref) X(av_read_frame)                       \
  X(av_sample_fmt_is_planar) X(av_strerror) X(avcodec_alloc_context3) X(avcodec_find_decoder)    \
  X(avcodec_free_context) X(avcodec_get_name) X(avcodec_open2) X(avcodec_parameters_to_context)  \
  X(avcodec_receive_frame) X(avcodec_send_packet) X(avformat_alloc_context)                      \
  X(avformat_close_input) X(avformat_find_stream_info) X(avformat_open_input)                    \
  X(avio_alloc_context) X(avio_context_free)

struct LibAv {
#define AMANUENSIS_LIBAV_POINTER(name) decltype(&::name) name = nullptr;
  AMANUENSIS_LIBAV_FUNCTIONS(AMANUENSIS_LIBAV_POINTER)
#undef AMANUENSIS_LIBAV_POINTER
};

// The libraries of the FFmpeg whose headers this was built with, by soname
// (libavutil.so.57, libavcodec.so.59, libavformat.so.59 on Debian 12).
std::vector<std::string> libav_sonames();
// Opens `sonames` and finds every function in them; on failure, nothing and
// why in *error.
std::optional<LibAv> open_libav(const std::vector<std::string>& sonames, std::string* error);
// The process's one copy, opened on the first call; null (and why in *error)
// if FFmpeg is not installed.
const LibAv* libav(std::string* error);

}  // namespace amanuensis::audio
