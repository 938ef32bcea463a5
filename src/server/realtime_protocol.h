// OpenAI's Realtime API in transcription mode, as JSON: the client events a
// session takes (session.update, input_audio_buffer.append/commit/clear) and
// the server events it sends. Pure (no model, no I/O): unit-tested and fuzzed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/request.h"

namespace amanuensis::server {

// A transcription session's settings (its `session` object).
struct RealtimeConfig {
  int rate = 24000;  // audio/pcm, 16-bit mono little-endian: 24000 (OpenAI's) or 16000
  std::string model = "whisper-1";  // echoed; the server has one model
  std::string language, prompt;     // "" : detected / none
  bool turn_detection = true;       // server_vad; off: the client commits
  double threshold = 0.5;
  int prefix_padding_ms = 300, silence_duration_ms = 500;
};

// What a client event asks.
struct ClientEvent {
  enum Kind { kUpdate, kAppend, kCommit, kClear, kInvalid } kind = kInvalid;
  std::string event_id;        // the client's, echoed in an error about it
  RealtimeConfig config;       // kUpdate: the settings after the update
  std::vector<int16_t> audio;  // kAppend: the samples
  ApiError error;              // kInvalid: what to tell the client
};

// One text message of the client's. `current`: the settings an update
// changes; `has_vad`: whether turn detection can be served.
ClientEvent parse_client_event(const std::string& text, const RealtimeConfig& current,
                               bool has_vad);

// RFC 4648 base64 (padding optional, no whitespace); false if not base64.
bool decode_base64(const std::string& in, std::vector<uint8_t>& out);

// The session object as session.created and session.updated give it.
nlohmann::json session_object(const RealtimeConfig& c, const std::string& id);
// An `error` event's body (event_id and type are added by the sender).
nlohmann::json error_object(const ApiError& e, const std::string& client_event_id);

}  // namespace amanuensis::server
