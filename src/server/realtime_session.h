// One Realtime API transcription session on a WebSocket: the client's
// messages are queued on the I/O thread and handled in order on the
// session's own thread, where a StreamingSession transcribes the audio and
// its callbacks become server events. docs/server.md lists the events.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "amanuensis/amanuensis.h"
#include "audio/mono_sink.h"
#include "server/realtime_protocol.h"
#include "server/transport.h"

namespace amanuensis::server {

struct RealtimeLimits {
  int threads = 1;              // the StreamingSession's
  double step_s = StreamingOptions{}.step_seconds;
  double max_session_s = 3600;  // wall-clock, then session_expired
  size_t max_backlog_bytes =
      4 << 20;  // of messages not yet handled: beyond, the client is too fast
  // A message that waited this long before its turn: the session is behind,
  // and all the audio queued takes one hypothesis (ServerConfig). 0: never.
  double catch_up_after_s = 0;
};

class RealtimeSession : public std::enable_shared_from_this<RealtimeSession> {
 public:
  // Sends session.created and serves on a thread of its own until the
  // client leaves, the session expires or `draining` turns true (its turn
  // is then committed and the socket closed with 1001); `on_end` is called
  // last, on that thread.
  static std::shared_ptr<RealtimeSession> start(std::shared_ptr<const Model> model, bool has_vad,
                                                RealtimeLimits limits,
                                                std::shared_ptr<WebSocket> socket, std::string id,
                                                const std::atomic<bool>& draining,
                                                std::function<void()> on_end);
  // From the transport's I/O thread.
  void on_message(std::string text, bool binary);
  void on_close();

  RealtimeSession(std::shared_ptr<const Model> model, bool has_vad, RealtimeLimits limits,
                  std::shared_ptr<WebSocket> socket, std::string id,
                  const std::atomic<bool>& draining, std::function<void()> on_end);

 private:
  void run();
  void handle(const std::string& text, bool binary);
  void append(const std::vector<int16_t>& pcm);
  void push_late_audio();  // what append() kept while catching up
  void commit();
  void apply(const RealtimeConfig& config);
  void make_stream();
  void take_new_settings();  // a new stream for changed settings, when they may take effect
  // Ends the session: the turn committed, an error said if any, the socket closed.
  void end(int code, const std::string& reason, const ApiError* error);

  void send(const std::string& type, nlohmann::json fields);
  void send_error(const ApiError& e, const std::string& client_event_id = "");
  const std::string& item();  // the current turn's item id, made on first use
  int64_t ms(double stream_seconds) const;

  const std::shared_ptr<const Model> model_;
  const bool has_vad_;
  const RealtimeLimits limits_;
  const std::shared_ptr<WebSocket> socket_;
  const std::string id_;
  const std::atomic<bool>& draining_;
  const std::function<void()> on_end_;

  // Between the I/O thread and the session's.
  struct Message {
    std::string text;
    bool binary;
    std::chrono::steady_clock::time_point arrived;
  };
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Message> queue_;
  size_t backlog_bytes_ = 0;
  bool gone_ = false, overrun_ = false;

  // The session's thread only.
  RealtimeConfig config_;
  std::unique_ptr<StreamingSession> stream_;
  std::unique_ptr<audio::MonoSink> sink_;  // the client's rate -> 16 kHz
  std::vector<float> block_;               // client samples short of a whole block
  double offset_s_ = 0;                    // stream_'s start on the session's timeline
  double streamed_s_ = 0;                  // 16 kHz audio pushed into stream_
  bool catching_up_ = false;               // handling a backlog: audio kept in late_
  std::vector<float> late_;                // 16 kHz, for one StreamingSession::catch_up
  bool recreate_ = false;                  // settings changed mid-turn: a new stream after it
  bool manual_end_ = false;                // the turn ends by commit, not by silence
  std::string item_id_, previous_item_id_, turn_text_, partial_;
  uint64_t events_ = 0, items_ = 0;
};

}  // namespace amanuensis::server
