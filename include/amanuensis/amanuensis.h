// amanuensis: Whisper speech-to-text on a plain CPU.
//
//   auto model = amanuensis::Model::load("path/to/model");    // once; immutable, shareable
//   amanuensis::Session session(model, /*threads=*/2);         // one per concurrent user
//   amanuensis::Transcription t =
//       session.transcribe(amanuensis::load_audio("talk.m4a"), {}, callbacks);
//
// A Model holds the weights and vocabulary and never changes after load, so
// any number of Sessions (each with its own threads, buffers and caches) can
// use it at once. Every function throws amanuensis::Error with a one-line
// message on bad input. The same audio, options and model give the same bytes
// out on every CPU and thread count.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "amanuensis/types.h"

namespace amanuensis {

class AMANUENSIS_API Model {
 public:
  // A CTranslate2 / faster-whisper folder, a Hugging Face folder or a
  // whisper.cpp ggml .bin. Throws Error.
  static std::shared_ptr<const Model> load(const std::string& path,
                                           const ModelOptions& options = {});
  ~Model();

  bool multilingual() const;
  std::vector<std::string> languages() const;  // codes the model knows
  std::string format() const;                  // "CTranslate2", "Hugging Face", "whisper.cpp ggml"
  Precision precision() const;
  Backend backend() const;  // the instruction set the int8 kernels run on (never kAuto)
  int n_mels() const;
  bool has_vad() const;  // loaded with ModelOptions::vad_model
  // What token `id` stands for: a text token's bytes (which may be part of a
  // UTF-8 character: Whisper's tokens are byte pairs), a special token's name
  // ("<|en|>", "<|1.08|>"). Throws Error (kBadInput) outside the vocabulary.
  std::string token_bytes(int id) const;
  // False for the special tokens (end of text, start, languages, tasks,
  // timestamps) and ids outside the vocabulary.
  bool is_text_token(int id) const;
  // The one check of TranscribeOptions, which Session::transcribe makes too:
  // throws Error naming the option if this model cannot honour them (an
  // unknown language, translation with an English-only model, VAD without
  // its weights, impossible values). Callers that take options from users
  // (the CLI, the server, the bindings) call it before any work.
  void check(const TranscribeOptions& options) const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sessions that transcribe at the same time on different threads, as a
// server's concurrent requests do: the decoder steps of all their
// transcriptions run as one batch (continuous batching: a transcription's
// rows join at its next step and leave when its window is decoded), so the
// decoder's weights are read once a step for all of them. Each transcription
// is the same bytes as on a Session of its own. It pays only where the
// weights outweigh what each window reads alone (its cross-attention K/V:
// as much, for base) and the transcriptions' threads outnumber the cores; on
// 2 cores with base it measured no faster (docs/server.md, "Batching across
// requests").
class AMANUENSIS_API SessionGroup {
 public:
  // threads: of the steps that hold several Sessions' rows (<= 0: the
  // machine's cores); a Session's own threads run the rest.
  explicit SessionGroup(std::shared_ptr<const Model> model, int threads = 0);
  ~SessionGroup();
  SessionGroup(const SessionGroup&) = delete;
  SessionGroup& operator=(const SessionGroup&) = delete;

  const std::shared_ptr<const Model>& model() const;
  struct Load {
    int decoding = 0;           // transcriptions in their decoder steps now
    int last_step_rows = 0;     // rows (beams, samples) in the latest step
    uint64_t steps = 0;         // steps run so far
    uint64_t rows = 0;          // rows over all of them
    uint64_t shared_steps = 0;  // steps that held more than one transcription's rows
  };
  Load load() const;
  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class AMANUENSIS_API Session {
 public:
  // threads <= 0: the machine's cores.
  explicit Session(std::shared_ptr<const Model> model, int threads = 0);
  // In a group: its decoder steps batched with the other members'.
  Session(std::shared_ptr<SessionGroup> group, int threads);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // samples: 16 kHz mono, as load_audio gives them. Throws Error for bad options.
  Transcription transcribe(const std::vector<float>& samples, const TranscribeOptions& options = {},
                           const Callbacks& callbacks = {});
  // Several recordings. With options.batch_size > 1 their chunks are decoded
  // together (batched mode across recordings), each result the bytes that
  // recording gets alone, `seconds` the whole batch's; else one after
  // another. callbacks: one per recording, or none.
  std::vector<Transcription> transcribe_many(const std::vector<std::vector<float>>& recordings,
                                             const TranscribeOptions& options = {},
                                             const std::vector<Callbacks>& callbacks = {});

 private:
  struct State;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<SessionGroup> group_;  // or none
  std::unique_ptr<State> state_;
};

// Live transcription of one stream (types.h: StreamingOptions): push samples
// as they arrive, get committed and partial text through the callbacks. The
// hypotheses run at fixed sample counts (every step_seconds), on the caller's
// thread inside push(), so the same audio gives the same events however it
// is cut into pushes.
class AMANUENSIS_API StreamingSession {
 public:
  // threads <= 0: the machine's cores. Throws Error for bad options.
  StreamingSession(std::shared_ptr<const Model> model, int threads = 0,
                   const StreamingOptions& options = {}, StreamingCallbacks callbacks = {});
  // In a group (SessionGroup): its decoder steps batched with the others'.
  StreamingSession(std::shared_ptr<SessionGroup> group, int threads,
                   const StreamingOptions& options = {}, StreamingCallbacks callbacks = {});
  ~StreamingSession();
  StreamingSession(const StreamingSession&) = delete;
  StreamingSession& operator=(const StreamingSession&) = delete;

  // 16 kHz mono samples; throws Error for non-finite ones or after finish().
  void push(const float* samples, size_t count);
  // As push(), for audio that arrived late (a live feed that fell behind):
  // one hypothesis, at the last step the samples reach, not one per step, so
  // the stream catches up instead of falling further behind. For samples of
  // at most a step, the same events as push().
  void catch_up(const float* samples, size_t count);
  // Ends the current turn now: its audio is transcribed and all its words
  // committed. Returns false (and calls nothing) when the turn holds no audio.
  bool end_turn();
  // Drops the current turn's audio and its words not yet committed.
  void clear();
  // Seconds of audio in the current turn (0 between turns).
  double turn_seconds() const;
  // The end of the stream: the current turn ends; push() may not follow.
  void finish();
  const std::string& committed_text() const;
  double received_seconds() const;
  // The audio the latest hypothesis covered, in seconds since the first
  // sample (inside a callback: the one that reports).
  double hypothesized_seconds() const;
  // The stream's language ("" until known).
  const std::string& language() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Any audio or video file with an audio stream -> 16 kHz mono float samples.
AMANUENSIS_API std::vector<float> load_audio(const std::string& path);
// The same from bytes in memory; `name` appears in errors.
AMANUENSIS_API std::vector<float> decode_audio(const void* bytes, size_t size, const std::string& name);
// ...refusing audio longer than `max_seconds` (at most 4 hours) with a
// kResourceLimit Error: before decoding when the container says so, else as
// soon as the decoded samples pass it, so memory stays within the limit.
AMANUENSIS_API std::vector<float> decode_audio(const void* bytes, size_t size,
                                               const std::string& name, double max_seconds);

// Where models are cached (scripts/fetch_models.py puts them there):
// $AMANUENSIS_MODELS if set, else ~/.cache/amanuensis/models.
AMANUENSIS_API std::string model_cache_dir();

// openai-whisper's "language code -> English name" table, for display.
AMANUENSIS_API std::string language_name(const std::string& code);

}  // namespace amanuensis
