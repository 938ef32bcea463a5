// amanuensis-dev vad: the speech intervals Silero VAD finds in an audio file, as
// faster-whisper's vad_filter would keep them.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "devtool/commands.h"
#include "cli/default_model.h"
#include "util/thread_pool.h"
#include "vad/silero_vad.h"
#include "vad/speech_timestamps.h"

namespace amanuensis::devtool {
namespace {

struct VadArgs {
  std::string file, vad_model;
  VadOptions options;
  int threads = 2;
  bool json = false, probabilities = false;
};

double seconds(int64_t samples) { return std::round(samples * 1000.0 / vad::kSampleRate) / 1000; }

void run(const VadArgs& a) {
  if (a.threads < 1 || a.threads > 256) throw Error("--threads must be 1 to 256");
  vad::check_options(a.options);
  const vad::SileroVad model(a.vad_model.empty() ? default_vad_model() : a.vad_model);
  const std::vector<float> samples = load_audio(a.file);
  ThreadPool pool(a.threads);
  const std::vector<float> probs = model.probabilities(samples, pool);
  const std::vector<vad::SpeechChunk> speech =
      vad::speech_timestamps(probs, int64_t(samples.size()), a.options);
  if (!a.json) {
    for (const vad::SpeechChunk& s : speech)
      std::printf("%.3f %.3f\n", seconds(s.start), seconds(s.end));
    return;
  }
  nlohmann::json out;
  out["speech"] = nlohmann::json::array();
  for (const vad::SpeechChunk& s : speech)
    out["speech"].push_back({{"start", seconds(s.start)}, {"end", seconds(s.end)}});
  if (a.probabilities) out["probabilities"] = probs;
  std::printf("%s\n", out.dump().c_str());
}

}  // namespace

void add_vad_command(CLI::App& app) {
  auto args = std::make_shared<VadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "vad", "Speech intervals (seconds) that Silero VAD finds, as faster-whisper's vad_filter");
  cmd->add_option("file", args->file, "Audio or video file")->required();
  cmd->add_option("--vad-model", args->vad_model,
                  "Silero VAD weights (default: silero-vad/silero_vad_v6_16k.safetensors in "
                  "~/.cache/amanuensis/models)");
  add_vad_options(*cmd, nullptr, args->options);
  cmd->add_option("--threads", args->threads, "Threads")->capture_default_str();
  cmd->add_flag("--json", args->json, R"(Print {"speech": [{"start": s, "end": e}, ...]})");
  cmd->add_flag("--probabilities", args->probabilities,
                "With --json: also each 32 ms chunk's speech probability");
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
