#include "output/formats.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "amanuensis/amanuensis.h"  // language_name

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

nlohmann::json words_json(const std::vector<Word>& words, bool with_probability) {
  nlohmann::json out = nlohmann::json::array();
  for (const Word& w : words) {
    nlohmann::json j = {{"word", w.word}, {"start", ms_round(w.start)}, {"end", ms_round(w.end)}};
    if (with_probability) j["probability"] = w.probability;
    out.push_back(j);
  }
  return out;
}

size_t characters(const std::string& utf8) {  // code points, as Python's len()
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

struct Cue {
  double start, end;
  std::string text;
};

// Subtitles from word timings, as openai-whisper's SubtitlesWriter cuts them:
// words fill a line up to the width, lines fill a subtitle up to the count, a
// pause over 3 s starts a new subtitle; with either limit unset, each
// segment is its own subtitle.
std::vector<Cue> word_cues(const Transcription& t, const SubtitleOptions& o) {
  const bool preserve_segments = o.max_line_count == 0 || o.max_line_width == 0;
  const size_t width = o.max_line_width > 0 ? size_t(o.max_line_width) : 1000;
  const size_t per_line = o.max_words_per_line > 0 ? size_t(o.max_words_per_line) : 1000;
  std::vector<Cue> cues;
  std::vector<Word> cue;
  auto flush = [&] {
    std::string text;
    for (const Word& w : cue) text += w.word;
    cues.push_back({cue.front().start, cue.back().end, text});
    cue.clear();
  };
  size_t line_len = 0;
  int line_count = 1;
  double last = t.segments.empty() ? 0.0 : t.segments.front().start;
  for (const Segment& s : t.segments) {
    for (size_t chunk = 0; chunk < s.words.size(); chunk += per_line) {
      const size_t end = std::min(s.words.size(), chunk + per_line);
      for (size_t i = chunk; i < end; ++i) {
        Word w = s.words[i];
        const bool long_pause = !preserve_segments && w.start - last > 3.0;
        const bool has_room = line_len + characters(w.word) <= width;
        const bool segment_break = i == chunk && !cue.empty() && preserve_segments;
        if (line_len > 0 && has_room && !long_pause && !segment_break) {
          line_len += characters(w.word);
        } else {
          w.word = trimmed(w.word);
          if ((!cue.empty() && o.max_line_count > 0 &&
               (long_pause || line_count >= o.max_line_count)) ||
              segment_break) {
            flush();
            line_count = 1;
          } else if (line_len > 0) {
            ++line_count;
            w.word = "\n" + w.word;
          }
          line_len = characters(trimmed(w.word));
        }
        cue.push_back(w);
        last = w.start;
      }
    }
  }
  if (!cue.empty()) flush();
  return cues;
}

std::vector<Cue> cues(const Transcription& t, const SubtitleOptions& o) {
  for (const Segment& s : t.segments)
    if (!s.words.empty()) return word_cues(t, o);
  std::vector<Cue> out;
  for (const Segment& s : t.segments) out.push_back({s.start, s.end, trimmed(s.text)});
  return out;
}

// "-->" inside a cue would end its timing line.
std::string cue_text(const std::string& text) {
  std::string out = text;
  for (size_t at; (at = out.find("-->")) != std::string::npos;) out.replace(at, 3, "->");
  return out;
}

}  // namespace

void check(const SubtitleOptions& o, bool word_timestamps) {
  if (o.max_line_width < 0 || o.max_line_count < 0 || o.max_words_per_line < 0)
    throw Error("subtitle limits must be positive numbers");
  if ((o.max_line_width || o.max_line_count || o.max_words_per_line) && !word_timestamps)
    throw Error(
        "--max-line-width, --max-line-count and --max-words-per-line need --word-timestamps");
}

bool is_output_format(const std::string& f) {
  return f == "txt" || f == "srt" || f == "vtt" || f == "json" || f == "verbose_json";
}

std::string segment_line(const Segment& s) {
  return "[" + timestamp(s.start, false, '.') + " --> " + timestamp(s.end, false, '.') + "] " +
         trimmed(s.text);
}

std::string render(const Transcription& t, const std::string& format, Task task,
                   const SubtitleOptions& subtitles) {
  std::string out;
  if (format == "txt") {
    for (const Segment& s : t.segments) out += trimmed(s.text) + "\n";
  } else if (format == "srt") {
    int i = 1;
    for (const Cue& c : cues(t, subtitles))
      out += std::to_string(i++) + "\n" + timestamp(c.start, true, ',') + " --> " +
             timestamp(c.end, true, ',') + "\n" + cue_text(c.text) + "\n\n";
  } else if (format == "vtt") {
    out = "WEBVTT\n\n";
    for (const Cue& c : cues(t, subtitles))
      out += timestamp(c.start, false, '.') + " --> " + timestamp(c.end, false, '.') + "\n" +
             cue_text(c.text) + "\n\n";
  } else if (format == "json") {
    nlohmann::json segments = nlohmann::json::array();
    for (const Segment& s : t.segments) {
      nlohmann::json j = segment_json(s);
      if (!s.words.empty()) j["words"] = words_json(s.words, true);
      segments.push_back(j);
    }
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
    nlohmann::json j = {{"task", to_string(task)},
                        {"language", name.empty() ? t.info.language : name},
                        {"duration", t.info.duration},
                        {"text", trimmed(t.text)},
                        {"segments", segments}};
    std::vector<Word> words;  // OpenAI lists the words once, after the segments
    for (const Segment& s : t.segments) words.insert(words.end(), s.words.begin(), s.words.end());
    if (!words.empty()) {
      j["words"] = words_json(words, false);
      for (nlohmann::json& w : j["words"])  // OpenAI's words carry no leading space
        w["word"] = trimmed(w["word"].get<std::string>());
    }
    out = j.dump(2) + "\n";
  } else {
    throw Error("unknown output format '" + format + "'");
  }
  return out;
}

}  // namespace amanuensis::output
