#include "server/transport.h"

#include <poll.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <future>

#include "amanuensis/types.h"

namespace amanuensis::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// How long a closing connection keeps reading (and dropping) what the client
// still sends, so that our answer is not lost to a reset (RFC 9112 §9.6).
constexpr auto kLingerTime = std::chrono::seconds(2);
// After a failed accept (out of descriptors), wait before the next.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
// Sent once to a client that closed its sending side while its request runs:
// a client that only half-closed reads past it (RFC 9110 §15.2), one that
// closed the socket answers with a reset, and so is found gone.
constexpr std::string_view kProbe = "HTTP/1.1 102 Processing\r\n\r\n";

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

std::string RequestHead::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

struct Transport::Impl {
  Impl(TransportLimits l, Handler h) : limits(l), handler(std::move(h)) {}
  void accept();
  void refuse(tcp::socket socket);

  const TransportLimits limits;
  const Handler handler;
  std::atomic<int> live{0};  // before ioc: connections die with its handlers
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer retry{ioc};
};

namespace {

// A connection after its upgrade to WebSocket. Reads run back to back on the
// I/O thread; sends from any thread are queued and written in order.
class WsSession : public WebSocket, public std::enable_shared_from_this<WsSession> {
 public:
  explicit WsSession(Transport::Impl& t) : t_(t) { ++t_.live; }
  ~WsSession() override { --t_.live; }

  void start(beast::tcp_stream stream, http::request<http::string_body> request, RequestHead head,
             WebSocketEvents events) {
    head_ = std::move(head);
    events_ = std::move(events);
    stream.expires_never();  // the WebSocket's own timeouts govern from here
    ws_.emplace(std::move(stream));
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = seconds(t_.limits.header_timeout_s);
    timeout.idle_timeout = seconds(t_.limits.idle_timeout_s);
    timeout.keep_alive_pings = true;  // a quiet client is pinged at half the idle time
    ws_->set_option(timeout);
    ws_->read_message_max(t_.limits.max_message_bytes);
    ws_->set_option(websocket::stream_base::decorator(
        [protocol = events_.subprotocol](websocket::response_type& r) {
          if (!protocol.empty()) r.set(http::field::sec_websocket_protocol, protocol);
        }));
    auto req = std::make_shared<http::request<http::string_body>>(std::move(request));
    ws_->async_accept(*req, [self = shared_from_this(), req](error_code ec) {
      if (ec) return self->ended();
      self->open_ = true;
      self->read();
      self->write_next();  // what was sent before the handshake finished
    });
  }

  bool send(std::string text) override {
    if (closing_) return false;
    if (queued_bytes_.fetch_add(text.size()) + text.size() > t_.limits.max_send_queue_bytes) {
      close(1008, "the client does not read its messages");
      return false;
    }
    net::post(t_.ioc, [self = shared_from_this(), text = std::move(text)]() mutable {
      self->out_.push_back(std::move(text));
      self->write_next();
    });
    return true;
  }

  void close(int code, std::string reason) override {
    if (closing_.exchange(true)) return;
    net::post(t_.ioc, [self = shared_from_this(), code, reason = std::move(reason)] {
      self->close_frame_.emplace(websocket::close_code(code), reason);
      self->write_next();
    });
  }

 private:
  void read() {
    ws_->async_read(in_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->ended();
      std::string message = beast::buffers_to_string(self->in_.data());
      self->in_.consume(self->in_.size());
      if (self->events_.on_message && !self->closing_) {
        try {
          self->events_.on_message(std::move(message), !self->ws_->got_text());
        } catch (const std::exception&) {  // a bug in the handler: this socket ends, not the server
          self->close(1011, "internal error");
        }
      }
      self->read();
    });
  }

  // The next queued message, or the close frame once the queue is empty.
  void write_next() {
    if (!open_ || writing_ || ended_) return;
    if (!out_.empty()) {
      writing_ = true;
      auto text = std::make_shared<std::string>(std::move(out_.front()));
      out_.pop_front();
      ws_->text(true);
      ws_->async_write(net::buffer(*text),
                       [self = shared_from_this(), text](error_code ec, size_t) {
                         self->writing_ = false;
                         self->queued_bytes_ -= text->size();
                         if (ec) return self->ended();
                         self->write_next();
                       });
    } else if (close_frame_) {
      writing_ = true;
      ws_->async_close(*close_frame_, [self = shared_from_this()](error_code) {
        // The pending read ends too, and with it the socket.
        error_code ignored;
        beast::get_lowest_layer(*self->ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
    }
  }

  // Once: the socket is gone (the read or a write failed, or the close is done).
  void ended() {
    if (ended_) return;
    ended_ = true;
    closing_ = true;
    error_code ec;
    if (ws_) beast::get_lowest_layer(*ws_).socket().close(ec);
    // The handler's objects may hold this socket: let go of them.
    const WebSocketEvents events = std::move(events_);
    events_ = {};
    if (events.on_close) events.on_close();
    t_.handler.on_done(head_, open_ ? 101 : 0, {});
  }

  Transport::Impl& t_;
  RequestHead head_;
  WebSocketEvents events_;
  std::optional<websocket::stream<beast::tcp_stream>> ws_;
  beast::flat_buffer in_;
  // I/O thread only.
  std::deque<std::string> out_;
  std::optional<websocket::close_reason> close_frame_;
  bool open_ = false, writing_ = false, ended_ = false;
  // Any thread.
  std::atomic<bool> closing_{false};
  std::atomic<size_t> queued_bytes_{0};
};

class Connection : public Exchange, public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Transport::Impl& t) : stream_(std::move(socket)), t_(t) {
    ++t_.live;
    error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    client_ = ec ? "" : peer.address().to_string();
    fd_ = stream_.socket().native_handle();
  }
  ~Connection() override { --t_.live; }

  void start() { wait_for_request(); }

  void respond(HttpResponse r) override {
    if (t_.ioc.get_executor().running_in_this_thread()) return send(std::move(r));
    on_io_thread([&](std::function<void(bool)> sent) { send(std::move(r), std::move(sent)); });
  }
  bool begin(int status, const std::string& content_type, const HeaderList& headers) override;
  bool write(std::string chunk) override;
  void end(LogFigures figures) override;
  bool client_gone() override;

 private:
  void wait_for_request();
  void read_head();
  void on_head(error_code ec);
  void read_body();
  void on_body(error_code ec, size_t n);
  void upgrade();
  void refuse(int status, bool head_read);
  // `sent`: told once the answer is written (true) or abandoned (false).
  void send(HttpResponse r, std::function<void(bool)> sent = {});
  void after_answer(int status, bool close, const LogFigures& figures);
  void close_gracefully();
  void linger(std::shared_ptr<std::array<char, 4096>> scratch);
  // Runs `op` on the I/O thread and waits until it reports.
  bool on_io_thread(std::function<void(std::function<void(bool)>)> op);

  beast::tcp_stream stream_;
  Transport::Impl& t_;
  std::string client_;
  int fd_ = -1;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  RequestHead head_;
  bool keep_alive_ = true;
  Clock::time_point body_start_;
  size_t body_bytes_ = 0;
  // Set from the request's worker thread, read on the I/O thread.
  std::atomic<bool> gone_{false}, half_closed_{false}, streaming_{false};
  bool answer_started_ = false;  // I/O thread only: the probe must not cut into an answer
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  int stream_status_ = 0;
};

void Connection::wait_for_request() {
  head_ = {};
  head_.client = client_;
  answer_started_ = false;
  streaming_ = false;
  if (buffer_.size() > 0) return read_head();  // a pipelined request is here
  stream_.expires_after(seconds(t_.limits.idle_timeout_s));
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](error_code ec, size_t n) {
                            if (ec) return;  // idle, closed or reset: the connection ends
                            self->buffer_.commit(n);
                            self->read_head();
                          });
}

void Connection::read_head() {
  parser_.emplace();
  parser_->header_limit(uint32_t(t_.limits.max_header_bytes));
  parser_->body_limit(t_.limits.max_body_bytes);
  stream_.expires_after(seconds(t_.limits.header_timeout_s));
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](error_code ec, size_t) { self->on_head(ec); });
}

void Connection::on_head(error_code ec) {
  if (ec == beast::error::timeout) return t_.handler.on_done(head_, 0, {});  // too slow
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == net::error::connection_reset)
    return;  // gone before its request was whole
  if (ec == http::error::body_limit) return refuse(413, false);
  if (ec == http::error::header_limit) return refuse(431, false);
  if (ec) return refuse(400, false);
  const auto& req = parser_->get();
  head_.method = std::string(req.method_string());
  head_.target = std::string(req.target());
  head_.arrived = Clock::now();
  for (const auto& f : req) head_.headers.emplace_back(f.name_string(), f.value());
  keep_alive_ = req.keep_alive();
  if (websocket::is_upgrade(req) && t_.handler.on_upgrade) return upgrade();
  std::optional<HttpResponse> early;
  try {
    early = t_.handler.on_head(head_);
  } catch (const std::exception&) {  // a bug in the handler: this request fails, not the server
    return refuse(500, true);
  }
  if (early) {
    if (!parser_->is_done()) early->close = true;  // the body stays unread
    return send(std::move(*early));
  }
  if (parser_->is_done()) return on_body({}, 0);
  body_start_ = head_.arrived;
  body_bytes_ = 0;
  if (beast::iequals(req[http::field::expect], "100-continue")) {
    auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
    stream_.expires_after(seconds(t_.limits.write_timeout_s));
    return http::async_write(stream_, *cont,
                             [self = shared_from_this(), cont](error_code ec, size_t) {
                               if (!ec) self->read_body();
                             });
  }
  read_body();
}

void Connection::upgrade() {
  auto socket = std::make_shared<WsSession>(t_);
  std::variant<HttpResponse, WebSocketEvents> answer;
  try {
    answer = t_.handler.on_upgrade(head_, socket);
  } catch (const std::exception&) {
    return refuse(500, true);
  }
  if (HttpResponse* refused = std::get_if<HttpResponse>(&answer)) {
    refused->close = true;
    return send(std::move(*refused));
  }
  // The socket now owns the connection; this object ends with this handler.
  socket->start(std::move(stream_), parser_->release(), head_,
                std::get<WebSocketEvents>(std::move(answer)));
}

void Connection::read_body() {
  // Silence is bounded by the grace period; slowness by the mean rate (on_body).
  const Clock::time_point last = body_start_ + seconds(t_.limits.body_timeout_s);
  stream_.expires_at(std::min(last, Clock::now() + seconds(t_.limits.header_timeout_s)));
  http::async_read_some(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](error_code ec, size_t n) { self->on_body(ec, n); });
}

void Connection::on_body(error_code ec, size_t n) {
  if (ec == http::error::body_limit) return refuse(413, true);
  if (ec == beast::error::timeout) return t_.handler.on_done(head_, 0, {});
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted)
    return t_.handler.on_done(head_, 0, {});  // the client left mid-body
  if (ec) return refuse(400, true);
  body_bytes_ += n;
  if (!parser_->is_done()) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - body_start_).count();
    const double grace = t_.limits.header_timeout_s;
    if (elapsed > grace && double(body_bytes_) < t_.limits.body_min_rate * (elapsed - grace))
      return refuse(408, true);
    return read_body();
  }
  stream_.expires_never();  // the handler's own deadline governs from here
  try {
    t_.handler.on_request(head_, std::move(parser_->get().body()), shared_from_this());
  } catch (const std::exception&) {
    refuse(500, true);
  }
}

void Connection::refuse(int status, bool head_read) {
  HttpResponse r = t_.handler.on_refusal(status, head_read ? &head_ : nullptr);
  r.close = true;
  send(std::move(r));
}

void Connection::send(HttpResponse r, std::function<void(bool)> sent) {
  answer_started_ = true;
  auto res = std::make_shared<http::response<http::string_body>>(http::status(r.status), 11);
  t_.handler.add_headers(head_, r.headers);
  for (const auto& [k, v] : r.headers) res->set(k, v);
  if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
  res->body() = std::move(r.body);
  const bool close = r.close || !keep_alive_ || half_closed_;
  res->keep_alive(!close);
  res->prepare_payload();
  stream_.expires_after(seconds(t_.limits.write_timeout_s));
  http::async_write(
      stream_, *res,
      [self = shared_from_this(), res, close, status = r.status, figures = std::move(r.figures),
       sent = std::move(sent)](error_code ec, size_t) {
        if (sent) sent(!ec);
        self->after_answer(ec ? 0 : status, close || bool(ec), figures);
      });
}

void Connection::after_answer(int status, bool close, const LogFigures& figures) {
  t_.handler.on_done(head_, status, figures);
  if (close) return close_gracefully();
  wait_for_request();
}

void Connection::close_gracefully() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return;
  stream_.expires_after(kLingerTime);
  linger(std::make_shared<std::array<char, 4096>>());
}

void Connection::linger(std::shared_ptr<std::array<char, 4096>> scratch) {
  stream_.async_read_some(net::buffer(*scratch),
                          [self = shared_from_this(), scratch](error_code ec, size_t) {
                            if (!ec)
                              self->linger(scratch);  // dropped; ends at EOF, error or kLingerTime
                          });
}

bool Connection::on_io_thread(std::function<void(std::function<void(bool)>)> op) {
  auto done = std::make_shared<std::promise<bool>>();
  std::future<bool> result = done->get_future();
  net::post(stream_.get_executor(), [self = shared_from_this(), op = std::move(op), done] {
    op([done](bool ok) { done->set_value(ok); });
  });
  return result.get();
}

bool Connection::begin(int status, const std::string& content_type, const HeaderList& headers) {
  stream_status_ = status;
  streaming_ = true;
  return on_io_thread([&, self = shared_from_this()](std::function<void(bool)> done) {
    answer_started_ = true;
    stream_head_.emplace(http::status(status), 11);
    HeaderList all = headers;
    t_.handler.add_headers(head_, all);
    for (const auto& [k, v] : all) stream_head_->set(k, v);
    stream_head_->set(http::field::content_type, content_type);
    stream_head_->chunked(true);
    stream_head_->keep_alive(keep_alive_ && !half_closed_);
    serializer_.emplace(*stream_head_);
    stream_.expires_after(seconds(t_.limits.write_timeout_s));
    http::async_write_header(stream_, *serializer_, [self, done](error_code ec, size_t) {
      if (ec) self->gone_ = true;
      done(!ec);
    });
  });
}

bool Connection::write(std::string chunk) {
  if (gone_) return false;
  auto data = std::make_shared<std::string>(std::move(chunk));
  return on_io_thread([self = shared_from_this(), data](std::function<void(bool)> done) {
    self->stream_.expires_after(seconds(self->t_.limits.write_timeout_s));
    net::async_write(self->stream_, http::make_chunk(net::buffer(*data)),
                     [self, data, done](error_code ec, size_t) {
                       if (ec) self->gone_ = true;
                       done(!ec);
                     });
  });
}

void Connection::end(LogFigures figures) {
  const bool ok = !gone_ && on_io_thread([self =
                                              shared_from_this()](std::function<void(bool)> done) {
    self->stream_.expires_after(seconds(self->t_.limits.write_timeout_s));
    net::async_write(self->stream_, http::make_chunk_last(), [self, done](error_code ec, size_t) {
      if (ec) self->gone_ = true;
      done(!ec);
    });
  });
  const int status = ok ? stream_status_ : 0;
  const bool close = !ok || !keep_alive_ || half_closed_;
  net::post(stream_.get_executor(),
            [self = shared_from_this(), status, close, figures = std::move(figures)] {
              self->serializer_.reset();
              self->stream_head_.reset();
              self->after_answer(status, close, figures);
            });
}

bool Connection::client_gone() {
  if (gone_) return true;
  pollfd p{fd_, POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return gone_ = true;
  if ((p.revents & POLLRDHUP) && !half_closed_.exchange(true) && !streaming_) {
    // Probe once, from the I/O thread, unless an answer has started there.
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      if (!self->answer_started_) net::write(self->stream_.socket(), net::buffer(kProbe), ec);
      if (ec) self->gone_ = true;
    });
  }
  return false;
}

}  // namespace

void Transport::Impl::accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // stopped
    if (ec) {
      retry.expires_after(kAcceptRetry);
      retry.async_wait([this](error_code e) {
        if (!e) accept();
      });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (live >= limits.max_connections)
      refuse(std::move(socket));
    else
      std::make_shared<Connection>(std::move(socket), *this)->start();
    accept();
  });
}

void Transport::Impl::refuse(tcp::socket socket) {
  // One non-blocking write of a short answer; a client that does not take
  // it at once just sees the connection close.
  RequestHead head;
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (!ec) head.client = peer.address().to_string();
  HttpResponse r = handler.on_refusal(503, nullptr);
  handler.add_headers(head, r.headers);
  std::string text =
      "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: " + r.content_type +
      "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (const auto& [k, v] : r.headers) text += k + ": " + v + "\r\n";
  text += "\r\n" + r.body;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(text), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  handler.on_done(head, 503, {});
}

Transport::Transport(TransportLimits limits, Handler handler)
    : impl_(std::make_unique<Impl>(limits, std::move(handler))) {}

Transport::~Transport() = default;

int Transport::bind(const std::string& host, int port) {
  error_code ec;
  tcp::resolver resolver(impl_->ioc);  // a name ("localhost") or an address
  const auto found = resolver.resolve(host, std::to_string(port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || found.empty())
    throw Error("cannot listen on " + host + ": " + (ec ? ec.message() : "no address"),
                ErrorKind::kBadInput);
  const tcp::endpoint at = found.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  a.open(at.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(at, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message(),
                ErrorKind::kBadInput);
  return a.local_endpoint().port();
}

void Transport::run() {
  impl_->accept();
  impl_->ioc.run();
}

void Transport::stop() {
  net::post(impl_->ioc, [this] {
    error_code ec;
    impl_->acceptor.close(ec);
    impl_->ioc.stop();
  });
}

int Transport::connections() const { return impl_->live; }

}  // namespace amanuensis::server
