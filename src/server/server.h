// amanuensis serve: an OpenAI-compatible transcription server over the public
// API. One Model, `workers` Sessions (optionally in one SessionGroup: the
// decoder steps of concurrent requests run as one batch); requests beyond
// them wait in a bounded FIFO queue, and beyond that get 429. Live sessions (WebSocket) each have a
// StreamingSession of their own, and a page at / to try them. See
// docs/server.md.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::server {

struct ServerConfig {
  std::string model_name;      // what clients pass as `model` ("whisper-1" works too)
  int workers = 1;             // concurrent transcriptions
  int threads_per_worker = 0;  // 0: the machine's cores / workers
  // The workers' decoder steps run as one batch (SessionGroup). Off by
  // default: at base on 2 cores it measured no faster, 0.95x (docs/server.md).
  bool batch_across_requests = false;
  int queue_size = 16;         // requests that may wait for a worker
  size_t max_upload_bytes = size_t(25) << 20;  // OpenAI's limit
  double request_timeout_s = 600;  // from the request's headers to its answer's last byte
  // The transport's deadlines and caps (server/transport.h).
  double header_timeout_s = 10;   // from a request's first byte to its last header
  double idle_timeout_s = 60;     // a kept-alive connection without a request
  double min_upload_rate = 4096;  // bytes per second, on average, after header_timeout_s
  int max_connections = 512;
  // Decoded audio longer than this is refused (413) before or while it is
  // decoded, so that a small compressed upload cannot hold hours.
  double max_audio_seconds = 3600;
  // ...and at most this many seconds per MiB of upload: below 512 bytes a
  // second (4 kbps) no common codec carries speech; Opus at its lowest
  // useful rate for speech (6 kbps) is 1365 s per MiB.
  double max_audio_seconds_per_mb = 2048;
  // Access: requests other than /health need `Authorization: Bearer <key>`
  // when api_key is set; browsers from these origins may call (comma-separated,
  // or "*"); "" for neither.
  std::string api_key, cors_origins;
  std::string access_log, access_log_format = "plain";  // server/access_log.h
  // Word timings: starts where speech resumes after a pause inside a word
  // (TranscribeOptions::word_starts_at_speech; the model needs VAD weights).
  bool word_starts_at_speech = false;
  // Live transcription over WebSocket (/v1/realtime, OpenAI's Realtime API in
  // transcription mode): at most this many sessions at once (beyond: 429),
  // each at most this long (wall clock), each on this many threads (0:
  // threads_per_worker).
  int max_realtime_sessions = 4;
  double realtime_max_minutes = 60;
  int realtime_threads = 0;
  // New audio between two hypotheses of a session (StreamingOptions). Shorter
  // than the library's second: catching up keeps a busy server's sessions
  // from falling behind, so an idle one can answer sooner (docs/server.md).
  double realtime_step_seconds = 0.4;
  // A session whose oldest unhandled message has waited this long is behind
  // the client: it takes all its queued audio as one late push
  // (StreamingSession::catch_up). 0: never.
  double realtime_catch_up_seconds = 0.5;
};

class Server {
 public:
  Server(std::shared_ptr<const Model> model, ServerConfig config);
  ~Server();
  // Port 0: any free port. Returns the port bound; throws Error.
  int bind(const std::string& host, int port);
  void run();  // serves until drain() has finished
  // From any thread: new requests get 503, admitted ones finish, then run() returns.
  void drain();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace amanuensis::server
