#include "output/formats.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace amanuensis::output {
namespace {

// 3725.5 -> "01:02:05.500" (hours optional), decimal mark '.' or ','.
std::string timestamp(double seconds, bool always_hours, char decimal) {
  const long long ms = std::llround(std::max(0.0, seconds) * 1000.0);
  const long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  char buf[40];
  if (always_hours || h > 0)
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld%c%03lld", h, m, s, decimal, frac);
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld%c%03lld", m, s, decimal, frac);
  return buf;
}

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(' ') - b + 1);
}

// Seconds rounded to the millisecond, so JSON does not show float noise.
double ms_round(double s) { return std::round(s * 1000.0) / 1000.0; }

nlohmann::json segment_json(const Segment& s) {
  return {{"id", s.id},
          {"seek", s.seek},
          {"start", ms_round(s.start)},
          {"end", ms_round(s.end)},
          {"text", s.text},
          {"tokens", s.tokens},
          {"temperature", s.temperature},
          {"avg_logprob", s.avg_logprob},
          {"compression_ratio", s.compression_ratio},
          {"no_speech_prob", s.no_speech_prob}};
}

}  // namespace

bool is_output_format(const std::string& f) {
  return f == "txt" || f == "srt" || f == "vtt" || f == "json" || f == "verbose_json";
}

std::string segment_line(const Segment& s) {
  return "[" + timestamp(s.start, false, '.') + " --> " + timestamp(s.end, false, '.') + "] " +
         trimmed(s.text);
}

std::string render(const Transcription& t, const std::string& format, const std::string& task) {
  std::string out;
  if (format == "txt") {
    for (const Segment& s : t.segments) out += trimmed(s.text) + "\n";
  } else if (format == "srt") {
    int i = 1;
    for (const Segment& s : t.segments)
      out += std::to_string(i++) + "\n" + timestamp(s.start, true, ',') + " --> " +
             timestamp(s.end, true, ',') + "\n" + trimmed(s.text) + "\n\n";
  } else if (format == "vtt") {
    out = "WEBVTT\n\n";
    for (const Segment& s : t.segments)
      out += timestamp(s.start, false, '.') + " --> " + timestamp(s.end, false, '.') + "\n" +
             trimmed(s.text) + "\n\n";
  } else if (format == "json") {
    nlohmann::json segments = nlohmann::json::array();
    for (const Segment& s : t.segments) segments.push_back(segment_json(s));
    nlohmann::json j = {{"text", t.text},
                        {"segments", segments},
                        {"language", t.info.language},
                        {"language_probability", t.info.language_probability},
                        {"duration", t.info.duration},
                        {"timing",
                         {{"seconds", t.seconds},
                          {"realtime_factor", t.seconds > 0 ? t.info.duration / t.seconds : 0.0}}}};
    out = j.dump(2) + "\n";
  } else if (format == "verbose_json") {  // OpenAI's audio API response
    nlohmann::json segments = nlohmann::json::array();
    for (const Segment& s : t.segments) {
      nlohmann::json j = segment_json(s);
      j["id"] = s.id - 1;  // OpenAI counts from 0
      segments.push_back(j);
    }
    const std::string name = language_name(t.info.language);
    nlohmann::json j = {{"task", task == "translate" ? "translate" : "transcribe"},
                        {"language", name.empty() ? t.info.language : name},
                        {"duration", t.info.duration},
                        {"text", trimmed(t.text)},
                        {"segments", segments}};
    out = j.dump(2) + "\n";
  } else {
    throw Error("unknown output format '" + format + "'");
  }
  return out;
}

}  // namespace amanuensis::output
