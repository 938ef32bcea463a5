// amanuensis-dev encode: the Whisper encoder on the first 30 s window.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "audio/decode.h"
#include "audio/mel.h"
#include "devtool/commands.h"
#include "formats/npy.h"
#include "model/checkpoint.h"
#include "model/encoder.h"

namespace amanuensis::devtool {
namespace {

struct EncodeArgs {
  std::string model, audio, mel, out, dump_qkv, precision = "int8", backend = "auto";
  int threads = 2;
};

// The first 30 s window's log-mel, from audio or from a .npy.
std::vector<float> window_mel(const EncodeArgs& a, int n_mels, ThreadPool& pool) {
  if (!a.audio.empty()) {
    return audio::log_mel_spectrogram(audio::load_audio_16k_mono(a.audio), n_mels, kMelFrames,
                                      &pool)
        .data;
  }
  NpyF32 mel = read_npy_f32(a.mel);
  if (mel.shape != std::vector<int64_t>{n_mels, kMelFrames})
    throw std::invalid_argument(a.mel + ": log-mel must have shape [" + std::to_string(n_mels) +
                                ", " + std::to_string(kMelFrames) + "] for this model");
  for (float x : mel.data)
    if (!std::isfinite(x)) throw std::invalid_argument(a.mel + ": log-mel has non-finite values");
  return std::move(mel.data);
}

void run(const EncodeArgs& a) {
  if (a.audio.empty() == a.mel.empty()) throw std::invalid_argument("give --audio or --mel");
  const Precision precision = parse_precision(a.precision);
  const Backend backend = parse_backend(a.backend);
  const Encoder encoder(load_encoder(a.model), precision, backend);
  const EncoderWeights& w = encoder.weights();
  ThreadPool pool(a.threads);
  const std::vector<float> mel = window_mel(a, w.n_mels, pool);
  Encoder::AttentionObserver dump;
  if (!a.dump_qkv.empty())
    dump = [&](int layer, const float* q, const float* k, const float* v) {
      const std::vector<int64_t> shape = {w.n_heads, w.n_ctx, w.d_model / w.n_heads};
      const std::string base = a.dump_qkv + "/layer" + std::to_string(layer) + "_";
      write_npy_f32(base + "q.npy", shape, q);
      write_npy_f32(base + "k.npy", shape, k);
      write_npy_f32(base + "v.npy", shape, v);
    };
  const auto out = encoder.encode(mel.data(), pool, nullptr, dump);
  write_npy_f32(a.out, {w.n_ctx, w.d_model}, out.data());
}

}  // namespace

void add_encode_command(CLI::App& app) {
  auto args = std::make_shared<EncodeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "encode", "Run the Whisper encoder on the first 30 s window; writes [1500, d] float32");
  cmd->add_option("--model", args->model, "model folder (CTranslate2 / faster-whisper format)")
      ->required();
  auto* audio_opt = cmd->add_option("--audio", args->audio, "audio file (WAV, FLAC, MP3, OGG)");
  auto* mel_opt = cmd->add_option("--mel", args->mel, "or a log-mel float32 .npy [n_mels, 3000]");
  audio_opt->excludes(mel_opt);
  mel_opt->excludes(audio_opt);
  cmd->add_option("--out", args->out, "encoder output .npy")->required();
  cmd->add_option("--precision", args->precision, "int8 or fp32")->capture_default_str();
  cmd->add_option("--backend", args->backend,
                  "int8 kernels: reference, avx2, avx512, amx or auto (same output bytes)")
      ->capture_default_str();
  cmd->add_option("--dump-qkv", args->dump_qkv,
                  "also write each layer's attention inputs to DIR/layer<i>_{q,k,v}.npy")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--threads", args->threads, "threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
