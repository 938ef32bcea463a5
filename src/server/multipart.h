// multipart/form-data (RFC 7578) as OpenAI's clients send it: the boundary
// from the Content-Type, then the parts' names, filenames, types and bytes.
// Pure, so that it is unit-tested and fuzzed with the HTTP layer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/request.h"

namespace amanuensis::server {

// The boundary of a `multipart/form-data; boundary=...` Content-Type (quoted
// or not); "" if the type is another or the boundary is missing or invalid.
std::string multipart_boundary(std::string_view content_type);

enum class FormError { kNone, kMalformed, kTooManyFields };

// Splits `body` into fields, at most `max_fields`. Preamble and epilogue are
// ignored; a part without a `form-data` name, a body cut short or a missing
// closing boundary is malformed.
FormError parse_multipart(std::string_view body, std::string_view boundary, size_t max_fields,
                          std::vector<FormField>& fields);

}  // namespace amanuensis::server
