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

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace amanuensis {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ModelOptions {
  std::string precision = "int8";  // "int8" (fast) or "fp32" (the float yardstick)
  std::string backend = "auto";    // int8 kernels: "auto", "avx512", "avx2" or "reference"
  // Silero VAD v6 weights (silero_vad_v6_16k.safetensors), needed only for
  // TranscribeOptions::vad_filter and word_starts_at_speech. "": no VAD.
  std::string vad_model;
};

// Voice activity detection before transcription: faster-whisper's VadOptions,
// with its defaults.
struct VadOptions {
  float threshold = 0.5f;       // speech probability above which a frame is speech
  float neg_threshold = -1.0f;  // below which speech ends; < 0: threshold - 0.15
  int min_speech_duration_ms = 0;
  float max_speech_duration_s = INFINITY;
  int min_silence_duration_ms = 2000;
  int speech_pad_ms = 400;
};

struct TranscribeOptions {
  std::string language;             // "" or "auto": detect (multilingual models)
  std::string task = "transcribe";  // or "translate" (to English)
  int beam_size = 5;                // 1: greedy
  float patience = 1.0f;
  float length_penalty = 1.0f;
  int best_of = 5;  // samples per window at temperature > 0
  std::vector<float> temperatures = {0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};  // fallback ladder
  float compression_ratio_threshold = 2.4f;                                // <= 0: off
  float log_prob_threshold = -1.0f;                                        // NaN: off
  float no_speech_threshold = 0.6f;                                        // NaN: off
  bool condition_on_previous_text = true;
  float prompt_reset_on_temperature = 0.5f;
  std::string initial_prompt;  // text that conditions the first window
  std::string prefix;          // text the first window's transcript begins with
  std::string hotwords;        // words to favour (ignored when a prefix is given)
  bool suppress_blank = true;
  std::vector<int> suppress_tokens = {-1};  // -1: Whisper's default non-speech set
  bool without_timestamps = false;
  float max_initial_timestamp = 1.0f;
  float repetition_penalty = 1.0f;  // 1: off
  int no_repeat_ngram_size = 0;     // 0: off
  int max_new_tokens = 0;           // 0: up to the text context
  uint64_t seed = 0;                // of the sampler at temperature > 0
  // Word timings from cross-attention (the model's alignment heads), as
  // openai-whisper and faster-whisper compute them.
  bool word_timestamps = false;
  std::string prepend_punctuations = "\"'\u201c\u00bf([{-";
  std::string append_punctuations = "\"'.\u3002,\uff0c!\uff01?\uff1f:\uff1a\u201d)]}\u3001";
  // With word_timestamps: a word whose span holds 100 ms or more of silence
  // (Silero VAD) followed by speech starts where the speech resumes, rather
  // than at the pause that cross-attention hands it. Off: faster-whisper's
  // word times exactly. Needs ModelOptions::vad_model.
  bool word_starts_at_speech = false;
  // Skip silent stretches longer than this around likely hallucinations
  // (needs word_timestamps). NaN: off.
  float hallucination_silence_threshold = NAN;
  // Transcribe only the speech that Silero VAD finds; timestamps stay on the
  // original timeline. Needs ModelOptions::vad_model.
  bool vad_filter = false;
  VadOptions vad;
};

struct Word {
  double start = 0, end = 0;  // seconds
  std::string word;           // with its leading space, as Whisper writes it
  float probability = 0;
};

struct Segment {
  int id = 0;
  int seek = 0;               // window start, in 10 ms frames
  double start = 0, end = 0;  // seconds
  std::string text;
  std::vector<int> tokens;
  double avg_logprob = 0, compression_ratio = 0;
  float no_speech_prob = 0, temperature = 0;
  std::vector<Word> words;  // with TranscribeOptions::word_timestamps
};

struct TranscriptionInfo {
  std::string language;
  float language_probability = 0;
  std::vector<std::pair<std::string, float>> language_probabilities;  // detection only, best first
  double duration = 0;                                                // seconds of audio
  double duration_after_vad = 0;  // seconds of speech transcribed (the duration without vad_filter)
};

struct Transcription {
  std::vector<Segment> segments;
  TranscriptionInfo info;
  std::string text;    // the segments' texts joined
  double seconds = 0;  // wall time of transcribe()
  bool aborted = false;
};

struct Callbacks {
  std::function<void(const Segment&)> on_segment;                  // each finished segment
  std::function<void(double done_s, double total_s)> on_progress;  // after each window
  std::function<bool()> should_abort;                              // checked before each window
};

class Model {
 public:
  // A CTranslate2 / faster-whisper folder, a Hugging Face folder or a
  // whisper.cpp ggml .bin. Throws Error.
  static std::shared_ptr<const Model> load(const std::string& path,
                                           const ModelOptions& options = {});
  ~Model();

  bool multilingual() const;
  std::vector<std::string> languages() const;  // codes the model knows
  std::string format() const;                  // "CTranslate2", "Hugging Face", "whisper.cpp ggml"
  std::string precision() const;
  std::string backend() const;  // the instruction set the int8 kernels run on
  int n_mels() const;
  // Throws Error if this model cannot honour the options (an unknown
  // language, translation with an English-only model, impossible values).
  void check(const TranscribeOptions& options) const;
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Session {
 public:
  // threads <= 0: the machine's cores.
  explicit Session(std::shared_ptr<const Model> model, int threads = 0);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // samples: 16 kHz mono, as load_audio gives them. Throws Error for bad options.
  Transcription transcribe(const std::vector<float>& samples, const TranscribeOptions& options = {},
                           const Callbacks& callbacks = {});

 private:
  struct State;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<State> state_;
};

// Any audio or video file with an audio stream -> 16 kHz mono float samples.
std::vector<float> load_audio(const std::string& path);
// The same from bytes in memory; `name` appears in errors.
std::vector<float> decode_audio(const void* bytes, size_t size, const std::string& name);

// openai-whisper's "language code -> English name" table, for display.
std::string language_name(const std::string& code);

}  // namespace amanuensis
