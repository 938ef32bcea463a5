#include "server/server.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "server/access_log.h"
#include "server/multipart.h"
#include "server/openai_format.h"
#include "server/realtime_session.h"
#include "server/request.h"
#include "server/session_pool.h"
#include "server/transport.h"
#include "server/web_page.h"
#include "util/whisper_geometry.h"

namespace amanuensis::server {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Multipart boundaries and headers on top of the field values, which are what
// --max-upload-mb counts.
constexpr size_t kFormOverheadBytes = 64 * 1024;
constexpr int kHeaps = 4;  // glibc malloc arenas for the whole process

HttpResponse reply(const ApiError& e) {
  Body b = error_body(e);
  return {e.status, std::move(b.content_type), std::move(b.text)};
}

// Counts an admitted request until its answer is sent, so that a drain waits for it.
struct InFlight {
  explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
  ~InFlight() { --n_; }
  std::atomic<int>& n_;
};

enum class Route { kPage, kHealth, kModels, kModel, kTranscriptions, kTranslations, kRealtime };

struct RouteInfo {
  const char* path;
  const char* method;
  Route route;
  bool prefix = false;  // the path begins with `path` (the rest is a parameter)
};

constexpr RouteInfo kRoutes[] = {{"/", "GET", Route::kPage},
                                 {"/health", "GET", Route::kHealth},
                                 {"/v1/models", "GET", Route::kModels},
                                 {"/v1/models/", "GET", Route::kModel, true},
                                 {"/v1/audio/transcriptions", "POST", Route::kTranscriptions},
                                 {"/v1/audio/translations", "POST", Route::kTranslations},
                                 {"/v1/realtime", "GET", Route::kRealtime}};

const RouteInfo* find_route(const std::string& path) {
  for (const RouteInfo& r : kRoutes)
    if (path == r.path || (r.prefix && path.size() > std::strlen(r.path) &&
                           path.compare(0, std::strlen(r.path), r.path) == 0))
      return &r;
  return nullptr;
}

// Compares in a time that depends only on the lengths, so that the key
// cannot be guessed byte by byte from response times.
bool same_secret(const std::string& given, const std::string& key) {
  unsigned char diff = given.size() != key.size();
  for (size_t i = 0; i < given.size(); ++i) diff |= given[i] ^ key[i % key.size()];
  return diff == 0;
}

// The subprotocol that carries an API key from a browser (OpenAI's name).
constexpr const char* kKeyProtocol = "openai-insecure-api-key.";

// Sec-WebSocket-Protocol's comma-separated list.
std::vector<std::string> subprotocols(const std::string& header) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    std::string p = header.substr(start, end - start);
    p.erase(0, p.find_first_not_of(' '));
    p.erase(p.find_last_not_of(' ') + 1);
    if (!p.empty()) out.push_back(p);
    start = end + 1;
  }
  return out;
}

// A query parameter's value (not percent-decoded: the values asked for are
// plain words); "" if absent.
std::string query_value(const std::string& target, const std::string& name) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return "";
  size_t start = q + 1;
  while (start < target.size()) {
    size_t end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    const std::string pair = target.substr(start, end - start);
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    start = end + 1;
  }
  return "";
}

// A list of header names as a browser sends it in a preflight; "" if it
// holds anything else.
std::string header_names(const std::string& s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ',' ||
          c == ' '))
      return "";
  return s;
}

}  // namespace

struct Server::Impl {
  Impl(std::shared_ptr<const Model> m, ServerConfig c)
      : model(std::move(m)),
        config(std::move(c)),
        threads_per_worker(
            config.threads_per_worker > 0
                ? config.threads_per_worker
                : std::max(1, int(std::thread::hardware_concurrency()) / config.workers)),
        group(config.batch_across_requests ? std::make_shared<SessionGroup>(model) : nullptr),
        pool(model, group, config.workers, threads_per_worker, config.queue_size),
        facts{config.model_name, model->languages(), model->multilingual()},
        token_text([m = model.get()](int id) -> std::optional<std::string> {
          if (!m->is_text_token(id)) return std::nullopt;
          return m->token_bytes(id);
        }),
        access_log(config.access_log, config.access_log_format),
        transport(limits(config), handler()) {}

  static TransportLimits limits(const ServerConfig& c) {
    TransportLimits l;
    l.header_timeout_s = c.header_timeout_s;
    l.idle_timeout_s = c.idle_timeout_s;
    l.body_min_rate = c.min_upload_rate;
    l.body_timeout_s = c.request_timeout_s;
    l.write_timeout_s = c.idle_timeout_s;
    l.max_connections = c.max_connections;
    l.max_body_bytes = c.max_upload_bytes + kFormOverheadBytes;
    return l;
  }
  Handler handler() {
    Handler h;
    h.on_head = [this](const RequestHead& head) { return on_head(head); };
    h.on_request = [this](const RequestHead& head, std::string body, std::shared_ptr<Exchange> x) {
      on_request(head, std::move(body), std::move(x));
    };
    h.on_upgrade = [this](const RequestHead& head, std::shared_ptr<WebSocket> socket) {
      return on_upgrade(head, std::move(socket));
    };
    h.on_refusal = [this](int status, const RequestHead*) { return refusal(status); };
    h.add_headers = [this](const RequestHead& head, HeaderList& headers) {
      cors_headers(head, headers);
    };
    h.on_done = [this](const RequestHead& head, int status, const LogFigures& figures) {
      access_log.write(head, status, figures);
    };
    return h;
  }

  std::optional<HttpResponse> on_head(const RequestHead& head);
  std::variant<HttpResponse, WebSocketEvents> on_upgrade(const RequestHead& head,
                                                         std::shared_ptr<WebSocket> socket);
  void on_request(const RequestHead& head, std::string body, std::shared_ptr<Exchange> x);
  void audio(Endpoint endpoint, const RequestHead& head, std::string body, Exchange& x);
  HttpResponse refusal(int status) const;
  std::optional<HttpResponse> refuse_access(const RequestHead& head, const RouteInfo& route) const;
  void cors_headers(const RequestHead& head, HeaderList& headers) const;
  HttpResponse busy() const;
  json health() const;
  // A model as /v1/models lists it.
  json model_object(const std::string& id) const {
    return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "amanuensis"}};
  }
  json batch_figures() const;  // the decoder's batches across requests (null: off)
  ApiError timeout_error() const {
    return {504,
            "The request took longer than the server's limit of " +
                std::to_string(int(config.request_timeout_s)) + " s",
            "", "timeout", "server_error"};
  }

  std::shared_ptr<const Model> model;
  ServerConfig config;
  int threads_per_worker;
  std::shared_ptr<SessionGroup> group;  // the workers', with batch_across_requests
  SessionPool pool;
  ModelFacts facts;
  const TokenText token_text;  // for include[]=logprobs
  AccessLog access_log;
  Transport transport;
  const Clock::time_point started = Clock::now();
  const std::time_t created = std::time(nullptr);
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};
  std::atomic<double> mean_seconds{1.0};  // of a transcription, for Retry-After
  std::atomic<double> audio_seconds{0};   // transcribed, over all requests
  std::atomic<int> realtime_sessions{0};
  std::atomic<uint64_t> realtime_started{0};  // for session ids
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
          {"realtime_sessions", realtime_sessions.load()},
          {"max_realtime_sessions", config.max_realtime_sessions},
          {"connections", transport.connections()},
          {"uptime_s", std::chrono::duration<double>(Clock::now() - started).count()},
          {"audio_seconds_transcribed", audio_seconds.load()},
          {"decoder_batch", batch_figures()}};
}

json Server::Impl::batch_figures() const {
  if (!group) return nullptr;
  const SessionGroup::Load l = group->load();
  return {{"transcriptions", l.decoding},
          {"rows", l.last_step_rows},
          {"steps", l.steps},
          {"mean_rows", l.steps ? double(l.rows) / double(l.steps) : 0.0},
          {"shared_steps", l.shared_steps}};
}

HttpResponse Server::Impl::refusal(int status) const {
  switch (status) {
    case 408:
      return reply({408,
                    "The request's headers or body arrived too slowly (the server wants the "
                    "headers within " +
                        std::to_string(int(config.header_timeout_s)) + " s and at least " +
                        std::to_string(int(config.min_upload_rate)) + " bytes/s of body)",
                    "", "request_timeout"});
    case 413:
      return reply({413,
                    "The upload is larger than the server's limit of " +
                        std::to_string(config.max_upload_bytes >> 20) + " MiB",
                    "file", "file_too_large"});
    case 431:
      return reply({431, "The request's headers are too large", "", "headers_too_large"});
    case 500:
      return reply(
          {500, "The server failed on this request", "", "internal_error", "server_error"});
    case 503: {
      HttpResponse r = reply({503, "The server has too many open connections; retry later", "",
                              "too_many_connections", "server_error"});
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
  }
  return reply({400, "The request is not valid HTTP/1.1", "", "bad_request"});
}

HttpResponse Server::Impl::busy() const {
  HttpResponse r =
      reply({429,
             "All " + std::to_string(config.workers) + " workers are busy and " +
                 std::to_string(config.queue_size) + " requests are queued; retry later",
             "", "rate_limit_exceeded", "requests"});
  // The queue's expected wait: the requests in it, then this one, shared
  // among the workers at the recent mean time each.
  const SessionPool::Load load = pool.load();
  const double wait = mean_seconds.load() * (load.queued + 1) / config.workers;
  r.headers.emplace_back("Retry-After", std::to_string(std::max(1, int(std::ceil(wait)))));
  return r;
}

// A CORS preflight's answer, or a 401 without the API key; nullopt to go on.
std::optional<HttpResponse> Server::Impl::refuse_access(const RequestHead& head,
                                                        const RouteInfo& route) const {
  if (head.method == "OPTIONS" && !config.cors_origins.empty()) {
    HttpResponse r{204};
    const std::string asked = header_names(head.header("Access-Control-Request-Headers"));
    r.headers = {
        {"Access-Control-Allow-Methods", route.method},
        {"Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type" : asked},
        {"Access-Control-Max-Age", "600"}};
    return r;
  }
  if (config.api_key.empty() || route.route == Route::kHealth || route.route == Route::kPage)
    return std::nullopt;
  const std::string auth = head.header("Authorization");
  if (same_secret(auth, "Bearer " + config.api_key)) return std::nullopt;
  HttpResponse r = reply({401,
                          auth.empty() ? "No API key was given (Authorization: Bearer <key>)"
                                       : "The API key is not this server's",
                          "", "invalid_api_key"});
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

void Server::Impl::cors_headers(const RequestHead& head, HeaderList& headers) const {
  const std::string origin = head.header("Origin");
  if (config.cors_origins.empty() || origin.empty()) return;
  if (config.cors_origins == "*") {
    headers.emplace_back("Access-Control-Allow-Origin", "*");
  } else {
    size_t start = 0;
    bool listed = false;
    while (start <= config.cors_origins.size() && !listed) {
      size_t end = config.cors_origins.find(',', start);
      if (end == std::string::npos) end = config.cors_origins.size();
      std::string o = config.cors_origins.substr(start, end - start);
      o.erase(0, o.find_first_not_of(' '));
      o.erase(o.find_last_not_of(' ') + 1);
      listed = o == origin;
      start = end + 1;
    }
    headers.emplace_back("Vary", "Origin");
    if (!listed) return;
    headers.emplace_back("Access-Control-Allow-Origin", origin);
  }
  headers.emplace_back("Access-Control-Expose-Headers", "Retry-After");
}

std::optional<HttpResponse> Server::Impl::on_head(const RequestHead& head) {
  const RouteInfo* route = find_route(head.path());
  if (!route) return reply({404, "No such endpoint: " + head.method + " " + head.path(), "", ""});
  if (std::optional<HttpResponse> refused = refuse_access(head, *route)) return refused;
  if (head.method != route->method) {
    HttpResponse r = reply(
        {405, head.method + " is not allowed on " + route->path + " (only " + route->method + ")",
         "", "method_not_allowed"});
    r.headers.emplace_back("Allow", route->method);
    return r;
  }
  if (route->route == Route::kRealtime) {  // an upgrade goes to on_upgrade
    HttpResponse r = reply(
        {426, "/v1/realtime is a WebSocket endpoint (Upgrade: websocket)", "", "upgrade_required"});
    r.headers.emplace_back("Upgrade", "websocket");
    return r;
  }
  if (route->route != Route::kTranscriptions && route->route != Route::kTranslations)
    return std::nullopt;
  if (draining)
    return reply({503, "The server is shutting down", "", "shutting_down", "server_error"});
  if (multipart_boundary(head.header("Content-Type")).empty())
    return reply(
        {400, "Expected a multipart/form-data body with a boundary (Content-Type)", "", ""});
  if (pool.full()) return busy();  // before the upload, not after it
  return std::nullopt;
}

std::variant<HttpResponse, WebSocketEvents> Server::Impl::on_upgrade(
    const RequestHead& head, std::shared_ptr<WebSocket> socket) {
  if (head.path() != "/v1/realtime")
    return reply({404,
                  "No WebSocket endpoint at " + head.path() +
                      " (live transcription: "
                      "/v1/realtime?intent=transcription)",
                  "", ""});
  const std::string intent = query_value(head.target, "intent");
  if (!intent.empty() && intent != "transcription")
    return reply({400, "This server serves transcription sessions only (intent=transcription)",
                  "intent", "unsupported_value"});
  // Browsers cannot set headers on a WebSocket: they may pass the key as a
  // subprotocol, as OpenAI's Realtime API allows.
  const std::vector<std::string> offered = subprotocols(head.header("Sec-WebSocket-Protocol"));
  if (!config.api_key.empty()) {
    bool ok = same_secret(head.header("Authorization"), "Bearer " + config.api_key);
    for (const std::string& p : offered) ok = ok || same_secret(p, kKeyProtocol + config.api_key);
    if (!ok) {
      HttpResponse r = reply({401,
                              "No valid API key (Authorization: Bearer <key>, or the "
                              "subprotocol " +
                                  std::string(kKeyProtocol) + "<key>)",
                              "", "invalid_api_key"});
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
  }
  if (draining)
    return reply({503, "The server is shutting down", "", "shutting_down", "server_error"});
  if (++realtime_sessions > config.max_realtime_sessions) {
    --realtime_sessions;
    HttpResponse r = reply({429,
                            "All " + std::to_string(config.max_realtime_sessions) +
                                " live sessions are in use; retry later",
                            "", "rate_limit_exceeded", "requests"});
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  RealtimeLimits limits;
  limits.threads = config.realtime_threads > 0 ? config.realtime_threads : threads_per_worker;
  limits.max_session_s = config.realtime_max_minutes * 60;
  limits.catch_up_after_s = config.realtime_catch_up_seconds;
  limits.step_s = config.realtime_step_seconds;
  auto in = std::make_shared<InFlight>(in_flight);  // a drain waits for the session's end
  auto session = RealtimeSession::start(model, model->has_vad(), limits, std::move(socket),
                                        "sess_" + std::to_string(++realtime_started), draining,
                                        [this, in]() mutable {
                                          --realtime_sessions;
                                          in.reset();
                                        });
  WebSocketEvents events;
  for (const std::string& p : offered)
    if (p == "realtime") events.subprotocol = p;
  events.on_message = [session](std::string text, bool binary) {
    session->on_message(std::move(text), binary);
  };
  events.on_close = [session] { session->on_close(); };
  return events;
}

void Server::Impl::on_request(const RequestHead& head, std::string body,
                              std::shared_ptr<Exchange> x) {
  const RouteInfo* route = find_route(head.path());
  switch (route->route) {
    case Route::kPage:
      return x->respond({200, "text/html; charset=utf-8", kWebPage, {}, false, {}});
    case Route::kHealth: {
      HttpResponse r{
          draining ? 503 : 200, "application/json", json_text(health()) + "\n", {}, false};
      return x->respond(std::move(r));
    }
    case Route::kModels: {
      json data = json::array();
      for (const std::string& id : {config.model_name, std::string("whisper-1")})
        data.push_back(model_object(id));
      return x->respond({200,
                         "application/json",
                         json_text({{"object", "list"}, {"data", data}}) + "\n",
                         {},
                         false});
    }
    case Route::kModel: {  // GET /v1/models/{id}: the official clients' models.retrieve
      const std::string id = head.path().substr(std::strlen(route->path));
      if (id != config.model_name && id != "whisper-1")
        return x->respond(reply({404,
                                 "The model '" + id + "' does not exist (this server serves '" +
                                     config.model_name + "', also called whisper-1)",
                                 "model", "model_not_found"}));
      return x->respond({200, "application/json", json_text(model_object(id)) + "\n", {}, false});
    }
    case Route::kTranscriptions:
    case Route::kTranslations:
      break;
    case Route::kRealtime:  // answered in on_head
      return;
  }
  // The work runs on its own thread; the I/O thread goes on serving.
  const Endpoint endpoint =
      route->route == Route::kTranslations ? Endpoint::kTranslations : Endpoint::kTranscriptions;
  auto in = std::make_shared<InFlight>(in_flight);
  std::thread([this, endpoint, head, body = std::move(body), x = std::move(x), in]() mutable {
    try {
      audio(endpoint, head, std::move(body), *x);
    } catch (const std::exception& e) {  // a bug: said to the log, not to the client
      std::fprintf(stderr, "amanuensis serve: internal error: %s\n", e.what());
      x->respond(
          reply({500, "The server failed on this request", "", "internal_error", "server_error"}));
    }
  }).detach();
}

void Server::Impl::audio(Endpoint endpoint, const RequestHead& head, std::string body,
                         Exchange& x) {
  const Clock::time_point deadline =
      head.arrived + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(config.request_timeout_s));
  std::vector<FormField> fields;
  switch (parse_multipart(body, multipart_boundary(head.header("Content-Type")), kMaxFormFields,
                          fields)) {
    case FormError::kNone:
      break;
    case FormError::kTooManyFields:
      return x.respond(
          reply({400, "More than " + std::to_string(kMaxFormFields) + " form fields", "", ""}));
    case FormError::kMalformed:
      return x.respond(
          reply({400, "The multipart/form-data body is malformed or incomplete", "", ""}));
  }
  body = {};
  size_t values = 0;
  const FormField* largest = nullptr;
  for (const FormField& f : fields) {
    values += f.value.size();
    if (!largest || f.value.size() > largest->value.size()) largest = &f;
  }
  if (values > config.max_upload_bytes) {  // the field to blame: the largest
    HttpResponse r = refusal(413);
    if (largest && largest->name != "file")
      r = reply({413,
                 "The form's fields are larger than the server's limit of " +
                     std::to_string(config.max_upload_bytes >> 20) + " MiB (the largest is '" +
                     largest->name + "')",
                 largest->name, "field_too_large"});
    return x.respond(std::move(r));
  }
  if (draining)
    return x.respond(
        reply({503, "The server is shutting down", "", "shutting_down", "server_error"}));
  auto parsed = parse_request(endpoint, fields, facts);
  if (const ApiError* e = std::get_if<ApiError>(&parsed)) return x.respond(reply(*e));
  AudioRequest r = std::get<AudioRequest>(std::move(parsed));
  r.options.word_starts_at_speech = config.word_starts_at_speech;
  try {
    model->check(r.options);
  } catch (const Error& e) {
    return x.respond(reply(engine_error(e)));
  }

  std::shared_ptr<SessionPool::Ticket> ticket = pool.admit();
  if (!ticket) return x.respond(busy());
  // From here every answer carries what the access log reports.
  LogFigures figures;
  const auto answer = [&](HttpResponse response) {
    response.figures = figures;
    x.respond(std::move(response));
  };
  const auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const auto give_up = [&x, deadline] { return x.client_gone() || Clock::now() > deadline; };
  const Clock::time_point queued = Clock::now();
  Session* session = ticket->wait(give_up);
  figures.emplace_back("queue_s", since(queued));
  if (!session) return answer(reply(timeout_error()));  // or nobody is listening any more

  std::vector<float> samples;
  try {
    const FormField& file = fields[r.file];
    const double mb = double(file.value.size()) / (1 << 20);
    samples = decode_audio(
        file.value.data(), file.value.size(), file.filename.empty() ? "file" : file.filename,
        std::min(config.max_audio_seconds, std::max(1.0, config.max_audio_seconds_per_mb * mb)));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kResourceLimit)
      return answer(reply({413,
                           "The audio is too long for this server (at most " +
                               std::to_string(int(config.max_audio_seconds)) + " s, and " +
                               std::to_string(int(config.max_audio_seconds_per_mb)) +
                               " s per MiB uploaded): " + e.what(),
                           "file", "audio_too_long"}));
    return answer(reply({415, std::string("Not audio that can be decoded: ") + e.what(), "file",
                         "invalid_file_format"}));
  }
  fields = {};  // the upload's bytes, no longer needed
  figures.emplace_back("audio_s", double(samples.size()) / kSampleRate);
  const Clock::time_point started_run = Clock::now();

  if (!r.stream) {
    Callbacks cb;
    cb.should_abort = give_up;
    cb.interrupt =
        give_up;  // between layers and steps: a deadline or a gone client frees the worker at once
    Transcription t;
    try {
      t = session->transcribe(samples, r.options, cb);
    } catch (const Error& e) {
      figures.emplace_back("run_s", since(started_run));
      return answer(reply(engine_error(e)));
    }
    ticket.reset();
    figures.emplace_back("run_s", since(started_run));
    if (t.aborted) return answer(reply(timeout_error()));
    mean_seconds = 0.8 * mean_seconds + 0.2 * t.seconds;
    audio_seconds.fetch_add(t.info.duration);
    Body b = response_body(t, r, token_text);
    return answer({200, std::move(b.content_type), std::move(b.text), {}, draining, {}});
  }
  // Streamed: one event per segment as it is decoded.
  if (!x.begin(200, "text/event-stream", {{"Cache-Control", "no-cache"}})) return;
  bool first = true, lost = false;
  const auto send = [&](const std::string& e) { lost = lost || !x.write(e); };
  Callbacks cb;
  cb.on_segment = [&](const Segment& s) {
    send(delta_event(s, first, r.logprobs ? &token_text : nullptr));
    first = false;
  };
  cb.should_abort = [&] { return lost || give_up(); };
  cb.interrupt = cb.should_abort;
  try {
    const Transcription t = session->transcribe(samples, r.options, cb);
    if (!t.aborted) audio_seconds.fetch_add(t.info.duration);
    send(t.aborted ? error_event(timeout_error())
                   : done_event(t, r.logprobs ? &token_text : nullptr));
  } catch (const Error& e) {
    send(error_event(engine_error(e)));
  }
  ticket.reset();  // the next request may start while this one's end is sent
  figures.emplace_back("run_s", since(started_run));
  send(kEventStreamEnd);
  x.end(figures);
}

Server::Server(std::shared_ptr<const Model> model, ServerConfig config) {
  // glibc gives each busy thread its own heap, and the engine asks it never
  // to trim them (util/allocator.cc): across many request threads, uploads
  // freed in one heap stayed resident while the next went to another (1.1 GB
  // peak under load). A few shared heaps keep the peak near what is live.
  mallopt(M_ARENA_MAX, kHeaps);
  impl_ = std::make_unique<Impl>(std::move(model), std::move(config));
}

Server::~Server() = default;

int Server::bind(const std::string& host, int port) { return impl_->transport.bind(host, port); }

void Server::run() { impl_->transport.run(); }

void Server::drain() {
  impl_->draining = true;
  while (impl_->in_flight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl_->transport.stop();
}

}  // namespace amanuensis::server
