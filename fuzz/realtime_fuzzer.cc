// The Realtime API's client events (src/server/realtime_protocol.cc) on
// arbitrary text: never crashes, and every answer is a well-formed one.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/realtime_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amanuensis::server;
  const std::string text(reinterpret_cast<const char*>(data), size);
  RealtimeConfig current;
  current.turn_detection = size % 2 == 0;
  const ClientEvent e = parse_client_event(text, current, size % 3 != 0);
  switch (e.kind) {
    case ClientEvent::kInvalid:
      if (e.error.status != 400 || e.error.code.empty() || e.error.message.empty())
        __builtin_trap();
      error_object(e.error, e.event_id).dump();
      break;
    case ClientEvent::kUpdate:
      if (e.config.rate != 16000 && e.config.rate != 24000) __builtin_trap();
      if (e.config.turn_detection && !(e.config.threshold > 0 && e.config.threshold < 1))
        __builtin_trap();
      session_object(e.config, "sess").dump();
      break;
    case ClientEvent::kAppend:
      if (e.audio.size() * 2 > text.size()) __builtin_trap();  // base64 grows, never shrinks
      break;
    case ClientEvent::kCommit:
    case ClientEvent::kClear:
      break;
  }
  return 0;
}
