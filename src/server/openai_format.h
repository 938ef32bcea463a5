// OpenAI's audio API bodies: responses in each response_format, server-sent
// events for stream=true, and the error object.
#pragma once

#include <nlohmann/json.hpp>
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

Body response_body(const Transcription& t, const AudioRequest& request);
Body error_body(const ApiError& e);

// Server-sent events: one delta per finished segment (`first`: the
// transcript's first, which loses its leading space), then done, then the end.
std::string delta_event(const Segment& s, bool first);
std::string done_event(const Transcription& t);
std::string error_event(const ApiError& e);
inline constexpr const char* kEventStreamEnd = "data: [DONE]\n\n";

}  // namespace amanuensis::server
