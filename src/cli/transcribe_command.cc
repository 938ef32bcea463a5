// amanuensis transcribe: audio files in, transcripts out. A client of the
// public API (amanuensis/amanuensis.h) only.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
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

struct TranscribeArgs {
  std::vector<std::string> files;
  std::string model, language = "auto", task = "transcribe", precision = "int8", backend = "auto",
                     output_format = "txt", output_dir, initial_prompt, prefix, hotwords,
                     temperature;
  int beam_size = 5, best_of = 5, threads = 2, max_new_tokens = 0;
  float patience = 1.0f;
  bool vad = false;
  std::string vad_model;  // loaded only with --vad or word starts at speech
  VadOptions vad_options;
  bool no_condition = false, without_timestamps = false, quiet = false, word_timestamps = false;
  float hallucination_silence_threshold = NAN;
  std::string word_starts = "speech";
  output::SubtitleOptions subtitles;
};

// "0.0,0.2,0.4" or "0.2" -> temperatures.
std::vector<float> parse_temperatures(const std::string& text) {
  std::vector<float> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    float t = 0;
    try {
      t = std::stof(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(t >= 0.0f && t <= 10.0f))
      throw Error("invalid --temperature '" + text +
                  "': give numbers from 0 to 10, comma-separated");
    out.push_back(t);
  }
  if (out.empty()) throw Error("invalid --temperature '" + text + "'");
  return out;
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

int run(const TranscribeArgs& a) {
  std::vector<std::string> formats;
  if (a.output_format == "all")
    formats = {"txt", "srt", "vtt", "json", "verbose_json"};
  else if (is_output_format(a.output_format))
    formats = {a.output_format};
  else
    throw Error("unknown --output-format '" + a.output_format +
                "' (use txt, srt, vtt, json, verbose_json or all)");
  if (a.threads < 1 || a.threads > 256) throw Error("--threads must be 1 to 256");
  TranscribeOptions o;
  o.language = a.language;
  o.task = a.task;
  o.beam_size = a.beam_size;
  o.best_of = a.best_of;
  o.patience = a.patience;
  o.initial_prompt = a.initial_prompt;
  o.prefix = a.prefix;
  o.hotwords = a.hotwords;
  o.condition_on_previous_text = !a.no_condition;
  o.without_timestamps = a.without_timestamps;
  o.max_new_tokens = a.max_new_tokens;
  o.vad_filter = a.vad;
  o.vad = a.vad_options;
  o.word_timestamps = a.word_timestamps;
  o.hallucination_silence_threshold = a.hallucination_silence_threshold;
  o.word_starts_at_speech = word_starts_at_speech(a.word_starts);
  output::check(a.subtitles, a.word_timestamps);
  if (!a.temperature.empty()) o.temperatures = parse_temperatures(a.temperature);
  if (!a.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(a.output_dir, ec);
    if (!fs::is_directory(a.output_dir) || access(a.output_dir.c_str(), W_OK) != 0)
      throw Error(a.output_dir + ": cannot write to this output folder");
  }

  if (!a.output_dir.empty()) {  // two inputs must not write the same file
    std::set<std::string> stems;
    for (const std::string& file : a.files)
      if (!stems.insert(fs::path(file).stem().string()).second)
        throw Error("two inputs are named '" + fs::path(file).stem().string() +
                    "': their transcripts would overwrite each other in " + a.output_dir);
  }

  const bool starts_at_speech = o.word_timestamps && o.word_starts_at_speech;
  const std::string vad_model =
      !a.vad && !starts_at_speech
          ? ""
          : vad_model_for(a.vad_model, a.vad ? "--vad" : "--word-starts speech (the default)");
  const std::shared_ptr<const Model> model =
      Model::load(a.model.empty() ? default_model() : a.model, {a.precision, a.backend, vad_model});
  model->check(o);  // bad options fail once, before any file is read
  Session session(model, a.threads);
  // Segments print as they finish, unless stdout carries a structured format.
  const bool print_segments = !a.quiet && (!a.output_dir.empty() || a.output_format == "txt");
  int failures = 0;
  for (const std::string& file : a.files) {
    try {
      const std::vector<float> samples = load_audio(file);
      const bool multiple = a.files.size() > 1;
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
      const Transcription t = session.transcribe(samples, o, cb);
      if (!a.output_dir.empty()) {
        const std::string stem = fs::path(file).stem().string();
        for (const std::string& f : formats) {
          const std::string ext = f == "verbose_json" ? "verbose.json" : f;
          write_atomically(fs::path(a.output_dir) / (stem + "." + ext),
                           render(t, f, o.task, a.subtitles));
        }
      } else if (!print_segments) {
        for (const std::string& f : formats)
          std::printf("%s", render(t, f, o.task, a.subtitles).c_str());
      }
    } catch (const Error& e) {
      std::fprintf(stderr, "amanuensis: error: %s\n", e.what());
      ++failures;
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

void add_transcribe_command(CLI::App& app) {
  auto args = std::make_shared<TranscribeArgs>();
  CLI::App* cmd = app.add_subcommand("transcribe", "Transcribe (or translate) audio files");
  cmd->add_option("files", args->files, "Audio or video files")->required();
  cmd->add_option("--model", args->model,
                  "Model folder or file (default: base in ~/.cache/amanuensis/models)");
  cmd->add_option("--language", args->language, "Language code, or auto to detect");
  cmd->add_option("--task", args->task, "transcribe or translate (to English)");
  cmd->add_option("--beam-size", args->beam_size, "Beam size (1: greedy)");
  cmd->add_option("--best-of", args->best_of, "Samples per window at temperature > 0");
  cmd->add_option("--patience", args->patience, "Beam search patience");
  cmd->add_option("--temperature", args->temperature,
                  "Temperature, or a comma-separated fallback ladder (default 0,0.2,...,1)");
  cmd->add_option("--initial-prompt", args->initial_prompt, "Text to condition the first window");
  cmd->add_option("--prefix", args->prefix, "Text the transcript begins with");
  cmd->add_option("--hotwords", args->hotwords, "Words to favour");
  cmd->add_flag("--no-condition-on-previous-text", args->no_condition,
                "Decode each window without the previous text as its prompt");
  cmd->add_flag("--without-timestamps", args->without_timestamps, "One segment per window");
  cmd->add_option("--max-new-tokens", args->max_new_tokens,
                  "At most this many tokens per window (0: up to the text context)");
  cmd->add_option("--threads", args->threads, "Threads");
  cmd->add_option("--precision", args->precision, "int8 or fp32");
  cmd->add_option("--backend", args->backend, "int8 kernels: auto, avx512, avx2 or reference");
  cmd->add_option("--output-format", args->output_format,
                  "txt, srt, vtt, json, verbose_json or all");
  cmd->add_option("--output-dir", args->output_dir, "Write <input stem>.<format> files here");
  cmd->add_flag("--quiet", args->quiet, "Do not print segments as they finish");
  cmd->add_flag("--vad", args->vad,
                "Transcribe only the speech Silero VAD finds (faster-whisper's vad_filter)");
  cmd->add_option("--vad-model", args->vad_model,
                  "Silero VAD weights (default: silero-vad/silero_vad_v6_16k.safetensors in "
                  "~/.cache/amanuensis/models)");
  add_vad_options(*cmd, args->vad_options);
  cmd->add_flag("--word-timestamps", args->word_timestamps,
                "Time every word (cross-attention alignment); words go into json and verbose_json");
  add_word_starts_option(*cmd, args->word_starts);
  cmd->add_option("--hallucination-silence-threshold", args->hallucination_silence_threshold,
                  "With --word-timestamps: skip silences longer than this many seconds around "
                  "likely hallucinations");
  cmd->add_option("--max-line-width", args->subtitles.max_line_width,
                  "srt/vtt, with --word-timestamps: at most this many characters a line");
  cmd->add_option("--max-line-count", args->subtitles.max_line_count,
                  "srt/vtt, with --word-timestamps: at most this many lines a subtitle");
  cmd->add_option("--max-words-per-line", args->subtitles.max_words_per_line,
                  "srt/vtt, with --word-timestamps: at most this many words a line");
  cmd->callback([args] {
    const int status = run(*args);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace amanuensis::cli
