// The server's HTTP/1.1 transport (Boost.Beast on one I/O thread): accepts
// connections, reads requests under deadlines, writes answers, keeps
// connections alive or closes them. It knows nothing of Whisper: a Handler
// routes each request and answers it, at once or later from any thread.
//
// The rules it enforces, whatever the handler does:
//  * a request's headers arrive within header_timeout_s of its first byte;
//    its body at body_min_rate bytes/s on average (after a grace of
//    header_timeout_s) and within body_timeout_s; a kept-alive connection
//    idle for idle_timeout_s is closed; an answer not taken by the client
//    within write_timeout_s is dropped with the connection;
//  * no byte of a body is ever read as a request: an answer given before
//    the body is read (Handler::on_head) closes the connection;
//  * at most max_connections at once; beyond, a 503 and the connection closed;
//  * a WebSocket (a GET with Upgrade: websocket that the handler accepts)
//    takes text messages up to max_message_bytes, answers pings, sends its
//    own when the client is quiet and closes after idle_timeout_s of
//    silence; a client that lets max_send_queue_bytes pile up unread is
//    closed (1008).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace amanuensis::server {

struct TransportLimits {
  double header_timeout_s = 10;
  double idle_timeout_s = 60;
  double body_min_rate = 4096;  // bytes per second
  double body_timeout_s = 600;
  double write_timeout_s = 60;
  int max_connections = 512;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  size_t max_message_bytes = 4 << 20;     // one WebSocket message
  size_t max_send_queue_bytes = 8 << 20;  // WebSocket messages not yet taken
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;
// Named figures of an answer for the access log (seconds of audio, of
// queueing...), opaque to the transport.
using LogFigures = std::vector<std::pair<std::string, double>>;

struct RequestHead {
  std::string method, target, client;  // client: the peer's address
  HeaderList headers;
  std::chrono::steady_clock::time_point arrived;  // when the headers were complete
  // The first value of a header (case-insensitive name); "" if absent.
  std::string header(const std::string& name) const;
  std::string path() const { return target.substr(0, target.find('?')); }
};

struct HttpResponse {
  int status = 200;
  std::string content_type, body;
  HeaderList headers;
  bool close = false;  // Connection: close after this answer
  LogFigures figures;  // handed back to Handler::on_done
};

// One request's answer channel, handed to Handler::on_request. Thread-safe.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // The whole answer, once. Called from another thread than the I/O
  // thread, returns once the answer is written or abandoned.
  virtual void respond(HttpResponse response) = 0;
  // Or a chunked answer: its head, then chunks, each sent before write()
  // returns (false: the client is gone), then end().
  virtual bool begin(int status, const std::string& content_type, const HeaderList& headers) = 0;
  virtual bool write(std::string chunk) = 0;
  virtual void end(LogFigures figures = {}) = 0;
  // Whether the client has gone away (reset, or closed and not listening):
  // a cheap poll, for cancellation checks.
  virtual bool client_gone() = 0;
};

// A WebSocket once upgraded (RFC 6455). Thread-safe; a send or close after
// the socket ended does nothing.
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Queues a text message; false once the socket is closing or gone.
  virtual bool send(std::string text) = 0;
  // Sends what is queued, then a close frame (RFC 6455 §7.4 code and reason).
  virtual void close(int code, std::string reason) = 0;
};

// What a handler that accepts a WebSocket gives the transport.
struct WebSocketEvents {
  std::string subprotocol;  // echoed in the handshake ("": none)
  // Each message, in order, on the I/O thread: must not block.
  std::function<void(std::string message, bool binary)> on_message;
  // Once, on the I/O thread: the socket ended (closed by either side, timed out or reset).
  std::function<void()> on_close;
};

struct Handler {
  // After the headers: an answer now (a body, if any, is not read and the
  // connection closes after the answer), or nullopt to read the body.
  std::function<std::optional<HttpResponse>(const RequestHead&)> on_head;
  // The whole request; answer through the Exchange, now or from any thread.
  std::function<void(const RequestHead&, std::string body, std::shared_ptr<Exchange>)> on_request;
  // A GET asking to become a WebSocket: an HTTP answer refuses it (the
  // connection closes after it), events accept it; `socket` is the one the
  // events will concern, to keep.
  std::function<std::variant<HttpResponse, WebSocketEvents>(const RequestHead&,
                                                            std::shared_ptr<WebSocket> socket)>
      on_upgrade;
  // The transport's own refusals (400 unparsable, 408 too slow, 413 body
  // over the limit, 431 headers over the limit, 500 the handler threw,
  // 503 too many connections)
  // in the handler's format. `head` is null when the headers were not read.
  std::function<HttpResponse(int status, const RequestHead* head)> on_refusal;
  // Headers for every answer (CORS...); `head` has no method when the
  // request's headers were not read.
  std::function<void(const RequestHead& head, HeaderList& headers)> add_headers;
  // Every request, once answered or abandoned (status 0: no answer went out,
  // the client was too slow or left), for the access log.
  std::function<void(const RequestHead& head, int status, const LogFigures& figures)> on_done;
};

class Transport {
 public:
  Transport(TransportLimits limits, Handler handler);
  ~Transport();
  // Port 0: any free port. Returns the port bound; throws amanuensis::Error.
  int bind(const std::string& host, int port);
  void run();   // serves on this thread until stop()
  void stop();  // from any thread: stops accepting and serving; run() returns
  int connections() const;

  struct Impl;  // transport.cc: its connections share it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace amanuensis::server
