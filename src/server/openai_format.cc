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

// Seconds in a streamed event, to the millisecond (no 24.560000000000002).
double rounded(double seconds) { return std::round(seconds * 1000) / 1000; }

std::string verbose_json(const Transcription& t, const AudioRequest& r) {
  json j = json::parse(output::render(t, "verbose_json", r.options.task));
  j["usage"] = usage(t);
  if (!r.segments) j.erase("segments");
  if (r.words) {
    json words = json::array();
    for (const Segment& s : t.segments)
      for (const Word& w : s.words)
        words.push_back({{"word", trimmed(w.word)}, {"start", w.start}, {"end", w.end}});
    j["words"] = words;
  }
  return json_text(j, 2) + "\n";
}

}  // namespace

std::string json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

Body response_body(const Transcription& t, const AudioRequest& r) {
  const std::string& f = r.response_format;
  if (f == "json") {
    const json j = {{"text", trimmed(t.text)}, {"usage", usage(t)}};
    return {json_text(j) + "\n", "application/json"};
  }
  if (f == "text") return {trimmed(t.text) + "\n", "text/plain; charset=utf-8"};
  if (f == "verbose_json") return {verbose_json(t, r), "application/json"};
  if (f == "vtt") return {output::render(t, "vtt", r.options.task), "text/vtt; charset=utf-8"};
  return {output::render(t, "srt", r.options.task), "application/x-subrip; charset=utf-8"};
}

Body error_body(const ApiError& e) { return {json_text(error_json(e)) + "\n", "application/json"}; }

std::string delta_event(const Segment& s, bool first) {
  const size_t skip = first ? std::min(s.text.find_first_not_of(' '), s.text.size()) : 0;
  return event({{"type", "transcript.text.delta"},
                {"delta", s.text.substr(skip)},
                {"start", rounded(s.start)},
                {"end", rounded(s.end)}});
}

std::string done_event(const Transcription& t) {
  return event({{"type", "transcript.text.done"},
                {"text", trimmed(t.text)},
                {"languages", json::array({{{"code", t.info.language}}})}});
}

std::string error_event(const ApiError& e) { return event(error_json(e)); }

}  // namespace amanuensis::server
