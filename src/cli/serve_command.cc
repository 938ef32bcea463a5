// amanuensis serve: the OpenAI-compatible transcription server (src/server/).
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "server/server.h"

namespace amanuensis::cli {
namespace {

int stop_pipe[2];  // written by the SIGINT/SIGTERM handler

struct ServeArgs {
  std::string model, host = "127.0.0.1", vad_model, api_key_file;
  ModelOptions model_options;
  int port = 8000, max_upload_mb = 25;
  server::ServerConfig config;
};

// What clients call the model: its folder's name ("base"), or a file's stem
// ("." and ".." resolved against the working folder).
std::string model_name(const std::string& path) {
  std::filesystem::path p = std::filesystem::absolute(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return std::filesystem::is_directory(p) ? p.filename().string() : p.stem().string();
}

void check_range(const char* flag, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi)) {
    char range[64];
    std::snprintf(range, sizeof range, "%g to %g", lo, hi);
    throw Error(std::string(flag) + " must be " + range);
  }
}

// --api-key, else --api-key-file's first line, else $AMANUENSIS_API_KEY; "" for none.
std::string api_key(const ServeArgs& a) {
  std::string key = a.config.api_key;
  if (!a.api_key_file.empty()) {
    if (!key.empty()) throw Error("give --api-key or --api-key-file, not both");
    std::ifstream f(a.api_key_file);
    if (!f || !std::getline(f, key)) throw Error("cannot read an API key from " + a.api_key_file);
    if (!key.empty() && key.back() == '\r') key.pop_back();
    if (key.empty()) throw Error("the first line of " + a.api_key_file + " is empty");
  } else if (key.empty()) {
    if (const char* env = std::getenv("AMANUENSIS_API_KEY")) key = env;
  }
  for (char c : key)
    if (c < 0x21 || c > 0x7e) throw Error("the API key must be printable ASCII without spaces");
  return key;
}

int run(ServeArgs a) {
  check_range("--port", a.port, 0, 65535);
  check_range("--workers", a.config.workers, 1, 64);
  check_range("--threads-per-worker", a.config.threads_per_worker, 0, 256);
  check_range("--queue-size", a.config.queue_size, 0, 10000);
  check_range("--max-upload-mb", a.max_upload_mb, 1, 4096);
  check_range("--request-timeout", a.config.request_timeout_s, 1, 86400);
  check_range("--header-timeout", a.config.header_timeout_s, 1, 3600);
  check_range("--idle-timeout", a.config.idle_timeout_s, 1, 86400);
  check_range("--min-upload-rate", a.config.min_upload_rate, 0, 1e9);
  check_range("--max-connections", a.config.max_connections, 1, 100000);
  check_range("--max-audio-seconds", a.config.max_audio_seconds, 1, 4 * 3600);
  check_range("--max-audio-seconds-per-mb", a.config.max_audio_seconds_per_mb, 1, 1e9);
  check_range("--max-live-sessions", a.config.max_realtime_sessions, 0, 1000);
  check_range("--live-max-minutes", a.config.realtime_max_minutes, 0.05, 24 * 60);
  check_range("--live-threads", a.config.realtime_threads, 0, 256);
  check_range("--live-catch-up", a.config.realtime_catch_up_seconds, 0, 3600);
  check_range("--live-step", a.config.realtime_step_seconds, 0.1, 10);
  a.config.max_upload_bytes = size_t(a.max_upload_mb) << 20;
  a.config.api_key = api_key(a);

  // SIGINT and SIGTERM wake a thread that drains the server. A handler and a
  // pipe, not a blocked mask: libraries (OpenBLAS) start threads at load time.
  if (pipe(stop_pipe) != 0) throw Error("cannot create a pipe");
  struct sigaction on_stop {};
  on_stop.sa_handler = [](int) { (void)!write(stop_pipe[1], "x", 1); };
  sigaction(SIGINT, &on_stop, nullptr);
  sigaction(SIGTERM, &on_stop, nullptr);

  const std::string path = a.model.empty() ? default_model() : a.model;
  if (a.config.word_starts_at_speech)
    a.model_options.vad_model = vad_model_for(a.vad_model, "--word-starts speech (the default)");
  else if (!a.vad_model.empty() || std::filesystem::exists(default_vad_model()))
    a.model_options.vad_model =
        a.vad_model.empty() ? default_vad_model() : a.vad_model;  // live turns
  const std::shared_ptr<const Model> model = Model::load(path, a.model_options);
  a.config.model_name = model_name(path);
  server::Server server(model, a.config);
  const int port = server.bind(a.host, a.port);
  std::fprintf(stderr, "amanuensis: serving %s (%s, %s) on http://%s:%d\n",
               a.config.model_name.c_str(), to_string(model->precision()), to_string(model->backend()),
               a.host.c_str(), port);
  const bool loopback = a.host == "127.0.0.1" || a.host == "::1" || a.host == "localhost";
  if (a.config.api_key.empty() && !loopback)
    std::fprintf(stderr,
                 "amanuensis: warning: no API key (--api-key-file): anyone who reaches %s:%d can "
                 "use this server\n",
                 a.host.c_str(), port);
  std::atomic<bool> serving{true};
  std::thread waiter([&] {
    char byte;
    while (read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (!serving) return;
    std::fprintf(stderr, "amanuensis: draining: finishing the requests in flight\n");
    server.drain();
  });
  server.run();
  serving = false;
  (void)!write(stop_pipe[1], "x", 1);  // ends the wait if no signal came
  waiter.join();
  std::fprintf(stderr, "amanuensis: stopped\n");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd =
      app.add_subcommand("serve", "OpenAI-compatible transcription server (docs/server.md)");
  cmd->add_option("--model", args->model,
                  "Model folder or file (default: base in ~/.cache/amanuensis/models)");
  cmd->add_option("--host", args->host, "Address to listen on");
  cmd->add_option("--port", args->port, "Port (0: any free one, printed on stderr)");
  cmd->add_option("--workers", args->config.workers, "Transcriptions that run at once");
  cmd->add_flag("--batch-across-requests", args->config.batch_across_requests,
                "Run the workers' decoder steps as one batch (same transcripts; measured no "
                "faster at base on 2 cores: docs/server.md)");
  cmd->add_option("--threads-per-worker", args->config.threads_per_worker,
                  "Threads of each transcription (0: cores / workers)");
  cmd->add_option("--queue-size", args->config.queue_size,
                  "Requests that may wait for a worker; beyond them: 429");
  cmd->add_option("--max-upload-mb", args->max_upload_mb, "Largest upload, in MiB; beyond: 413");
  cmd->add_option("--request-timeout", args->config.request_timeout_s,
                  "Seconds a request may take in all, queue included; beyond: 504");
  cmd->add_option("--header-timeout", args->config.header_timeout_s,
                  "Seconds from a request's first byte to its last header; beyond: dropped");
  cmd->add_option("--idle-timeout", args->config.idle_timeout_s,
                  "Seconds a kept-alive connection may wait for its next request, or a client "
                  "for its answer");
  cmd->add_option("--min-upload-rate", args->config.min_upload_rate,
                  "Bytes per second an upload must average after --header-timeout; below: 408");
  cmd->add_option("--max-audio-seconds", args->config.max_audio_seconds,
                  "Longest decoded audio a request may hold (at most 4 hours); beyond: 413");
  cmd->add_option("--max-audio-seconds-per-mb", args->config.max_audio_seconds_per_mb,
                  "...and at most this many per MiB of upload (2048: 4 kbps); beyond: 413");
  cmd->add_option("--max-connections", args->config.max_connections,
                  "Open connections at once; beyond: 503 and closed");
  cmd->add_option("--api-key", args->config.api_key,
                  "Requests but /health need 'Authorization: Bearer KEY' (visible to ps: prefer "
                  "--api-key-file or AMANUENSIS_API_KEY)");
  cmd->add_option("--api-key-file", args->api_key_file, "Read the API key from this file");
  cmd->add_option("--cors-origin", args->config.cors_origins,
                  "Browser origins allowed to call (comma-separated, or *)");
  cmd->add_option("--access-log", args->config.access_log,
                  "A line per request to this file (- : stderr); never audio or text");
  cmd->add_option("--access-log-format", args->config.access_log_format, "plain or json");
  add_precision_option(*cmd, args->model_options.precision);
  args->config.word_starts_at_speech = true;  // the CLI's default: --word-starts speech
  add_word_starts_option(*cmd, args->config.word_starts_at_speech);
  cmd->add_option("--max-live-sessions", args->config.max_realtime_sessions,
                  "Live transcription sessions (WebSocket /v1/realtime) at once; beyond: 429")
      ->capture_default_str();
  cmd->add_option("--live-max-minutes", args->config.realtime_max_minutes,
                  "A live session's longest duration (wall clock)")
      ->capture_default_str();
  cmd->add_option("--live-threads", args->config.realtime_threads,
                  "Threads of each live session (0: --threads-per-worker)");
  cmd->add_option("--live-step", args->config.realtime_step_seconds,
                  "Seconds of new audio between two hypotheses of a live session")
      ->capture_default_str();
  cmd->add_option("--live-catch-up", args->config.realtime_catch_up_seconds,
                  "A live session whose audio waited this many seconds is behind: it transcribes "
                  "all its queued audio in one hypothesis, not one per step (0: never)")
      ->capture_default_str();
  cmd->add_option("--vad-model", args->vad_model,
                  "Silero VAD weights for --word-starts speech and live turn detection (default: "
                  "silero-vad/silero_vad_v6_16k.safetensors in ~/.cache/amanuensis/models)");
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::cli
