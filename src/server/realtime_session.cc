#include "server/realtime_session.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "server/openai_format.h"

namespace amanuensis::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The client's samples go to the resampler in blocks of this many
// milliseconds whatever the messages hold, so the same audio gives the same
// 16 kHz samples however it was cut into messages.
constexpr int kBlockMs = 20;
// OpenAI refuses to commit less than this.
constexpr double kMinClientCommitSeconds = 0.1;
// How often the session's thread looks at the drain flag and the clock.
constexpr auto kPoll = std::chrono::milliseconds(100);

}  // namespace

RealtimeSession::RealtimeSession(std::shared_ptr<const Model> model, bool has_vad,
                                 RealtimeLimits limits, std::shared_ptr<WebSocket> socket,
                                 std::string id, const std::atomic<bool>& draining,
                                 std::function<void()> on_end)
    : model_(std::move(model)),
      has_vad_(has_vad),
      limits_(limits),
      socket_(std::move(socket)),
      id_(std::move(id)),
      draining_(draining),
      on_end_(std::move(on_end)) {
  config_.turn_detection = has_vad_;  // OpenAI's default where it can be served
}

std::shared_ptr<RealtimeSession> RealtimeSession::start(std::shared_ptr<const Model> model,
                                                        bool has_vad, RealtimeLimits limits,
                                                        std::shared_ptr<WebSocket> socket,
                                                        std::string id,
                                                        const std::atomic<bool>& draining,
                                                        std::function<void()> on_end) {
  auto s = std::make_shared<RealtimeSession>(std::move(model), has_vad, limits, std::move(socket),
                                             std::move(id), draining, std::move(on_end));
  std::thread([s] { s->run(); }).detach();
  return s;
}

void RealtimeSession::on_message(std::string text, bool binary) {
  std::lock_guard<std::mutex> lock(mu_);
  if (backlog_bytes_ + text.size() > limits_.max_backlog_bytes) {
    overrun_ = true;  // the transcription is this far behind the client's audio
  } else {
    backlog_bytes_ += text.size();
    queue_.push_back({std::move(text), binary, Clock::now()});
  }
  wake_.notify_one();
}

void RealtimeSession::on_close() {
  std::lock_guard<std::mutex> lock(mu_);
  gone_ = true;
  wake_.notify_one();
}

void RealtimeSession::run() {
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(limits_.max_session_s));
  const auto catch_up_after = std::chrono::duration<double>(limits_.catch_up_after_s);
  try {
    make_stream();
    send("session.created", {{"session", session_object(config_, id_)}});
    for (;;) {
      std::vector<Message> batch;  // one message, or all queued when behind
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait_for(lock, kPoll, [&] { return !queue_.empty() || gone_ || overrun_; });
        if (gone_) break;  // nobody to tell: the stream is dropped
        if (overrun_) {
          lock.unlock();
          const ApiError e{503,
                           "The server cannot transcribe this stream as fast as its audio "
                           "arrives; try again later",
                           "", "server_overloaded", "server_error"};
          end(1013, "try again later", &e);
          break;
        }
        if (draining_) {
          lock.unlock();
          end(1001, "the server is shutting down", nullptr);
          break;
        }
        if (Clock::now() > deadline) {
          lock.unlock();
          char message[96];
          std::snprintf(message, sizeof message,
                        "The session reached the server's limit of %g minutes",
                        limits_.max_session_s / 60);
          const ApiError e{400, message, "", "session_expired"};
          end(1000, "session expired", &e);
          break;
        }
        if (queue_.empty()) continue;
        const bool behind =
            limits_.catch_up_after_s > 0 && Clock::now() - queue_.front().arrived >= catch_up_after;
        do {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
          backlog_bytes_ -= batch.back().text.size();
        } while (behind && !queue_.empty());
      }
      catching_up_ = batch.size() > 1;
      for (const Message& m : batch) handle(m.text, m.binary);
      push_late_audio();
      catching_up_ = false;
      take_new_settings();
    }
  } catch (
      const std::exception& e) {  // the engine failed on this stream: said, and the socket closed
    std::fprintf(stderr, "amanuensis serve: realtime session %s: %s\n", id_.c_str(), e.what());
    send_error({500, "The server failed on this session", "", "internal_error", "server_error"});
    socket_->close(1011, "internal error");
  }
  stream_.reset();
  on_end_();
}

void RealtimeSession::end(int code, const std::string& reason, const ApiError* error) {
  if (error) send_error(*error);
  stream_->finish();  // the turn's words, committed
  socket_->close(code, reason);
}

void RealtimeSession::handle(const std::string& text, bool binary) {
  if (binary)
    return send_error({400, "Binary messages are not events: send JSON text", "", "invalid_json"});
  ClientEvent e = parse_client_event(text, config_, has_vad_);
  if (e.kind != ClientEvent::kAppend) push_late_audio();  // the audio before the event
  switch (e.kind) {
    case ClientEvent::kInvalid:
      return send_error(e.error, e.event_id);
    case ClientEvent::kUpdate:
      try {
        TranscribeOptions probe;
        probe.language = e.config.language.empty() ? "auto" : e.config.language;
        model_->check(probe);
      } catch (const Error& x) {
        return send_error(
            {400, x.what(), "session.audio.input.transcription.language", "invalid_value"},
            e.event_id);
      }
      apply(e.config);
      send("session.updated", {{"session", session_object(config_, id_)}});
      break;
    case ClientEvent::kAppend:
      append(e.audio);
      break;
    case ClientEvent::kCommit:
      if (stream_->turn_seconds() < kMinClientCommitSeconds) {
        char message[160];
        std::snprintf(message, sizeof message,
                      "Buffer too small: at least %d ms of audio are needed, the buffer has %d ms",
                      int(kMinClientCommitSeconds * 1000), int(stream_->turn_seconds() * 1000));
        return send_error({400, message, "", "input_audio_buffer_commit_empty"}, e.event_id);
      }
      manual_end_ = true;
      stream_->end_turn();
      manual_end_ = false;
      break;
    case ClientEvent::kClear:
      stream_->clear();
      item_id_.clear();  // the turn's item is dropped with its audio
      turn_text_.clear();
      partial_.clear();
      send("input_audio_buffer.cleared", json::object());
      break;
  }
  take_new_settings();
}

void RealtimeSession::take_new_settings() {
  // Between turns, before the next audio (none may wait in late_: it is the
  // old settings' turn's).
  if (recreate_ && late_.empty() && stream_->turn_seconds() == 0) make_stream();
}

void RealtimeSession::append(const std::vector<int16_t>& pcm) {
  const size_t block = size_t(config_.rate * kBlockMs / 1000);
  for (int16_t x : pcm) {
    block_.push_back(float(x) / 32768.0f);
    if (block_.size() < block) continue;
    sink_->push(block_.data(), block_.size());
    block_.clear();
    const std::vector<float> samples = sink_->take();
    streamed_s_ += double(samples.size()) / 16000;
    if (catching_up_)
      late_.insert(late_.end(), samples.begin(), samples.end());
    else
      stream_->push(samples.data(), samples.size());
  }
}

void RealtimeSession::push_late_audio() {
  if (late_.empty()) return;
  stream_->catch_up(late_.data(), late_.size());
  late_.clear();
}

void RealtimeSession::apply(const RealtimeConfig& config) {
  const bool rate_changed = config.rate != config_.rate;
  config_ = config;
  if (rate_changed) {  // the next samples are at the new rate
    block_.clear();
    sink_ = std::make_unique<audio::MonoSink>(config_.rate, 1, "the session's audio",
                                              limits_.max_session_s * 2);
  }
  recreate_ = true;  // now, or when the current turn ends
}

void RealtimeSession::make_stream() {
  recreate_ = false;
  if (!sink_)
    sink_ = std::make_unique<audio::MonoSink>(config_.rate, 1, "the session's audio",
                                              limits_.max_session_s * 2);
  StreamingOptions o;  // live defaults: greedy, no temperature fallback
  o.transcribe.language = config_.language.empty() ? "auto" : config_.language;
  o.transcribe.initial_prompt = config_.prompt;
  o.step_seconds = limits_.step_s;
  o.turn_detection.enabled = config_.turn_detection;
  o.turn_detection.threshold = float(config_.threshold);
  o.turn_detection.prefix_padding_seconds = config_.prefix_padding_ms / 1000.0;
  o.turn_detection.silence_seconds = config_.silence_duration_ms / 1000.0;

  StreamingCallbacks cb;
  cb.on_speech_started = [this](double start) {
    send("input_audio_buffer.speech_started", {{"audio_start_ms", ms(start)}, {"item_id", item()}});
  };
  cb.on_commit = [this](const std::vector<Word>& words) {
    std::string text;
    for (const Word& w : words) text += w.word;
    if (turn_text_.empty()) text.erase(0, text.find_first_not_of(' '));
    if (text.empty()) return;
    turn_text_ += text;
    send("conversation.item.input_audio_transcription.delta",
         {{"item_id", item()}, {"content_index", 0}, {"delta", text}});
  };
  cb.on_partial = [this](const std::string& text) {
    if (text == partial_) return;
    partial_ = text;
    // Not OpenAI's: the words after the committed ones, which may change.
    send("amanuensis.partial", {{"item_id", item()}, {"text", text}});
  };
  cb.on_turn_end = [this](double end) {
    const std::string id = item();
    if (!manual_end_)
      send("input_audio_buffer.speech_stopped", {{"audio_end_ms", ms(end)}, {"item_id", id}});
    send("input_audio_buffer.committed",
         {{"previous_item_id", previous_item_id_.empty() ? json(nullptr) : json(previous_item_id_)},
          {"item_id", id}});
    send("conversation.item.input_audio_transcription.completed",
         {{"item_id", id}, {"content_index", 0}, {"transcript", turn_text_}});
    previous_item_id_ = id;
    item_id_.clear();
    turn_text_.clear();
    partial_.clear();
  };
  stream_.reset();
  offset_s_ += streamed_s_;
  streamed_s_ = 0;
  stream_ = std::make_unique<StreamingSession>(model_, limits_.threads, o, std::move(cb));
}

void RealtimeSession::send(const std::string& type, json fields) {
  fields["type"] = type;
  fields["event_id"] = "event_" + std::to_string(++events_);
  socket_->send(json_text(fields));
}

void RealtimeSession::send_error(const ApiError& e, const std::string& client_event_id) {
  send("error", {{"error", error_object(e, client_event_id)}});
}

const std::string& RealtimeSession::item() {
  if (item_id_.empty()) item_id_ = "item_" + std::to_string(++items_);
  return item_id_;
}

int64_t RealtimeSession::ms(double stream_seconds) const {
  return std::llround((offset_s_ + stream_seconds) * 1000);
}

}  // namespace amanuensis::server
