#include "server/multipart.h"

#include <algorithm>
#include <cctype>

namespace amanuensis::server {
namespace {

constexpr size_t kMaxBoundary = 70;  // RFC 2046

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The parameters of a header value, `type; a=1; b="x; y"`: calls f(name, value)
// for each, quotes removed and backslash escapes undone. False if malformed.
template <class F>
bool for_each_parameter(std::string_view v, F f) {
  size_t i = v.find(';');
  while (i != std::string_view::npos && i < v.size()) {
    ++i;
    const size_t eq = v.find('=', i);
    if (eq == std::string_view::npos) return trim(v.substr(i)).empty();
    const std::string_view name = trim(v.substr(i, eq - i));
    size_t j = eq + 1;
    while (j < v.size() && (v[j] == ' ' || v[j] == '\t')) ++j;
    std::string value;
    if (j < v.size() && v[j] == '"') {
      for (++j; j < v.size() && v[j] != '"'; ++j) {
        if (v[j] == '\\' && j + 1 < v.size()) ++j;
        value += v[j];
      }
      if (j >= v.size()) return false;  // no closing quote
      i = v.find(';', j);
      if (!trim(v.substr(j + 1, i == std::string_view::npos ? v.npos : i - j - 1)).empty())
        return false;
    } else {
      i = v.find(';', j);
      value = std::string(trim(v.substr(j, i == std::string_view::npos ? v.npos : i - j)));
    }
    f(name, value);
  }
  return true;
}

// One part's headers: its name, filename and type. False if it is not a
// form-data part with a name.
bool part_headers(std::string_view headers, FormField& field) {
  bool named = false;
  size_t start = 0;
  while (start < headers.size()) {
    size_t end = headers.find("\r\n", start);
    if (end == std::string_view::npos) end = headers.size();
    const std::string_view line = headers.substr(start, end - start);
    start = end + 2;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view name = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Type")) {
      field.content_type = std::string(value);
    } else if (iequals(name, "Content-Disposition")) {
      const std::string_view type = trim(value.substr(0, value.find(';')));
      if (!iequals(type, "form-data")) return false;
      const bool ok = for_each_parameter(value, [&](std::string_view k, const std::string& v) {
        if (iequals(k, "name")) {
          field.name = v;
          named = true;
        } else if (iequals(k, "filename")) {
          field.filename = v;
        }
      });
      if (!ok) return false;
    }
  }
  return named;
}

}  // namespace

std::string multipart_boundary(std::string_view content_type) {
  const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  if (!iequals(type, "multipart/form-data")) return "";
  std::string boundary;
  const bool ok = for_each_parameter(content_type, [&](std::string_view k, const std::string& v) {
    if (iequals(k, "boundary")) boundary = v;
  });
  if (!ok || boundary.size() > kMaxBoundary) return "";
  for (char c : boundary)
    if (c < 0x20 || c > 0x7e) return "";
  return boundary;
}

FormError parse_multipart(std::string_view body, std::string_view boundary, size_t max_fields,
                          std::vector<FormField>& fields) {
  if (boundary.empty()) return FormError::kMalformed;
  const std::string dash = "--" + std::string(boundary);
  const std::string delimiter = "\r\n" + dash;
  // The first boundary may start the body; any other follows a CRLF.
  size_t pos;
  if (body.substr(0, dash.size()) == dash) {
    pos = dash.size();
  } else {
    pos = body.find(delimiter);
    if (pos == std::string_view::npos) return FormError::kMalformed;
    pos += delimiter.size();
  }
  for (;;) {
    // After a boundary: "--" ends the form, CRLF starts a part (transport
    // padding, spaces and tabs, may come first).
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) == "--") return FormError::kNone;
    if (body.substr(pos, 2) != "\r\n") return FormError::kMalformed;
    pos += 2;
    const size_t headers_end = body.find("\r\n\r\n", pos);
    // A part without headers starts with the blank line at once.
    const bool no_headers = body.substr(pos, 2) == "\r\n";
    if (!no_headers && headers_end == std::string_view::npos) return FormError::kMalformed;
    const std::string_view headers =
        no_headers ? std::string_view() : body.substr(pos, headers_end - pos);
    const size_t content = no_headers ? pos + 2 : headers_end + 4;
    const size_t next = body.find(delimiter, content);
    if (next == std::string_view::npos) return FormError::kMalformed;
    if (fields.size() >= max_fields) return FormError::kTooManyFields;
    FormField field;
    if (!part_headers(headers, field)) return FormError::kMalformed;
    field.value = std::string(body.substr(content, next - content));
    fields.push_back(std::move(field));
    pos = next + delimiter.size();
  }
}

}  // namespace amanuensis::server
