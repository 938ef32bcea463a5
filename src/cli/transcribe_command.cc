// amanuensis transcribe: audio files in, transcripts out. A client of the
// public API (amanuensis/amanuensis.h) only.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "output/formats.h"

namespace amanuensis::cli {
namespace {

namespace fs = std::filesystem;
using output::is_output_format;
using output::render;
using output::segment_line;

// The command's flags, bound straight to the library's options.
struct TranscribeArgs {
  std::vector<std::string> files;
  std::string model, output_format, output_dir;  // no --output-format: txt
  ModelOptions model_options;
  TranscribeOptions options = [] {
    TranscribeOptions o;
    o.word_starts_at_speech = true;  // the CLI's default: --word-starts speech
    return o;
  }();
  int threads = 2;
  bool quiet = false;
  output::SubtitleOptions subtitles;
};

// "--beam-size: " for the option TranscribeOptions::beam_size, so that an
// error names the flag the user typed.
std::string flag_for(const std::string& option) {
  static const std::map<std::string, std::string> renamed = {
      {"temperatures", "--temperature"},
      {"vad_filter", "--vad"},
      {"vad.threshold", "--vad-threshold"},
      {"vad.min_speech_duration_ms", "--vad-min-speech-ms"},
      {"vad.max_speech_duration_s", "--vad-max-speech-s"},
      {"vad.min_silence_duration_ms", "--vad-min-silence-ms"},
      {"vad.speech_pad_ms", "--vad-speech-pad-ms"},
      {"word_starts_at_speech", "--word-starts"}};
  if (option.empty()) return "";
  if (auto r = renamed.find(option); r != renamed.end()) return r->second + ": ";
  std::string flag = option;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return "--" + flag + ": ";
}

// "-" is standard input: read whole, then decoded from memory, so that
// FFmpeg can seek in it (any format, as a file). Its outputs are stdin.*.
constexpr const char* kStdin = "-";
std::string stem_of(const std::string& file) {
  return file == kStdin ? "stdin" : fs::path(file).stem().string();
}
std::vector<float> read_input(const std::string& file) {
  if (file != kStdin) return load_audio(file);
  std::string bytes;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, stdin)) > 0) bytes.append(buffer, n);
  if (std::ferror(stdin)) throw Error("standard input: cannot read it");
  return decode_audio(bytes.data(), bytes.size(), "standard input");
}

// Writes `text` to `path` through a temporary file in the same folder, so
// that a failure leaves no partial file behind.
void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(path.string() + ": cannot write");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(path.string() + ": cannot write");
  }
}

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on) {}
  void update(double done, double total) {
    if (!on_ || total <= 0) return;
    const int width = 40, filled = int(width * std::min(1.0, done / total));
    std::fprintf(stderr, "\r[%s%s] %5.1f / %.1f s", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), done, total);
    std::fflush(stderr);
    drawn_ = true;
  }
  ~ProgressBar() {
    if (drawn_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_, drawn_ = false;
};

int run(TranscribeArgs& a) {
  std::vector<std::string> formats;
  if (a.output_format == "all")
    formats = {"txt", "srt", "vtt", "json", "verbose_json"};
  else if (a.output_format.empty())
    formats = {"txt"};
  else if (is_output_format(a.output_format))
    formats = {a.output_format};
  else
    throw Error("unknown --output-format '" + a.output_format +
                "' (use txt, srt, vtt, json, verbose_json or all)");
  if (a.output_format == "all" && a.output_dir.empty())
    throw Error("--output-format all writes five files: it needs --output-dir");
  const TranscribeOptions& o = a.options;
  output::check(a.subtitles, o.word_timestamps);
  if (!a.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(a.output_dir, ec);
    if (!fs::is_directory(a.output_dir) || access(a.output_dir.c_str(), W_OK) != 0)
      throw Error(a.output_dir + ": cannot write to this output folder");
  }

  if (!a.output_dir.empty()) {  // two inputs must not write the same file
    std::set<std::string> stems;
    for (const std::string& file : a.files)
      if (!stems.insert(stem_of(file)).second)
        throw Error("two inputs are named '" + stem_of(file) +
                    "': their transcripts would overwrite each other in " + a.output_dir);
  }

  const bool starts_at_speech = o.word_timestamps && o.word_starts_at_speech;
  if (o.vad_filter || starts_at_speech)
    a.model_options.vad_model = vad_model_for(
        a.model_options.vad_model, o.vad_filter ? "--vad" : "--word-starts speech (the default)");
  const std::shared_ptr<const Model> model =
      Model::load(a.model.empty() ? default_model() : a.model, a.model_options);
  try {  // bad options fail once, before any file is read
    model->check(o);
  } catch (const Error& e) {
    throw Error(flag_for(e.option()) + e.what(), e.kind(), e.option());
  }
  Session session(model, a.threads);
  // Segments print as they finish ("[00:00.000 --> 00:11.000] text"), unless
  // stdout carries a format that was asked for.
  const bool print_segments = !a.quiet && (!a.output_dir.empty() || a.output_format.empty());
  // A transcript to its files in --output-dir, or to stdout in the asked formats.
  auto write_out = [&](const std::string& file, const Transcription& t) {
    if (!a.output_dir.empty()) {
      const std::string stem = stem_of(file);
      for (const std::string& f : formats) {
        const std::string ext = f == "verbose_json" ? "verbose.json" : f;
        write_atomically(fs::path(a.output_dir) / (stem + "." + ext),
                         render(t, f, o.task, a.subtitles));
      }
    } else if (!print_segments) {
      for (const std::string& f : formats)
        std::printf("%s", render(t, f, o.task, a.subtitles).c_str());
    }
  };
  int failures = 0;
  auto fail = [&](const Error& e) {
    std::fprintf(stderr, "amanuensis: error: %s\n", e.what());
    ++failures;
  };
  const bool multiple = a.files.size() > 1;
  if (multiple && o.batch_size > 1) {
    // Batched across files: every file's chunks share the decoder's batches;
    // each file's segments print when the batch is done.
    std::vector<std::string> names;
    std::vector<std::vector<float>> recordings;
    for (const std::string& file : a.files) try {
        recordings.push_back(read_input(file));
        names.push_back(file);
      } catch (const Error& e) {
        fail(e);
      }
    try {
      const std::vector<Transcription> ts = session.transcribe_many(recordings, o);
      for (size_t i = 0; i < ts.size(); ++i) {
        if (print_segments) {
          std::printf("# %s\n", names[i].c_str());
          for (const Segment& s : ts[i].segments) std::printf("%s\n", segment_line(s).c_str());
        }
        write_out(names[i], ts[i]);
      }
    } catch (const Error& e) {
      fail(e);
    }
    return failures ? 1 : 0;
  }
  for (const std::string& file : a.files) {
    try {
      const std::vector<float> samples = read_input(file);
      if (multiple && print_segments) std::printf("# %s\n", file.c_str());
      ProgressBar bar(isatty(2) && samples.size() > 30 * 16000 && !a.quiet);
      Callbacks cb;
      cb.on_segment = [&](const Segment& s) {
        if (!print_segments) return;
        if (isatty(2)) std::fprintf(stderr, "\r\033[K");  // clear the progress bar's line
        std::printf("%s\n", segment_line(s).c_str());
        std::fflush(stdout);
      };
      cb.on_progress = [&](double done, double total) { bar.update(done, total); };
      write_out(file, session.transcribe(samples, o, cb));
    } catch (const Error& e) {
      fail(e);
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

void add_transcribe_command(CLI::App& app) {
  auto args = std::make_shared<TranscribeArgs>();
  TranscribeOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand("transcribe", "Transcribe (or translate) audio files");
  cmd->add_option("files", args->files, "Audio or video files (-: standard input)")->required();
  cmd->add_option("--model", args->model,
                  "Model folder or file (default: base in ~/.cache/amanuensis/models)");
  cmd->add_option("--language", o.language, "Language code, or auto to detect (the default)");
  add_task_option(*cmd, o.task);
  cmd->add_option("--beam-size", o.beam_size, "Beam size (1: greedy)")->capture_default_str();
  cmd->add_option("--best-of", o.best_of, "Samples per window at temperature > 0")
      ->capture_default_str();
  cmd->add_option("--patience", o.patience, "Beam search patience")->capture_default_str();
  cmd->add_option("--temperature", o.temperatures,
                  "Temperature, or a comma-separated fallback ladder (default 0,0.2,...,1)")
      ->delimiter(',');
  cmd->add_option("--initial-prompt", o.initial_prompt, "Text to condition the first window");
  cmd->add_option("--prefix", o.prefix, "Text the transcript begins with");
  cmd->add_option("--hotwords", o.hotwords, "Words to favour");
  cmd->add_flag_callback(
      "--no-condition-on-previous-text", [&o] { o.condition_on_previous_text = false; },
      "Decode each window without the previous text as its prompt");
  cmd->add_flag("--without-timestamps", o.without_timestamps, "One segment per window");
  cmd->add_option("--max-new-tokens", o.max_new_tokens,
                  "At most this many tokens per window after the prefix (0: up to 224)");
  cmd->add_option("--stop-loops-after", o.stop_loops_after,
                  "End a window's decoding once its last N tokens repeat one phrase three or "
                  "more times, and fall back as for repetitive text (0: off, decode to the text "
                  "context as Whisper does)");
  cmd->add_option("--batch-size", o.batch_size,
                  "Batched mode: decode up to N chunks of at most 30 s together, each without "
                  "the text before it (with --vad the chunks are speech, as faster-whisper's "
                  "batched pipeline cuts them)")
      ->capture_default_str();
  add_run_options(*cmd, args->threads, args->model_options);
  cmd->add_option("--output-format", args->output_format,
                  "txt, srt, vtt, json, verbose_json or all (default: each segment printed as "
                  "it finishes, with its times; with --output-dir, txt)");
  cmd->add_option("--output-dir", args->output_dir, "Write <input stem>.<format> files here");
  cmd->add_flag("--quiet", args->quiet, "Do not print segments as they finish");
  CLI::Option* vad =
      cmd->add_flag("--vad", o.vad_filter,
                    "Transcribe only the speech Silero VAD finds (faster-whisper's vad_filter)");
  cmd->add_option("--vad-model", args->model_options.vad_model,
                  "Silero VAD weights (default: silero-vad/silero_vad_v6_16k.safetensors in "
                  "~/.cache/amanuensis/models)");
  add_vad_options(*cmd, vad, o.vad);
  cmd->add_flag("--word-timestamps", o.word_timestamps,
                "Time every word (cross-attention alignment); words go into json and verbose_json");
  add_word_starts_option(*cmd, o.word_starts_at_speech);
  cmd->add_option("--hallucination-silence-threshold", o.hallucination_silence_threshold,
                  "With --word-timestamps: skip silences longer than this many seconds around "
                  "likely hallucinations");
  cmd->add_option("--max-line-width", args->subtitles.max_line_width,
                  "srt/vtt, with --word-timestamps: at most this many characters a line")
      ->check(whole_number(1, 100000));
  cmd->add_option("--max-line-count", args->subtitles.max_line_count,
                  "srt/vtt, with --word-timestamps: at most this many lines a subtitle")
      ->check(whole_number(1, 100000));
  cmd->add_option("--max-words-per-line", args->subtitles.max_words_per_line,
                  "srt/vtt, with --word-timestamps: at most this many words a line")
      ->check(whole_number(1, 100000));
  cmd->callback([args] {
    const int status = run(*args);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace amanuensis::cli
