// amanuensis stream: live transcription of a file or of raw PCM on stdin
// (arecord or ffmpeg can pipe a microphone in). Committed text is printed as
// it is confirmed; on a terminal the partial text follows it in grey. A
// client of the public API (amanuensis/amanuensis.h) only.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"
#include "cli/default_model.h"

namespace amanuensis::cli {
namespace {

struct StreamArgs {
  std::string input = "-", model, format = "s16le", vad_model;
  ModelOptions model_options;
  StreamingOptions options;  // live defaults: greedy, no temperature fallback
  int threads = 2;
  double chunk_ms = 100;
  bool realtime = false, jsonl = false, catch_up = false;
};

// Reads stdin's raw PCM, `chunk` samples at a time; false at its end.
bool read_pcm(const std::string& format, size_t chunk, std::vector<float>& out) {
  out.clear();
  if (format == "f32le") {
    out.resize(chunk);
    const size_t n = std::fread(out.data(), sizeof(float), chunk, stdin);
    out.resize(n);
    return n > 0;
  }
  std::vector<int16_t> pcm(chunk);
  const size_t n = std::fread(pcm.data(), sizeof(int16_t), chunk, stdin);
  for (size_t i = 0; i < n; ++i) out.push_back(float(pcm[i]) / 32768.0f);
  return n > 0;
}

// A StreamingOptions error in this command's words: the fields it names
// become the flags that set them.
std::string with_flags(std::string message, const StreamingOptions& o) {
  const std::pair<std::string, std::string> flags[] = {
      {"turn_detection.silence_seconds", "--silence"},
      {"turn_detection.threshold", "--vad-threshold"},
      {"text_end_margin_seconds", "--text-end-margin"},
      {"max_buffer_seconds", "the buffer's " + std::to_string(int(o.max_buffer_seconds)) + " s"},
      {"trim_seconds", "--trim"},
      {"step_seconds", "--step"}};
  for (const auto& [field, flag] : flags)
    for (size_t at; (at = message.find(field)) != std::string::npos;)
      message.replace(at, field.size(), flag);
  return message;
}

int run(StreamArgs& a) {
  if (a.format != "s16le" && a.format != "f32le")
    throw Error("--format: s16le or f32le, not '" + a.format + "'");
  if (!(a.chunk_ms >= 10 && a.chunk_ms <= 10000)) throw Error("--chunk-ms: 10 to 10000");
  std::vector<float> file;
  if (a.input != "-") file = load_audio(a.input);
  if (a.options.turn_detection.enabled)
    a.model_options.vad_model = vad_model_for(a.vad_model, "--turns");
  const auto model = Model::load(a.model.empty() ? default_model() : a.model, a.model_options);
  const bool terminal = isatty(1) && !a.jsonl;
  const auto start = std::chrono::steady_clock::now();
  const auto wall = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::string committed, partial;
  bool line_open = false;  // text printed since the last new line
  StreamingSession* session = nullptr;
  const auto redraw = [&] {
    // The committed text stays; the partial text after it is rewritten.
    std::printf("\r\033[K%s\033[90m%s\033[0m", committed.c_str(), partial.c_str());
    std::fflush(stdout);
  };
  StreamingCallbacks cb;
  // --jsonl: one line per event, with the audio its hypothesis covered.
  const auto print_event = [&](nlohmann::json event) {
    event["audio"] = session->hypothesized_seconds();
    event["wall"] = wall();
    std::printf("%s\n",
                event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  };
  cb.on_commit = [&](const std::vector<Word>& words) {
    if (a.jsonl) {
      nlohmann::json ws = nlohmann::json::array();
      for (const Word& w : words)
        ws.push_back({{"word", w.word}, {"start", w.start}, {"end", w.end}});
      return print_event({{"type", "commit"}, {"words", ws}});
    }
    std::string text;
    for (const Word& w : words) text += w.word;
    if (terminal) {
      // A terminal line holds the recent text: start a new one past 60 bytes.
      committed += text;
      if (committed.size() > 60) {
        std::printf("\r\033[K%s\n", committed.c_str());
        committed.clear();
      }
      return;
    }
    std::printf("%s", text.c_str());
    std::fflush(stdout);
    line_open = true;
  };
  cb.on_partial = [&](const std::string& text) {
    if (a.jsonl) return print_event({{"type", "partial"}, {"text", text}});
    partial = text;
    if (terminal) redraw();
  };
  cb.on_speech_started = [&](double start) {
    if (a.jsonl) print_event({{"type", "speech_started"}, {"start", start}});
  };
  cb.on_turn_end = [&](double end) {
    if (a.jsonl) return print_event({{"type", "turn_end"}, {"end", end}});
    if (!a.options.turn_detection.enabled) return;  // the stream's end: printed below
    // A turn per line.
    if (terminal) std::printf("\r\033[K%s\n", committed.c_str());
    if (!terminal && line_open) std::printf("\n");
    committed.clear();
    line_open = false;
    std::fflush(stdout);
  };
  std::unique_ptr<StreamingSession> owned;
  try {  // the options are checked here: their errors name this command's flags
    owned = std::make_unique<StreamingSession>(model, a.threads, a.options, cb);
  } catch (const Error& e) {
    throw Error(with_flags(e.what(), a.options), e.kind(), e.option());
  }
  StreamingSession& stream = *owned;
  session = &stream;
  const size_t chunk = size_t(a.chunk_ms * 16);  // samples at 16 kHz
  std::vector<float> piece;
  for (size_t at = 0;;) {
    if (a.input == "-") {
      if (!read_pcm(a.format, chunk, piece)) break;
    } else {
      if (at >= file.size()) break;
      size_t end = std::min(file.size(), at + chunk);
      if (a.realtime && a.catch_up) {  // behind: all the audio already spoken at once
        end = std::min(file.size(), std::max(end, size_t(wall() * 16000) / chunk * chunk));
      }
      piece.assign(file.begin() + long(at), file.begin() + long(end));
      at += piece.size();
      if (a.realtime)  // the audio's own pace: this chunk is due when it has been spoken
        std::this_thread::sleep_until(start + std::chrono::duration<double>(double(at) / 16000));
    }
    if (piece.size() > chunk)
      stream.catch_up(piece.data(), piece.size());
    else
      stream.push(piece.data(), piece.size());
  }
  stream.finish();
  if (terminal)
    std::printf("\r\033[K%s\n", committed.c_str());
  else if (!a.jsonl && line_open)
    std::printf("\n");
  return 0;
}

}  // namespace

void add_stream_command(CLI::App& app) {
  auto args = std::make_shared<StreamArgs>();
  TranscribeOptions& o = args->options.transcribe;
  CLI::App* cmd = app.add_subcommand(
      "stream", "Live transcription: raw 16 kHz mono PCM on stdin, or a file played through");
  cmd->add_option("input", args->input, "An audio file, or - (the default) for raw PCM on stdin");
  cmd->add_option("--format", args->format, "stdin's samples: s16le (the default) or f32le");
  cmd->add_flag("--realtime", args->realtime,
                "Play a file at its own pace, not as fast as possible");
  cmd->add_option("--chunk-ms", args->chunk_ms, "Samples pushed at a time, in milliseconds")
      ->capture_default_str();
  cmd->add_flag("--jsonl", args->jsonl,
                "One JSON line per event (commit: words and times; partial: text), with the "
                "audio each hypothesis covered and the wall time");
  cmd->add_option("--model", args->model,
                  "Model folder or file (default: base in ~/.cache/amanuensis/models)");
  cmd->add_option("--language", o.language, "Language code, or auto to detect (the default)");
  cmd->add_option("--beam-size", o.beam_size, "Beam size (1: greedy)")->capture_default_str();
  cmd->add_option("--temperature", o.temperatures,
                  "Temperature, or a comma-separated fallback ladder (default 0: no fallback, "
                  "a hypothesis must stay short)")
      ->delimiter(',');
  cmd->add_flag("--catch-up", args->catch_up,
                "With --realtime: when behind, one hypothesis of all the audio spoken so far "
                "rather than one per missed step");
  cmd->add_option("--step", args->options.step_seconds, "Seconds of new audio between hypotheses")
      ->capture_default_str();
  cmd->add_option("--trim", args->options.trim_seconds,
                  "Cut the buffer at a committed segment's end past this many seconds")
      ->capture_default_str();
  cmd->add_option("--text-end-margin", args->options.text_end_margin_seconds,
                  "A hypothesis's text may not end more than this many seconds before its "
                  "audio does (nan: off)")
      ->capture_default_str();
  TurnDetection& t = args->options.turn_detection;
  cmd->add_flag("--turns", t.enabled,
                "Turn detection (Silero VAD): silence is skipped, and a turn ends (all its "
                "words committed, a new line) after --silence seconds of it");
  cmd->add_option("--silence", t.silence_seconds, "Silence that ends a turn, in seconds")
      ->capture_default_str();
  cmd->add_option("--vad-threshold", t.threshold, "Speech probability that starts a turn")
      ->capture_default_str();
  cmd->add_option("--vad-model", args->vad_model,
                  "Silero VAD weights for --turns (default: in ~/.cache/amanuensis/models)");
  add_run_options(*cmd, args->threads, args->model_options);
  cmd->callback([args] {
    const int status = run(*args);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace amanuensis::cli
