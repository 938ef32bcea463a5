#include "server/openai_format.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "output/formats.h"

namespace amanuensis::server {
namespace {

using nlohmann::json;

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(' ') - b + 1);
}

json null_if_empty(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json error_json(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", null_if_empty(e.param)},
            {"code", null_if_empty(e.code)}}}};
}

std::string event(const json& j) { return "data: " + json_text(j) + "\n\n"; }

// OpenAI's verbose_json: segments unless only word granularity was asked,
// and a top-level words array when it was.
// OpenAI's usage for audio: the duration, in whole seconds rounded up.
json usage(const Transcription& t) {
  return {{"type", "duration"}, {"seconds", std::ceil(t.info.duration)}};
}

// OpenAI's logprobs: [{"token", "logprob", "bytes"}] for each text token.
// A token may hold part of a UTF-8 character: its "token" string then shows
// U+FFFD (json_text), its bytes are exact.
void add_logprobs(const Segment& s, const TokenText& text, json& out) {
  for (size_t k = 0; k < s.tokens.size(); ++k) {
    const std::optional<std::string> bytes = text(s.tokens[k]);
    if (!bytes) continue;
    json b = json::array();
    for (unsigned char c : *bytes) b.push_back(int(c));
    out.push_back({{"token", *bytes}, {"logprob", s.token_logprobs[k]}, {"bytes", std::move(b)}});
  }
}

// Seconds in a streamed event, to the millisecond (no 24.560000000000002).
double rounded(double seconds) { return std::round(seconds * 1000) / 1000; }

std::string verbose_json(const Transcription& t, const AudioRequest& r) {
  json j = json::parse(output::render(t, "verbose_json", r.options.task));
  j["usage"] = usage(t);
  if (!r.segments) j.erase("segments");
  if (!r.words)
    j.erase("words");
  else if (!j.contains("words"))
    j["words"] = json::array();  // asked for, and nothing was said
  return json_text(j, 2) + "\n";
}

}  // namespace

std::string json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

Body response_body(const Transcription& t, const AudioRequest& r, const TokenText& tokens) {
  const std::string& f = r.response_format;
  if (f == "json") {
    json j = {{"text", trimmed(t.text)}};
    if (r.logprobs) {
      json& lp = j["logprobs"] = json::array();
      for (const Segment& s : t.segments) add_logprobs(s, tokens, lp);
    }
    j["usage"] = usage(t);
    return {json_text(j) + "\n", "application/json"};
  }
  if (f == "text") return {trimmed(t.text) + "\n", "text/plain; charset=utf-8"};
  if (f == "verbose_json") return {verbose_json(t, r), "application/json"};
  if (f == "vtt") return {output::render(t, "vtt", r.options.task), "text/vtt; charset=utf-8"};
  return {output::render(t, "srt", r.options.task), "application/x-subrip; charset=utf-8"};
}

Body error_body(const ApiError& e) { return {json_text(error_json(e)) + "\n", "application/json"}; }

std::string delta_event(const Segment& s, bool first, const TokenText* logprobs) {
  const size_t skip = first ? std::min(s.text.find_first_not_of(' '), s.text.size()) : 0;
  json j = {{"type", "transcript.text.delta"},
            {"delta", s.text.substr(skip)},
            {"start", rounded(s.start)},
            {"end", rounded(s.end)}};
  if (logprobs) add_logprobs(s, *logprobs, j["logprobs"] = json::array());
  return event(j);
}

std::string done_event(const Transcription& t, const TokenText* logprobs) {
  json j = {{"type", "transcript.text.done"},
            {"text", trimmed(t.text)},
            {"languages", json::array({{{"code", t.info.language}}})}};
  if (logprobs) {
    json& lp = j["logprobs"] = json::array();
    for (const Segment& s : t.segments) add_logprobs(s, *logprobs, lp);
  }
  return event(j);
}

std::string error_event(const ApiError& e) { return event(error_json(e)); }

}  // namespace amanuensis::server
