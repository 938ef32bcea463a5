// The server's form validation (src/server/request.cc) on arbitrary fields:
// the input is split into name=value lines; never crashes, always answers.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amanuensis::server;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<FormField> fields;
  size_t start = 0;
  while (start < text.size() && fields.size() < kMaxFormFields) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    const size_t eq = line.find('=');
    fields.push_back(
        {line.substr(0, eq), "f", "", eq == std::string::npos ? "" : line.substr(eq + 1)});
    start = end + 1;
  }
  const ModelFacts model{"base", {"en", "de"}, size % 2 == 0};
  const Endpoint endpoint = size % 3 == 0 ? Endpoint::kTranslations : Endpoint::kTranscriptions;
  const auto r = parse_request(endpoint, fields, model);
  if (const ApiError* e = std::get_if<ApiError>(&r)) {
    if (e->status != 400 && e->status != 404) __builtin_trap();
  } else if (std::get<AudioRequest>(r).file >= fields.size()) {
    __builtin_trap();
  }
  return 0;
}
