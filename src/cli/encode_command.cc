// amanuensis encode: the Whisper encoder on the first 30 s window.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "io/npy.h"
#include "model/encoder.h"

namespace amanuensis::cli {
namespace {

struct EncodeArgs {
  std::string model, mel, out, precision = "int8";
  int threads = 2;
};

void run(const EncodeArgs& a) {
  const Precision precision = parse_precision(a.precision);
  const NpyF32 mel = read_npy_f32(a.mel);
  const Encoder encoder(load_encoder(a.model), precision);
  const EncoderWeights& w = encoder.weights();
  if (mel.shape != std::vector<int64_t>{w.n_mels, kMelFrames})
    throw std::invalid_argument(a.mel + ": log-mel must have shape [" + std::to_string(w.n_mels) +
                                ", " + std::to_string(kMelFrames) + "] for this model");
  for (float x : mel.data)
    if (!std::isfinite(x)) throw std::invalid_argument(a.mel + ": log-mel has non-finite values");
  ThreadPool pool(a.threads);
  const std::vector<float> out = encoder.encode(mel.data.data(), pool);
  write_npy_f32(a.out, {w.n_ctx, w.d_model}, out.data());
}

}  // namespace

void add_encode_command(CLI::App& app) {
  auto args = std::make_shared<EncodeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "encode", "Run the Whisper encoder on one 30 s log-mel window; writes [1500, d] float32");
  cmd->add_option("--model", args->model, "model folder (CTranslate2 / faster-whisper format)")
      ->required();
  cmd->add_option("--mel", args->mel, "log-mel float32 .npy [n_mels, 3000]")->required();
  cmd->add_option("--out", args->out, "encoder output .npy")->required();
  cmd->add_option("--precision", args->precision, "int8 or fp32")->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::cli
