// Flags that several commands share, bound to the library's option types, and
// how both programs run their command line.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "amanuensis/types.h"
#include "cli/commands.h"

namespace amanuensis::cli {
namespace {

// A flag whose text becomes an enum through the library's one table of names
// (parse_*), so the CLI accepts exactly what the library does.
template <typename E, typename Parse>
void add_enum_option(CLI::App& cmd, const char* flag, E& target, Parse parse, const char* help) {
  cmd.add_option_function<std::string>(flag, [&target, parse](const std::string& s) {
       target = parse(s);
     }, help)
      ->default_str(to_string(target));
}

}  // namespace

void add_task_option(CLI::App& cmd, Task& task) {
  add_enum_option(cmd, "--task", task, parse_task, "transcribe or translate (to English)");
}

void add_precision_option(CLI::App& cmd, Precision& precision) {
  add_enum_option(cmd, "--precision", precision, parse_precision, "int8 or fp32");
}

void add_backend_option(CLI::App& cmd, Backend& backend) {
  add_enum_option(cmd, "--backend", backend, parse_backend,
                  "int8 kernels: auto, amx, avx512, avx2 or reference");
}

void add_run_options(CLI::App& cmd, int& threads, ModelOptions& model) {
  cmd.add_option("--threads", threads, "Threads")
      ->capture_default_str()
      ->check(whole_number(1, 256));
  add_precision_option(cmd, model.precision);
  add_backend_option(cmd, model.backend);
}

void add_word_starts_option(CLI::App& cmd, bool& starts_at_speech) {
  cmd.add_option_function<std::string>(
         "--word-starts",
         [&starts_at_speech](const std::string& s) {
           if (s != "speech" && s != "attention")
             throw Error("unknown --word-starts '" + s + "' (use speech or attention)");
           starts_at_speech = s == "speech";
         },
         "Word timings: speech (a word starts where speech resumes after a silence Silero VAD "
         "finds in its span) or attention (faster-whisper's times)")
      ->default_str(starts_at_speech ? "speech" : "attention");
}

namespace {

// stdio reports a failed write to stdout (a full disk, a closed file) only
// in its error flag: a transcript that did not reach its file must not exit 0.
int check_stdout(const char* program, int code) {
  const int failed = std::fflush(stdout) != 0 ? errno : 0;
  if (!failed && !std::ferror(stdout)) return code;
  std::fprintf(stderr, "%s: error: cannot write to standard output%s%s\n", program,
               failed ? ": " : "", failed ? std::strerror(failed) : "");
  return 1;
}

}  // namespace

int run(CLI::App& app, int argc, char** argv, const char* program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a subcommand already said what failed
    return check_stdout(program, e.get_exit_code());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "%s: error: %s (see --help)\n", program, e.what());  // one line
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return check_stdout(program, 1);
  }
  return check_stdout(program, 0);
}

CLI::Validator whole_number(int lo, int hi) {
  const std::string range = std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        size_t used = 0;
        long long v = 0;
        try {
          v = std::stoll(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size()) return "'" + text + "' is not a whole number";
        if (v < lo || v > hi) return text + " is not from " + range;
        return "";
      },
      "INT in [" + range + "]");
}

void add_vad_options(CLI::App& cmd, CLI::Option* vad, VadOptions& o) {
  // Each shapes --vad's chunks only: without it, it would be silently ignored.
  auto needs_vad = [vad](CLI::Option* option) {
    if (vad) option->needs(vad);
  };
  needs_vad(
      cmd.add_option("--vad-threshold", o.threshold, "Speech probability threshold, in (0, 1)")
          ->capture_default_str());
  needs_vad(cmd.add_option("--vad-min-speech-ms", o.min_speech_duration_ms,
                           "Drop speech shorter than this")
                ->capture_default_str());
  needs_vad(cmd.add_option("--vad-max-speech-s", o.max_speech_duration_s,
                           "Split speech longer than this (default: never)"));
  needs_vad(cmd.add_option("--vad-min-silence-ms", o.min_silence_duration_ms,
                           "Silence that ends a stretch of speech")
                ->capture_default_str());
  needs_vad(cmd.add_option("--vad-speech-pad-ms", o.speech_pad_ms, "Padding on each side of speech")
                ->capture_default_str());
}

}  // namespace amanuensis::cli
