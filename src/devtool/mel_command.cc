// amanuensis-dev mel: an audio file in, Whisper's log-mel features of its first
// 30 s window out, as a float32 .npy.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "audio/mel.h"
#include "devtool/commands.h"
#include "formats/npy.h"

namespace amanuensis::devtool {
namespace {

struct MelArgs {
  std::string audio, out;
  int n_mels = 80;
};

void run(const MelArgs& a) {
  if (a.n_mels != 80 && a.n_mels != 128) throw std::invalid_argument("--n-mels must be 80 or 128");
  const std::vector<float> samples = audio::load_audio_16k_mono(a.audio);
  const audio::LogMel mel = audio::log_mel_spectrogram(samples, a.n_mels, audio::kChunkFrames);
  write_npy_f32(a.out, {mel.n_mels, mel.frames}, mel.data.data());
}

}  // namespace

void add_mel_command(CLI::App& app) {
  auto args = std::make_shared<MelArgs>();
  CLI::App* cmd = app.add_subcommand(
      "mel",
      "Whisper's log-mel features of the first 30 s window of an audio file "
      "(WAV, FLAC, MP3, Ogg/Vorbis; any rate and channel count) as float32 .npy "
      "[n_mels, 3000]. Shorter audio is padded with zeros; audio past 30 s is not "
      "output, but it sets the level the features are clamped to, as in Whisper.");
  cmd->add_option("--audio", args->audio, "input audio file")->required();
  cmd->add_option("--out", args->out, "output, float32 .npy [n_mels, 3000]")->required();
  cmd->add_option("--n-mels", args->n_mels, "mel bands: 80, or 128 for large-v3")
      ->capture_default_str();
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
