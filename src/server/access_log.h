// One line per request for operators: when, who, what, the status and how
// long it took (audio seconds, queueing, transcription). Never the audio, the
// text or any form field. Plain text or JSON lines, to a file or stderr.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "server/transport.h"

namespace amanuensis::server {

class AccessLog {
 public:
  // path "": no log; "-": stderr; else appended to that file (throws Error
  // if it cannot be opened). format: "plain" or "json".
  AccessLog(const std::string& path, const std::string& format);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Thread-safe. status 0: no answer went out.
  void write(const RequestHead& head, int status, const LogFigures& figures);

 private:
  std::FILE* out_ = nullptr;
  bool own_ = false, json_ = false;
  std::mutex mu_;
};

}  // namespace amanuensis::server
