// amanuensis's plain types: options, results, callbacks and the one error
// type. A leaf: it includes only the standard library, so any part of the
// engine may include it without reaching the Model and Session classes
// (amanuensis/amanuensis.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// What the shared library exports; everything else in it is hidden.
#define AMANUENSIS_API __attribute__((visibility("default")))

namespace amanuensis {

// What went wrong, for a caller that answers differently to each (the server
// maps them to HTTP statuses).
enum class ErrorKind {
  kBadInput,       // options, audio or arguments that cannot be used
  kUnsupported,    // valid, but not by this model or CPU (translation on English-only, AVX-512)
  kBadModel,       // a model file that is missing, corrupt or inconsistent
  kResourceLimit,  // too large, too long, out of memory
  kInternal,       // a bug: an invariant of the engine failed
};

// Every function of the API throws this, with a one-line message.
class AMANUENSIS_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::kBadInput,
                 std::string option = "")
      : std::runtime_error(message), kind_(kind), option_(std::move(option)) {}
  ErrorKind kind() const { return kind_; }
  // The TranscribeOptions or ModelOptions field at fault ("language",
  // "temperatures", "vad.threshold"), or "".
  const std::string& option() const { return option_; }

 private:
  ErrorKind kind_;
  std::string option_;
};

enum class Task { kTranscribe, kTranslate /* to English */ };
enum class Precision {
  kInt8,  // int8 GEMMs and the int8 attention kernel: the fast path
  kFp32,  // float32 everywhere: the accuracy yardstick of the same code path
};
// The instruction set of the int8 kernels. Every backend gives the same bytes.
// kAmx: Intel AMX tiles for the int8 products, AVX-512 for the rest.
enum class Backend { kAuto, kReference, kAvx2, kAvx512, kAmx };

// Names as the CLI, the server and the bindings spell them; parse_* throws
// Error (naming the option) for any other.
AMANUENSIS_API Task parse_task(std::string_view name);  // "transcribe" | "translate"
AMANUENSIS_API Precision parse_precision(std::string_view name);  // "int8" | "fp32"
AMANUENSIS_API Backend
parse_backend(std::string_view name);  // "auto" | "reference" | "avx2" | "avx512" | "amx"
AMANUENSIS_API const char* to_string(Task task);
AMANUENSIS_API const char* to_string(Precision precision);
AMANUENSIS_API const char* to_string(Backend backend);

struct ModelOptions {
  Precision precision = Precision::kInt8;
  Backend backend = Backend::kAuto;
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
  std::string language;  // "" or "auto": detect (multilingual models)
  Task task = Task::kTranscribe;
  int beam_size = 5;  // 1: greedy
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
  std::string prefix;          // text the first window's transcript begins with (forced)
  std::string hotwords;        // words to favour (ignored when a prefix is given)
  bool suppress_blank = true;
  std::vector<int> suppress_tokens = {-1};  // -1: Whisper's default non-speech set
  bool without_timestamps = false;
  float max_initial_timestamp = 1.0f;
  // Seconds into the audio: a window's text may not end (eot) before its
  // timestamps reach this point, so that it does not stop short of speech
  // that it can hear (live transcription holds it near the buffer's end).
  // NaN: off. Sequential mode only (batched mode holds a chunk's text to its
  // speech's end itself).
  float min_text_end = NAN;
  float repetition_penalty = 1.0f;  // 1: off
  int no_repeat_ngram_size = 0;     // 0: off
  int max_new_tokens = 0;           // a window's, after its prefix; 0: up to 224 in all
  // > 0: a window's decoding ends once its last this-many tokens are one
  // phrase (of up to 16 tokens) said three or more times in a row: a
  // repetition loop, which would otherwise run to the length limit (224
  // tokens) before the compression-ratio test rejects it. Such a window falls back
  // to the next temperature as that test's failures do. 0: off (Whisper's
  // way). Live transcription sets 48.
  int stop_loops_after = 0;
  uint64_t seed = 0;                // of the sampler at temperature > 0
  // Tokens the first window is expected to hold after its prefix (a live
  // stream passes its previous hypothesis's): greedy search feeds runs of
  // them in one decoder step and keeps what it would have chosen anyway, so
  // the transcript is the same bytes, sooner. Used by the int8 decoder.
  std::vector<int> draft_tokens;
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
  // > 1: batched mode. The audio is cut into chunks of at most 30 s (Silero
  // VAD's speech, merged, when ModelOptions::vad_model is set; else 30 s
  // windows) that are decoded together, up to batch_size at a time, as
  // independent windows: no chunk is conditioned on another's text
  // (condition_on_previous_text does not apply). faster-whisper's
  // BatchedInferencePipeline works this way.
  int batch_size = 1;
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
  // Each token's log-probability as decoded: log-softmax of the logits after
  // Whisper's rules (suppression, timestamp rules), at temperature 1; the
  // terms of avg_logprob. Model::token_bytes gives a token's text.
  std::vector<float> token_logprobs;
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
  // Windows whose kept decoding ended in a loop (TranscribeOptions::
  // stop_loops_after), after every fallback. The loop's tokens past the last
  // timestamp pair are in no segment, so this is where a caller sees it.
  int windows_ended_in_loop = 0;
};

struct Transcription {
  std::vector<Segment> segments;
  TranscriptionInfo info;
  std::string text;    // the segments' texts joined
  double seconds = 0;  // wall time of transcribe()
  bool aborted = false;
};

// Live transcription (StreamingSession): a hypothesis of the audio buffer
// every step; words on which two hypotheses in a row agree are committed
// (LocalAgreement-2), the buffer is cut behind them, and the committed text
// before the buffer is the prompt.
// Turn detection on live audio (OpenAI's server_vad): Silero VAD finds the
// speech; silence between turns is not transcribed, and a turn ends, its
// words all committed, after silence_seconds without speech.
struct TurnDetection {
  bool enabled = false;                 // needs ModelOptions::vad_model
  float threshold = 0.5f;               // the speech probability that starts a turn
  double prefix_padding_seconds = 0.3;  // audio before that which the turn includes
  double silence_seconds = 0.5;         // under threshold - 0.15 this long ends it
};

struct StreamingOptions {
  // As for a file, but word_timestamps is always on and
  // condition_on_previous_text off; a language left "" is detected on the
  // first hypothesis with words and kept; initial_prompt is the text before
  // the stream, which the committed text follows in the prompt. Two defaults
  // differ from a file's, to keep each hypothesis short: greedy (beam_size 1)
  // and no temperature fallback (temperatures {0}): the fallback ladder
  // (best_of samples at each of five temperatures) once took a hypothesis
  // from 0.8 s to 11.5 s, leaving the stream 10 s behind. A hypothesis that
  // loops (stop_loops_after, which ends it early, or over
  // compression_ratio_threshold) runs once more without the prompt, and is
  // dropped if it still loops: it is never committed.
  TranscribeOptions transcribe = [] {
    TranscribeOptions t;
    t.beam_size = 1;
    t.temperatures = {0.0f};
    t.stop_loops_after = 48;
    return t;
  }();
  double step_seconds = 1.0;         // new audio between two hypotheses
  double trim_seconds = 15.0;        // a longer buffer is cut at a committed segment's end
  double max_buffer_seconds = 25.0;  // a longer one is committed as it stands
  // A hypothesis (but a turn's last) may not end its text until its
  // timestamps come within this of the buffer's end (TranscribeOptions::
  // min_text_end): Whisper often stops seconds early, and the words it left
  // out waited for a later hypothesis. NaN: off.
  double text_end_margin_seconds = 1.0;
  size_t prompt_characters = 200;    // of committed text before the buffer
  TurnDetection turn_detection;      // off: the stream is one turn until end_turn()
};

struct StreamingCallbacks {
  // Final words, in order, never revisited; times in seconds since the first sample.
  std::function<void(const std::vector<Word>& words)> on_commit;
  // After each hypothesis: the text after the committed words, which may
  // still change ("" when there is none).
  std::function<void(const std::string& text)> on_partial;
  // Turn detection found speech: a turn begins, with the audio from `start`.
  std::function<void(double start)> on_speech_started;
  // A turn ended (its silence, end_turn() or finish()) after its last
  // on_commit; `end`: where its speech stopped, or its last sample.
  std::function<void(double end)> on_turn_end;
};

struct Callbacks {
  std::function<void(const Segment&)> on_segment;                  // each finished segment
  // Once, when the recording's language is known (given, or detected on its
  // first window), before its first segment; not called for a recording too
  // short to hold a window. Lets a caller show the language early.
  std::function<void(const TranscriptionInfo&)> on_info;
  std::function<void(double done_s, double total_s)> on_progress;  // after each window
  std::function<bool()> should_abort;                              // checked before each window
  // Checked far more often (before each encoder layer and decoder step, every
  // few milliseconds), so keep it cheap: true stops the transcription at
  // once, with Transcription::aborted and the segments finished before.
  std::function<bool()> interrupt;
};

}  // namespace amanuensis
