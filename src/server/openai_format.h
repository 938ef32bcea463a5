// OpenAI's audio API bodies: responses in each response_format, server-sent
// events for stream=true, and the error object.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "amanuensis/types.h"
#include "server/request.h"

namespace amanuensis::server {

struct Body {
  std::string text, content_type;
};

// JSON text; bytes that are not UTF-8 (a path, a header) become U+FFFD
// rather than an exception.
std::string json_text(const nlohmann::json& j, int indent = -1);

// A text token's bytes (Model::token_bytes); nullopt for a special token.
// include[]=logprobs lists the text tokens: timestamps are not text.
using TokenText = std::function<std::optional<std::string>(int)>;

Body response_body(const Transcription& t, const AudioRequest& request, const TokenText& tokens);
Body error_body(const ApiError& e);

// Server-sent events: one delta per finished segment (`first`: the
// transcript's first, which loses its leading space), then done, then the end;
// with `logprobs` (include[]=logprobs), each lists its tokens'.
std::string delta_event(const Segment& s, bool first, const TokenText* logprobs = nullptr);
std::string done_event(const Transcription& t, const TokenText* logprobs = nullptr);
std::string error_event(const ApiError& e);
inline constexpr const char* kEventStreamEnd = "data: [DONE]\n\n";

}  // namespace amanuensis::server
