#include "server/request.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "text/utf8.h"

namespace amanuensis::server {
namespace {

// Whisper conditions on at most 224 prompt tokens; 4 KiB holds that many in any script.
constexpr size_t kMaxPromptBytes = 4096;
// A chunking_strategy object has four short members.
constexpr size_t kMaxChunkingBytes = 1024;
// OpenAI's temperature: 0 means "fall back upwards from 0 as Whisper does";
// t > 0 starts the fallback ladder at t (openai-whisper's CLI, same step).
constexpr float kTemperatureStep = 0.2f;

const std::set<std::string>& allowed_fields(Endpoint endpoint) {
  static const std::set<std::string> transcriptions = {"file",
                                                       "model",
                                                       "language",
                                                       "prompt",
                                                       "response_format",
                                                       "temperature",
                                                       "timestamp_granularities[]",
                                                       "timestamp_granularities",
                                                       "stream",
                                                       "chunking_strategy",
                                                       "include[]",
                                                       "include",
                                                       "batch_size"};
  static const std::set<std::string> translations = {
      "file", "model", "prompt", "response_format", "temperature", "batch_size"};
  return endpoint == Endpoint::kTranscriptions ? transcriptions : translations;
}

bool granularity(const std::string& name) { return name.starts_with("timestamp_granularities"); }
bool inclusion(const std::string& name) { return name == "include[]" || name == "include"; }
bool repeatable(const std::string& name) { return granularity(name) || inclusion(name); }

const std::string kChunking = "chunking_strategy";
// chunking_strategy[member], as clients send an object's members in a form.
bool chunking_member(const std::string& name) {
  return name.size() > kChunking.size() + 2 && name.starts_with(kChunking + "[") &&
         name.back() == ']';
}

ApiError bad(const std::string& param, const std::string& message, const std::string& code = "") {
  return {400, message, param, code};
}

// OpenAI's chunking_strategy: "auto", or {"type": "server_vad",
// "prefix_padding_ms", "silence_duration_ms", "threshold"}, sent as a JSON
// string or, as the openai client sends an object, as bracketed fields
// (chunking_strategy[type]=server_vad...). Either cuts the audio at Silero
// VAD's silences (vad_filter): "auto" with faster-whisper's defaults,
// server_vad with the given threshold, padding and silence.
using Members = std::map<std::string, std::string>;

ApiError bad_chunking() {
  return bad("chunking_strategy",
             "'chunking_strategy' must be \"auto\" or {\"type\": \"server_vad\", "
             "\"prefix_padding_ms\": 0-10000, \"silence_duration_ms\": 0-60000, "
             "\"threshold\": 0-1}");
}

std::optional<ApiError> chunking(const Members& members, TranscribeOptions& o) {
  o.vad_filter = true;
  const auto type = members.find("type");
  if (type == members.end() || type->second != "server_vad") return bad_chunking();
  for (const auto& [key, v] : members) {
    if (key == "type") continue;
    double x = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return bad_chunking();
    if (key == "threshold" && x > 0 && x < 1) {
      o.vad.threshold = float(x);
    } else if (key == "prefix_padding_ms" && x >= 0 && x <= 10000) {
      o.vad.speech_pad_ms = int(x);
    } else if (key == "silence_duration_ms" && x >= 0 && x <= 60000) {
      o.vad.min_silence_duration_ms = int(x);
    } else {
      return bad_chunking();
    }
  }
  return std::nullopt;
}

// The members of a chunking_strategy given as one JSON object; nullopt if
// it is not an object of strings and numbers.
std::optional<Members> json_members(const std::string& v) {
  if (v.size() > kMaxChunkingBytes) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  Members m;
  for (const auto& [key, value] : j.items()) {
    if (value.is_string())
      m[key] = value.get<std::string>();
    else if (value.is_number())
      m[key] = value.dump();
    else
      return std::nullopt;
  }
  return m;
}

std::vector<float> temperature_ladder(float t) {
  if (t == 0.0f) return TranscribeOptions{}.temperatures;
  std::vector<float> out;
  for (int k = 0; t + k * kTemperatureStep <= 1.0f + 1e-6f; ++k)
    out.push_back(t + k * kTemperatureStep);
  return out;
}

}  // namespace

ApiError engine_error(const Error& e) {
  // TranscribeOptions fields -> the form fields they are read from.
  static const std::map<std::string, std::string> fields = {
      {"language", "language"},
      {"initial_prompt", "prompt"},
      {"temperatures", "temperature"},
      {"task", "model"},
      {"word_timestamps", "timestamp_granularities[]"},
      {"batch_size", "batch_size"},
      {"vad_filter", "chunking_strategy"}};
  const auto field = fields.find(e.option());
  const std::string param = field != fields.end()              ? field->second
                            : e.option().rfind("vad.", 0) == 0 ? "chunking_strategy"
                                                               : "";
  switch (e.kind()) {
    case ErrorKind::kBadInput:
      return {400, e.what(), param, "invalid_value"};
    case ErrorKind::kUnsupported:
      return {400, e.what(), param, "unsupported_value"};
    case ErrorKind::kResourceLimit:
      return {413, e.what(), param, "resource_limit"};
    case ErrorKind::kBadModel:
    case ErrorKind::kInternal:
      break;
  }
  std::fprintf(stderr, "amanuensis serve: internal error: %s\n", e.what());
  return {500, "The server failed to transcribe this request", "", "internal_error", "server_error"};
}

std::variant<AudioRequest, ApiError> parse_request(Endpoint endpoint,
                                                   const std::vector<FormField>& fields,
                                                   const ModelFacts& model) {
  AudioRequest r;
  if (endpoint == Endpoint::kTranslations) r.options.task = Task::kTranslate;
  const std::set<std::string>& allowed = allowed_fields(endpoint);
  std::set<std::string> seen;
  std::vector<std::string> granularities;
  bool has_file = false, has_model = false;
  Members bracketed;  // chunking_strategy[member] fields
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string& name = fields[i].name;
    const std::string& v = fields[i].value;
    // Before any message quotes them: JSON holds only UTF-8.
    if (!text::valid_utf8(name)) return bad("", "A form field's name is not valid UTF-8");
    if (!text::valid_utf8(fields[i].filename))
      return bad(name, "The filename of '" + name + "' is not valid UTF-8");
    if (name != "file" && !text::valid_utf8(v))
      return bad(name, "'" + name + "' is not valid UTF-8");
    if (!allowed.count(name) && !(endpoint == Endpoint::kTranscriptions && chunking_member(name)))
      return bad(name, "Unrecognized request argument supplied: " + name, "unknown_parameter");
    if (!seen.insert(name).second && !repeatable(name))
      return bad(name, "'" + name + "' is given more than once");
    if (name == "file") {
      if (v.empty()) return bad(name, "'file' is empty");
      has_file = true;
      r.file = i;
    } else if (name == "model") {
      if (v != model.name && v != "whisper-1")
        return ApiError{404,
                        "The model '" + v + "' does not exist; this server has '" + model.name +
                            "' (also called 'whisper-1')",
                        name, "model_not_found"};
      has_model = true;
    } else if (name == "language") {
      std::string code = v;  // "EN" is "en", as the engine reads it
      for (char& c : code) c = char(std::tolower(static_cast<unsigned char>(c)));
      if (std::find(model.languages.begin(), model.languages.end(), code) == model.languages.end())
        return bad(name,
                   model.multilingual
                       ? "Language '" + v + "' is not an ISO-639-1 code that model '" + model.name +
                             "' knows"
                       : "Model '" + model.name +
                             "' is English-only: language must be 'en', not '" + v + "'",
                   "unsupported_language");
      r.options.language = code;
    } else if (name == "prompt") {
      if (v.size() > kMaxPromptBytes)
        return bad(name, "'prompt' is longer than " + std::to_string(kMaxPromptBytes) + " bytes");
      r.options.initial_prompt = v;
    } else if (name == "response_format") {
      if (v != "json" && v != "text" && v != "srt" && v != "verbose_json" && v != "vtt")
        return bad(name, "'" + v + "' is not one of json, text, srt, verbose_json, vtt");
      r.response_format = v;
    } else if (name == "temperature") {
      float t = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), t);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !std::isfinite(t) ||
          t < 0.0f || t > 1.0f)
        return bad(name, "'temperature' must be a number from 0 to 1, not '" + v + "'");
      r.options.temperatures = temperature_ladder(t);
    } else if (granularity(name)) {
      if (v != "segment" && v != "word")
        return bad(name, "'" + v + "' is not a timestamp granularity (segment or word)");
      granularities.push_back(v);
    } else if (name == "batch_size") {  // amanuensis's own: batched mode (engine-checked range)
      int b = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), b);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size())
        return bad(name, "'batch_size' must be a whole number, not '" + v + "'");
      r.options.batch_size = b;
    } else if (name == "chunking_strategy") {
      if (v == "auto") {
        r.options.vad_filter = true;
      } else if (const std::optional<Members> m = json_members(v)) {
        if (const std::optional<ApiError> e = chunking(*m, r.options)) return *e;
      } else {
        return bad_chunking();
      }
    } else if (chunking_member(name)) {
      bracketed[name.substr(kChunking.size() + 1, name.size() - kChunking.size() - 2)] = v;
    } else if (inclusion(name)) {
      if (v != "logprobs")
        return bad(name, "'" + v + "' cannot be included; the one choice is 'logprobs'",
                   "unsupported_value");
      r.logprobs = true;
    } else if (name == "stream") {
      if (v != "true" && v != "false")
        return bad(name, "'stream' must be true or false, not '" + v + "'");
      r.stream = v == "true";
    }
  }
  if (!bracketed.empty()) {
    if (seen.count(kChunking))
      return bad(kChunking, "'chunking_strategy' is given both whole and by its members");
    if (const std::optional<ApiError> e = chunking(bracketed, r.options)) return *e;
  }
  if (!has_file) return bad("file", "Missing required parameter: 'file'");
  if (!has_model) return bad("model", "Missing required parameter: 'model'");
  if (endpoint == Endpoint::kTranslations && !model.multilingual)
    return bad("model", "Model '" + model.name + "' is English-only and cannot translate");
  if (!granularities.empty()) {
    if (r.response_format != "verbose_json")
      return bad("timestamp_granularities[]",
                 "'timestamp_granularities[]' needs response_format 'verbose_json'");
    r.segments = std::count(granularities.begin(), granularities.end(), "segment") > 0;
    r.words = std::count(granularities.begin(), granularities.end(), "word") > 0;
    r.options.word_timestamps = r.words;
  }
  if (r.logprobs && r.response_format != "json")
    return bad("include[]", "'include[]=logprobs' needs response_format 'json', not '" +
                                r.response_format + "'");
  if (r.stream && r.response_format != "json" && r.response_format != "text")
    return bad("stream",
               "'stream' works with response_format json or text, not '" + r.response_format + "'");
  return r;
}

}  // namespace amanuensis::server
