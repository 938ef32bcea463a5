// The server's reading of a request from raw bytes: Beast's HTTP/1.1 parser
// with the server's limits, then the multipart form (src/server/multipart.cc)
// and the form's validation (src/server/request.cc), as a connection reads
// them. Never crashes; every answer is an error or a request whose file
// exists. The input is fed in uneven pieces, as a socket delivers it.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/multipart.h"
#include "server/request.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amanuensis::server;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 << 10);
  parser.body_limit(1 << 20);
  boost::beast::error_code ec;
  size_t at = 0, piece = 1;
  while (at < size && !parser.is_done() && !ec) {
    const size_t n = parser.put(boost::asio::buffer(data + at, std::min(piece, size - at)), ec);
    if (ec == http::error::need_more) {
      if (piece >= size - at) return 0;  // cut short: a connection would wait, then time out
      ec = {};
      piece = piece * 2 + 1;  // the parser wants a longer piece
    } else {
      piece = 1 + data[at] % 64;
    }
    at += n;
  }
  if (ec || !parser.is_done()) return 0;
  const auto& req = parser.get();
  const std::string boundary = multipart_boundary(std::string(req[http::field::content_type]));
  std::vector<FormField> fields;
  if (parse_multipart(req.body(), boundary, kMaxFormFields, fields) != FormError::kNone) return 0;
  if (fields.size() > kMaxFormFields) __builtin_trap();
  const ModelFacts model{"base", {"en", "de"}, size % 2 == 0};
  const auto r = parse_request(Endpoint::kTranscriptions, fields, model);
  if (const ApiError* e = std::get_if<ApiError>(&r)) {
    if (e->status != 400 && e->status != 404) __builtin_trap();
  } else if (std::get<AudioRequest>(r).file >= fields.size()) {
    __builtin_trap();
  }
  return 0;
}
