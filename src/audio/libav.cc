#include "audio/libav.h"

#include <dlfcn.h>

namespace amanuensis::audio {

std::vector<std::string> libav_sonames() {
  return {"libavutil.so." + std::to_string(LIBAVUTIL_VERSION_MAJOR),
          "libavcodec.so." + std::to_string(LIBAVCODEC_VERSION_MAJOR),
          "libavformat.so." + std::to_string(LIBAVFORMAT_VERSION_MAJOR)};
}

std::optional<LibAv> open_libav(const std::vector<std::string>& sonames, std::string* error) {
  std::vector<void*> handles;
  for (const std::string& name : sonames) {
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* why = dlerror();
      *error = why ? why : "cannot open " + name;
      return std::nullopt;  // the ones opened stay: dlclose of FFmpeg is not worth its risks
    }
    handles.push_back(h);
  }
  auto find = [&](const char* name) -> void* {
    for (void* h : handles)
      if (void* f = dlsym(h, name)) return f;
    *error = std::string("no ") + name + " in FFmpeg's libraries";
    return nullptr;
  };
  LibAv av;
#define AMANUENSIS_LIBAV_FIND(name)                                       \
  av.name = reinterpret_cast<decltype(&::name)>(find(#name));            \
  if (!av.name) return std::nullopt;
  AMANUENSIS_LIBAV_FUNCTIONS(AMANUENSIS_LIBAV_FIND)
#undef AMANUENSIS_LIBAV_FIND
  return av;
}

const LibAv* libav(std::string* error) {
  static std::string why;
  static const std::optional<LibAv> av = [] {
    std::optional<LibAv> a = open_libav(libav_sonames(), &why);
    if (a) a->av_log_set_level(AV_LOG_QUIET);  // our one-line errors say what went wrong
    return a;
  }();
  if (!av) *error = why;
  return av ? &*av : nullptr;
}

}  // namespace amanuensis::audio
