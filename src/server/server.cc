#include "server/server.h"

#include <httplib.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/openai_format.h"
#include "server/peer.h"
#include "server/request.h"
#include "server/session_pool.h"

namespace amanuensis::server {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Connection threads beyond workers + queue: for /health, 429s and 503s while
// every admitted request holds one, and for slow or idle keep-alive clients.
constexpr int kSpareConnections = 16;
// Multipart boundaries and headers on top of the field values, which are what
// --max-upload-mb counts.
constexpr size_t kFormOverheadBytes = 64 * 1024;
constexpr int kHeaps = 4;  // glibc malloc arenas for the whole process

void reply(httplib::Response& res, const ApiError& e) {
  const Body b = error_body(e);
  res.status = e.status;
  res.set_content(b.text, b.content_type);
}

// Counts a request from its first byte to its response's last, so that a
// drain waits for it.
struct InFlight {
  explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
  ~InFlight() { --n_; }
  std::atomic<int>& n_;
};

}  // namespace

struct Server::Impl {
  Impl(std::shared_ptr<const Model> m, ServerConfig c)
      : model(std::move(m)),
        config(std::move(c)),
        threads_per_worker(
            config.threads_per_worker > 0
                ? config.threads_per_worker
                : std::max(1, int(std::thread::hardware_concurrency()) / config.workers)),
        pool(model, config.workers, threads_per_worker, config.queue_size),
        facts{config.model_name, model->languages(), model->multilingual()} {}

  void routes();
  void audio(Endpoint endpoint, const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader);
  bool read_form(const httplib::Request& req, const httplib::ContentReader& reader,
                 Clock::time_point deadline, std::vector<FormField>& fields,
                 httplib::Response& res);
  json health() const;
  ApiError timeout_error() const {
    return {504,
            "The request took longer than the server's limit of " +
                std::to_string(int(config.request_timeout_s)) + " s",
            "", "timeout", "server_error"};
  }

  std::shared_ptr<const Model> model;
  ServerConfig config;
  int threads_per_worker;
  SessionPool pool;
  ModelFacts facts;
  httplib::Server http;
  const Clock::time_point started = Clock::now();
  const std::time_t created = std::time(nullptr);
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};
  std::atomic<double> mean_seconds{1.0};  // of a transcription, for Retry-After
};

json Server::Impl::health() const {
  const SessionPool::Load load = pool.load();
  return {{"status", draining ? "draining" : "ok"},
          {"model", config.model_name},
          {"precision", to_string(model->precision())},
          {"instruction_set", to_string(model->backend())},
          {"workers", config.workers},
          {"threads_per_worker", threads_per_worker},
          {"workers_busy", load.busy},
          {"queue_depth", load.queued},
          {"queue_size", config.queue_size},
          {"uptime_s", std::chrono::duration<double>(Clock::now() - started).count()}};
}

void Server::Impl::routes() {
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = draining ? 503 : 200;
    res.set_content(health().dump() + "\n", "application/json");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const std::string& id : {config.model_name, std::string("whisper-1")})
      data.push_back(
          {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "amanuensis"}});
    res.set_content(json{{"object", "list"}, {"data", data}}.dump() + "\n", "application/json");
  });
  http.Post("/v1/audio/transcriptions", [this](const httplib::Request& req, httplib::Response& res,
                                               const httplib::ContentReader& reader) {
    audio(Endpoint::kTranscriptions, req, res, reader);
  });
  http.Post("/v1/audio/translations", [this](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& reader) {
    audio(Endpoint::kTranslations, req, res, reader);
  });
  // httplib's own errors (no route, unreadable request line) in OpenAI's shape.
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e{res.status,
                   "HTTP " + std::to_string(res.status) + " for " + req.method + " " + req.path, "",
                   ""};
        if (res.status == 404) e.message = "No such endpoint: " + req.method + " " + req.path;
        if (res.status >= 500) e.type = "server_error";
        reply(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        reply(res, {500, "Internal error: " + what, "", "", "server_error"});
      });
}

// The multipart fields, at most kMaxFormFields and max_upload_bytes of values.
// On failure the response is set and false returned.
bool Server::Impl::read_form(const httplib::Request& req, const httplib::ContentReader& reader,
                             Clock::time_point deadline, std::vector<FormField>& fields,
                             httplib::Response& res) {
  if (!req.is_multipart_form_data()) {
    reply(res, {400, "Expected a multipart/form-data body (Content-Type)", "", ""});
    return false;
  }
  size_t bytes = 0;
  bool too_big = false, too_many = false, too_late = false;
  // Over the limit by its Content-Length, httplib reads and drops the body
  // (so that the client sees the 413) and the reader fails.
  const bool ok = reader(
      [&](const httplib::MultipartFormData& part) {
        too_many = fields.size() >= kMaxFormFields;
        fields.push_back({part.name, part.filename, part.content_type, ""});
        return !too_many;
      },
      [&](const char* data, size_t n) {
        bytes += n;
        too_big = bytes > config.max_upload_bytes;
        too_late = Clock::now() > deadline;
        if (fields.empty() || too_big || too_late) return false;
        fields.back().value.append(data, n);
        return true;
      });
  if (ok) return true;
  too_big = too_big || req.get_header_value<uint64_t>("Content-Length") >
                           config.max_upload_bytes + kFormOverheadBytes;
  if (too_big)
    reply(res, {413,
                "The upload is larger than the server's limit of " +
                    std::to_string(config.max_upload_bytes >> 20) + " MB",
                "file", "file_too_large"});
  else if (too_many)
    reply(res, {400, "More than " + std::to_string(kMaxFormFields) + " form fields", "", ""});
  else if (too_late)
    reply(res, timeout_error());
  else
    reply(res, {400, "The multipart/form-data body is malformed or incomplete", "", ""});
  if (too_big) res.set_header("Connection", "close");  // the rest of the body is not read
  return false;
}

void Server::Impl::audio(Endpoint endpoint, const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) {
  auto in = std::make_shared<InFlight>(in_flight);
  if (draining)
    return reply(res, {503, "The server is shutting down", "", "shutting_down", "server_error"});
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(config.request_timeout_s));
  std::vector<FormField> fields;
  if (!read_form(req, reader, deadline, fields, res)) return;
  auto parsed = parse_request(endpoint, fields, facts);
  if (const ApiError* e = std::get_if<ApiError>(&parsed)) return reply(res, *e);
  AudioRequest r = std::get<AudioRequest>(std::move(parsed));
  r.options.word_starts_at_speech = config.word_starts_at_speech;
  try {
    model->check(r.options);
  } catch (const Error& e) {
    return reply(res, engine_error(e));
  }

  std::shared_ptr<SessionPool::Ticket> ticket = pool.admit();
  if (!ticket) {
    res.set_header("Retry-After", std::to_string(std::max(1, int(std::ceil(mean_seconds.load())))));
    return reply(res, {429,
                       "All " + std::to_string(config.workers) + " workers are busy and " +
                           std::to_string(config.queue_size) + " requests are queued; retry later",
                       "", "rate_limit_exceeded", "requests"});
  }
  const int sock = find_connection_socket(req.local_port, req.remote_addr, req.remote_port);
  const auto give_up = [sock, deadline] { return peer_gone(sock) || Clock::now() > deadline; };
  Session* session = ticket->wait(give_up);
  if (!session) return reply(res, timeout_error());  // or nobody is listening any more

  std::vector<float> samples;
  try {
    const FormField& file = fields[r.file];
    samples = decode_audio(file.value.data(), file.value.size(),
                           file.filename.empty() ? "file" : file.filename);
  } catch (const Error& e) {
    return reply(res, {415, std::string("Not audio that can be decoded: ") + e.what(), "file",
                       "invalid_file_format"});
  }
  fields = {};  // the upload's bytes, no longer needed

  if (!r.stream) {
    Callbacks cb;
    cb.should_abort = give_up;
    Transcription t;
    try {
      t = session->transcribe(samples, r.options, cb);
    } catch (const Error& e) {
      return reply(res, engine_error(e));
    }
    if (t.aborted) return reply(res, timeout_error());
    mean_seconds = 0.8 * mean_seconds + 0.2 * t.seconds;
    const Body b = response_body(t, r);
    res.set_content(b.text, b.content_type);
    return;
  }
  // Streamed: the provider runs after the headers are sent; it keeps the
  // Session (ticket) and the in-flight count until the last event.
  auto audio = std::make_shared<std::vector<float>>(std::move(samples));
  res.set_chunked_content_provider("text/event-stream", [this, r, audio, ticket, in, session,
                                                         give_up](size_t,
                                                                  httplib::DataSink& sink) mutable {
    bool first = true, lost = false;
    const auto send = [&](const std::string& e) { lost = lost || !sink.write(e.data(), e.size()); };
    Callbacks cb;
    cb.on_segment = [&](const Segment& s) {
      send(delta_event(s, first));
      first = false;
    };
    cb.should_abort = [&] { return lost || give_up(); };
    try {
      const Transcription t = session->transcribe(*audio, r.options, cb);
      send(t.aborted ? error_event(timeout_error()) : done_event(t));
    } catch (const Error& e) {
      send(error_event(engine_error(e)));
    }
    ticket.reset();  // the next request may start while this one's end is sent
    send(kEventStreamEnd);
    sink.done();
    return true;
  });
}

Server::Server(std::shared_ptr<const Model> model, ServerConfig config)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(config))) {
  Impl& s = *impl_;
  // glibc gives each busy thread its own heap, and the engine asks it never
  // to trim them (util/allocator.cc): across ~70 connection threads, uploads
  // freed in one heap stayed resident while the next went to another (1.1 GB
  // peak under load). A few shared heaps keep the peak near what is live.
  mallopt(M_ARENA_MAX, kHeaps);
  const int connections = s.config.workers + s.config.queue_size + kSpareConnections;
  s.http.new_task_queue = [connections] { return new httplib::ThreadPool(size_t(connections)); };
  s.http.set_read_timeout(s.config.read_timeout_s);
  s.http.set_write_timeout(s.config.read_timeout_s);
  s.http.set_tcp_nodelay(true);
  s.http.set_payload_max_length(s.config.max_upload_bytes + kFormOverheadBytes);
  s.routes();
}

Server::~Server() = default;

int Server::bind(const std::string& host, int port) {
  const int bound = port == 0 ? impl_->http.bind_to_any_port(host)
                              : (impl_->http.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) throw Error("cannot listen on " + host + ":" + std::to_string(port));
  return bound;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::drain() {
  impl_->draining = true;
  while (impl_->in_flight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl_->http.stop();
}

}  // namespace amanuensis::server
