// The Realtime API's client events (src/server/realtime_protocol.cc): each
// is understood or refused with the code and param that name the problem.
#include <gtest/gtest.h>

#include "server/realtime_protocol.h"

namespace amanuensis::server {
namespace {

ClientEvent parse(const std::string& text, bool has_vad = true) {
  return parse_client_event(text, RealtimeConfig{}, has_vad);
}

TEST(RealtimeProtocol, Base64) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(decode_base64("", out));
  EXPECT_TRUE(out.empty());
  for (const auto& [in, want] :
       std::vector<std::pair<std::string, std::string>>{{"TWFu", "Man"},
                                                        {"TWE=", "Ma"},
                                                        {"TWE", "Ma"},
                                                        {"TQ==", "M"},
                                                        {"TQ", "M"},
                                                        {"AP8A", std::string("\0\xff\0", 3)}}) {
    ASSERT_TRUE(decode_base64(in, out)) << in;
    EXPECT_EQ(std::string(out.begin(), out.end()), want) << in;
  }
  for (const char* bad : {"T", "TQ=", "TQ===", "T=Q=", "TW E", "TWE!", "TW\n=", "=", "TWFuT"})
    EXPECT_FALSE(decode_base64(bad, out)) << bad;
}

TEST(RealtimeProtocol, AppendGivesLittleEndianSamples) {
  // 0x0001, 0xff7f (-129), 0x8000 (-32768): bytes 01 00 7f ff 00 80
  const ClientEvent e = parse(R"({"type":"input_audio_buffer.append","audio":"AQB//wCA"})");
  ASSERT_EQ(e.kind, ClientEvent::kAppend) << e.error.message;
  EXPECT_EQ(e.audio, (std::vector<int16_t>{1, -129, -32768}));
  const ClientEvent odd = parse(R"({"type":"input_audio_buffer.append","audio":"AQB/"})");
  EXPECT_EQ(odd.kind, ClientEvent::kInvalid);
  EXPECT_EQ(odd.error.code, "invalid_audio");
  EXPECT_EQ(parse(R"({"type":"input_audio_buffer.append","audio":"%%%"})").error.code,
            "invalid_audio");
  EXPECT_EQ(parse(R"({"type":"input_audio_buffer.append"})").error.param, "audio");
  EXPECT_EQ(parse(R"({"type":"input_audio_buffer.append","audio":7})").error.param, "audio");
}

TEST(RealtimeProtocol, CommitClearAndEventIds) {
  EXPECT_EQ(parse(R"({"type":"input_audio_buffer.commit"})").kind, ClientEvent::kCommit);
  const ClientEvent c = parse(R"({"type":"input_audio_buffer.clear","event_id":"e7"})");
  EXPECT_EQ(c.kind, ClientEvent::kClear);
  EXPECT_EQ(c.event_id, "e7");
}

TEST(RealtimeProtocol, NotEvents) {
  for (const char* text : {"", "{", "[1]", "\"x\"", "null"})
    EXPECT_EQ(parse(text).error.code, "invalid_json") << text;
  EXPECT_EQ(parse(R"({"event_id":"a"})").error.code, "missing_type");
  const ClientEvent e = parse(R"({"type":"response.create","event_id":"e1"})");
  EXPECT_EQ(e.kind, ClientEvent::kInvalid);
  EXPECT_EQ(e.error.code, "unknown_event");
  EXPECT_EQ(e.event_id, "e1");
  EXPECT_EQ(error_object(e.error, e.event_id)["event_id"], "e1");
  EXPECT_EQ(error_object(e.error, "")["event_id"], nullptr);
}

TEST(RealtimeProtocol, SessionUpdateChangesOnlyWhatItNames) {
  const ClientEvent e = parse(R"({"type":"session.update","session":{"type":"transcription",
      "audio":{"input":{"format":{"type":"audio/pcm","rate":16000},
      "transcription":{"model":"whisper-1","language":"de","prompt":"Hallo"},
      "turn_detection":{"type":"server_vad","silence_duration_ms":800}}}}})");
  ASSERT_EQ(e.kind, ClientEvent::kUpdate) << e.error.message;
  EXPECT_EQ(e.config.rate, 16000);
  EXPECT_EQ(e.config.language, "de");
  EXPECT_EQ(e.config.prompt, "Hallo");
  EXPECT_TRUE(e.config.turn_detection);
  EXPECT_EQ(e.config.silence_duration_ms, 800);
  EXPECT_EQ(e.config.prefix_padding_ms, 300);  // unchanged
  const ClientEvent off =
      parse(R"({"type":"session.update","session":{"audio":{"input":{"turn_detection":null}}}})");
  ASSERT_EQ(off.kind, ClientEvent::kUpdate);
  EXPECT_FALSE(off.config.turn_detection);
  EXPECT_EQ(off.config.rate, 24000);
  // The object sent back says what is in force.
  const nlohmann::json s = session_object(e.config, "sess_1");
  EXPECT_EQ(s["type"], "transcription");
  EXPECT_EQ(s["audio"]["input"]["format"]["rate"], 16000);
  EXPECT_EQ(s["audio"]["input"]["turn_detection"]["silence_duration_ms"], 800);
  EXPECT_EQ(session_object(off.config, "sess_1")["audio"]["input"]["turn_detection"], nullptr);
}

TEST(RealtimeProtocol, SessionUpdateRefusals) {
  const std::string p = "session.audio.input.";
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"type":"realtime"})", "session.type"},
           {R"({"audio":{"input":{"format":{"type":"audio/pcmu"}}}})", p + "format.type"},
           {R"({"audio":{"input":{"format":{"type":"audio/pcm","rate":44100}}}})",
            p + "format.rate"},
           {R"({"audio":{"input":{"format":{"rate":"fast"}}}})", p + "format.rate"},
           {R"({"audio":{"input":{"turn_detection":{"type":"semantic_vad"}}}})",
            p + "turn_detection.type"},
           {R"({"audio":{"input":{"turn_detection":{"threshold":1.5}}}})",
            p + "turn_detection.threshold"},
           {R"({"audio":{"input":{"turn_detection":{"silence_duration_ms":10}}}})",
            p + "turn_detection.silence_duration_ms"},
           {R"({"audio":{"input":{"transcription":{"language":5}}}})",
            p + "transcription.language"},
           {R"({"audio":7})", "session.audio"},
           {R"(7)", "session"}}) {
    const ClientEvent e = parse(R"({"type":"session.update","session":)" + body + "}");
    EXPECT_EQ(e.kind, ClientEvent::kInvalid) << body;
    EXPECT_EQ(e.error.param, param) << body << ": " << e.error.message;
  }
  // Turn detection needs the VAD's weights.
  const ClientEvent e = parse(
      R"({"type":"session.update","session":{"audio":{"input":{"turn_detection":{"type":"server_vad"}}}}})",
      false);
  EXPECT_EQ(e.error.code, "unsupported_value");
}

}  // namespace
}  // namespace amanuensis::server
