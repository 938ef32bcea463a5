#include "server/realtime_protocol.h"

#include <array>

namespace amanuensis::server {
namespace {

using nlohmann::json;

ApiError invalid(const std::string& message, const std::string& param,
                 const std::string& code = "invalid_value") {
  return {400, message, param, code};
}

// A field's value if it has the type asked, else an error naming the field.
template <typename T>
bool get(const json& object, const char* key, const std::string& param, T& out, ApiError& error) {
  const auto it = object.find(key);
  if (it == object.end()) return true;  // absent: unchanged
  try {
    out = it->template get<T>();
    return true;
  } catch (const json::exception&) {
    error = invalid("'" + param + "' has the wrong type", param, "invalid_type");
    return false;
  }
}

// session.update's `session`: only the fields present change.
bool update(const json& s, RealtimeConfig& c, bool has_vad, ApiError& error) {
  if (!s.is_object()) return (error = invalid("'session' must be an object", "session")), false;
  std::string type = "transcription";
  if (!get(s, "type", "session.type", type, error)) return false;
  if (type != "transcription") {
    error = invalid(
        "This server serves transcription sessions only (session.type "
        "'transcription'), not '" +
            type + "'",
        "session.type");
    return false;
  }
  const auto audio = s.find("audio");
  if (audio == s.end()) return true;
  if (!audio->is_object())
    return (error = invalid("'session.audio' must be an object", "session.audio")), false;
  const auto input = audio->find("input");
  if (input == audio->end()) return true;
  if (!input->is_object())
    return (error = invalid("'session.audio.input' must be an object", "session.audio.input")),
           false;
  if (const auto f = input->find("format"); f != input->end()) {
    if (!f->is_object())
      return (error = invalid("'format' must be an object", "session.audio.input.format")), false;
    std::string kind = "audio/pcm";
    int rate = c.rate;
    if (!get(*f, "type", "session.audio.input.format.type", kind, error) ||
        !get(*f, "rate", "session.audio.input.format.rate", rate, error))
      return false;
    if (kind != "audio/pcm")
      return (error = invalid(
                  "Only audio/pcm (16-bit little-endian mono) is served, not '" + kind + "'",
                  "session.audio.input.format.type")),
             false;
    if (rate != 24000 && rate != 16000)
      return (error = invalid("audio/pcm at 24000 or 16000 Hz, not " + std::to_string(rate),
                              "session.audio.input.format.rate")),
             false;
    c.rate = rate;
  }
  if (const auto t = input->find("transcription"); t != input->end() && !t->is_null()) {
    if (!t->is_object())
      return (error = invalid("'transcription' must be an object",
                              "session.audio.input.transcription")),
             false;
    if (!get(*t, "model", "session.audio.input.transcription.model", c.model, error) ||
        !get(*t, "language", "session.audio.input.transcription.language", c.language, error) ||
        !get(*t, "prompt", "session.audio.input.transcription.prompt", c.prompt, error))
      return false;
    if (c.prompt.size() > 4096)
      return (error = invalid("The prompt is longer than 4096 bytes",
                              "session.audio.input.transcription.prompt")),
             false;
  }
  if (const auto d = input->find("turn_detection"); d != input->end()) {
    const std::string p = "session.audio.input.turn_detection";
    if (d->is_null()) {
      c.turn_detection = false;
      return true;
    }
    if (!d->is_object())
      return (error = invalid("'turn_detection' must be an object or null", p)), false;
    std::string kind = "server_vad";
    RealtimeConfig n = c;
    if (!get(*d, "type", p + ".type", kind, error) ||
        !get(*d, "threshold", p + ".threshold", n.threshold, error) ||
        !get(*d, "prefix_padding_ms", p + ".prefix_padding_ms", n.prefix_padding_ms, error) ||
        !get(*d, "silence_duration_ms", p + ".silence_duration_ms", n.silence_duration_ms, error))
      return false;
    if (kind != "server_vad")
      return (error =
                  invalid("Turn detection: server_vad or null, not '" + kind + "'", p + ".type")),
             false;
    if (!has_vad)
      return (error = invalid("This server has no VAD weights: turn_detection must be null", p,
                              "unsupported_value")),
             false;
    if (!(n.threshold > 0 && n.threshold < 1))
      return (error = invalid("threshold must be between 0 and 1", p + ".threshold")), false;
    if (n.prefix_padding_ms < 0 || n.prefix_padding_ms > 5000)
      return (error = invalid("prefix_padding_ms must be 0 to 5000", p + ".prefix_padding_ms")),
             false;
    if (n.silence_duration_ms < 100 || n.silence_duration_ms > 30000)
      return (error =
                  invalid("silence_duration_ms must be 100 to 30000", p + ".silence_duration_ms")),
             false;
    n.turn_detection = true;
    c = n;
  }
  return true;
}

}  // namespace

bool decode_base64(const std::string& in, std::vector<uint8_t>& out) {
  static const auto table = [] {
    std::array<int8_t, 256> t;
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = int8_t(i);
    return t;
  }();
  size_t n = in.size();
  while (n > 0 && in[n - 1] == '=' && in.size() - n < 2) --n;
  if ((in.size() != n && in.size() % 4 != 0) || n % 4 == 1) return false;
  out.clear();
  out.reserve(n * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = 0; i < n; ++i) {
    const int v = table[static_cast<unsigned char>(in[i])];
    if (v < 0) return false;
    bits = (bits << 6) | uint32_t(v);
    if (++count == 4) {
      out.push_back(uint8_t(bits >> 16));
      out.push_back(uint8_t(bits >> 8));
      out.push_back(uint8_t(bits));
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) out.push_back(uint8_t(bits >> 4));
  if (count == 3) {
    out.push_back(uint8_t(bits >> 10));
    out.push_back(uint8_t(bits >> 2));
  }
  return true;
}

ClientEvent parse_client_event(const std::string& text, const RealtimeConfig& current,
                               bool has_vad) {
  ClientEvent e;
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    e.error = invalid("The message is not a JSON object", "", "invalid_json");
    return e;
  }
  if (const auto id = j.find("event_id"); id != j.end() && id->is_string()) e.event_id = *id;
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) {
    e.error = invalid("The event has no 'type'", "type", "missing_type");
    return e;
  }
  const std::string t = *type;
  if (t == "session.update") {
    const auto s = j.find("session");
    if (s == j.end()) {
      e.error =
          invalid("session.update without 'session'", "session", "missing_required_parameter");
      return e;
    }
    e.config = current;
    if (update(*s, e.config, has_vad, e.error)) e.kind = ClientEvent::kUpdate;
    return e;
  }
  if (t == "input_audio_buffer.append") {
    const auto a = j.find("audio");
    if (a == j.end() || !a->is_string()) {
      e.error = invalid("input_audio_buffer.append needs 'audio' (base64 PCM)", "audio",
                        "missing_required_parameter");
      return e;
    }
    std::vector<uint8_t> bytes;
    if (!decode_base64(a->get_ref<const std::string&>(), bytes)) {
      e.error = invalid("'audio' is not base64", "audio", "invalid_audio");
      return e;
    }
    if (bytes.size() % 2 != 0) {
      e.error = invalid("'audio' holds an odd number of bytes: not 16-bit samples", "audio",
                        "invalid_audio");
      return e;
    }
    e.audio.resize(bytes.size() / 2);
    for (size_t i = 0; i < e.audio.size(); ++i)
      e.audio[i] = int16_t(uint16_t(bytes[2 * i]) | uint16_t(bytes[2 * i + 1]) << 8);
    e.kind = ClientEvent::kAppend;
    return e;
  }
  if (t == "input_audio_buffer.commit") {
    e.kind = ClientEvent::kCommit;
    return e;
  }
  if (t == "input_audio_buffer.clear") {
    e.kind = ClientEvent::kClear;
    return e;
  }
  e.error = invalid("This server does not take '" + t +
                        "' events (a transcription session takes session.update and "
                        "input_audio_buffer.append, commit and clear)",
                    "type", "unknown_event");
  return e;
}

nlohmann::json session_object(const RealtimeConfig& c, const std::string& id) {
  json turn = nullptr;
  if (c.turn_detection)
    turn = {{"type", "server_vad"},
            {"threshold", c.threshold},
            {"prefix_padding_ms", c.prefix_padding_ms},
            {"silence_duration_ms", c.silence_duration_ms}};
  json transcription = {{"model", c.model}, {"prompt", c.prompt}, {"language", nullptr}};
  if (!c.language.empty()) transcription["language"] = c.language;
  return {{"object", "realtime.transcription_session"},
          {"type", "transcription"},
          {"id", id},
          {"audio",
           {{"input",
             {{"format", {{"type", "audio/pcm"}, {"rate", c.rate}}},
              {"noise_reduction", nullptr},
              {"transcription", transcription},
              {"turn_detection", turn}}}}},
          {"include", json::array()}};
}

nlohmann::json error_object(const ApiError& e, const std::string& client_event_id) {
  json o = {{"type", e.type},
            {"message", e.message},
            {"code", nullptr},
            {"param", nullptr},
            {"event_id", nullptr}};
  if (!e.code.empty()) o["code"] = e.code;
  if (!e.param.empty()) o["param"] = e.param;
  if (!client_event_id.empty()) o["event_id"] = client_event_id;
  return o;
}

}  // namespace amanuensis::server
