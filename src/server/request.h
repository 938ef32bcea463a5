// An OpenAI audio request's form fields -> TranscribeOptions, or the error
// OpenAI would give. Pure (no model, no I/O), so it can be unit-tested and fuzzed.
#pragma once

#include <cstddef>
#include <string>
#include <variant>
#include <vector>

#include "amanuensis/types.h"

namespace amanuensis::server {

// More fields than this is not a request any client sends; reading stops there.
inline constexpr size_t kMaxFormFields = 32;

struct FormField {
  std::string name, filename, content_type, value;
};

enum class Endpoint { kTranscriptions, kTranslations };

// What the request is checked against: the loaded model.
struct ModelFacts {
  std::string name;                    // the model folder's name, e.g. "base"
  std::vector<std::string> languages;  // codes the model knows
  bool multilingual = true;
};

// OpenAI's error object: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // "": null
  std::string code;   // "": null
  std::string type = "invalid_request_error";
};

struct AudioRequest {
  TranscribeOptions options;
  std::string response_format = "json";  // json, text, srt, verbose_json, vtt
  bool stream = false;
  bool segments = true;  // verbose_json lists segments
  bool words = false;    // verbose_json lists words
  bool logprobs = false;  // include[]=logprobs: json lists the text tokens' log-probabilities
  size_t file = 0;       // index of the audio in the fields
};

// The engine's error as OpenAI's: its kind gives the status (bad input and
// unsupported options 400, too large 413, a broken model or a bug 500, whose
// text stays in the server's log), the option the request field it came from.
ApiError engine_error(const Error& e);

std::variant<AudioRequest, ApiError> parse_request(Endpoint endpoint,
                                                   const std::vector<FormField>& fields,
                                                   const ModelFacts& model);

}  // namespace amanuensis::server
