// amanuensis-dev bench encoder: one 30 s window from samples to encoder output
// (log-mel included), timed per stage, against the int8 peak measured in the
// same process.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "audio/decode.h"
#include "audio/mel.h"
#include "devtool/commands.h"
#include "devtool/timing.h"
#include "util/scratch.h"
#include "kernels/attention/spec.h"
#include "devtool/peak/int8_peak.h"
#include "model/checkpoint.h"
#include "model/encoder.h"

namespace amanuensis::devtool {
namespace {

struct BenchEncoderArgs {
  std::string model, audio, precision = "int8", backend = "auto";
  int threads = 2, runs = 10, warmup = 2;
  bool json = false;
};

// Multiply-adds x 2 of one encoder pass: GEMMs (with the outlier split) and attention.
double encoder_ops(const EncoderWeights& w, Precision precision) {
  const double n = w.n_ctx, d = w.d_model;
  auto linear = [&](double rows, double in, double out) {
    const bool split = precision == Precision::kInt8 && in >= LinearOp::kOutlierMinWidth;
    return 2 * rows * out * (in + (split ? LinearOp::kOutlierChannels : 0));
  };
  double ops = linear(kMelFrames, w.n_mels * 3, d) + linear(n, d * 3, d);
  const double per_layer = linear(n, d, 3 * d) + linear(n, d, d) + linear(n, d, 4 * d) +
                           linear(n, 4 * d, d) + 4 * n * n * d;  // + QK^T and PV over all heads
  return ops + per_layer * double(w.layers.size());
}

void run(const BenchEncoderArgs& a) {
  const Precision precision = parse_precision(a.precision);
  const auto t0 = std::chrono::steady_clock::now();
  const Encoder encoder(load_encoder(a.model), precision, parse_backend(a.backend));
  const double load_ms = elapsed_ms(t0);
  const EncoderWeights& w = encoder.weights();
  std::vector<float> samples;
  if (!a.audio.empty()) {
    samples = audio::load_audio_16k_mono(a.audio);
  } else {  // 30 s of a gliding tone in noise: a full window of signal
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    samples.resize(audio::kChunkSamples);
    for (size_t i = 0; i < samples.size(); ++i) {
      const double t = double(i) / audio::kSampleRate;
      samples[i] = float(0.3 * std::sin(2 * M_PI * (200 + 20 * t) * t)) + noise(rng);
    }
  }
  ThreadPool pool(a.threads);
  ScratchPool scratch;  // as a Session holds it: buffers reused across windows
  const ScratchScope scope(scratch);
  const Int8Peak peak = measure_int8_peak(a.threads, parse_backend(a.backend));

  std::vector<double> total, mel_ms, conv, attention, gemm, other;
  for (int i = 0; i < a.warmup + a.runs; ++i) {
    EncoderTimings t;
    const auto s = std::chrono::steady_clock::now();
    const audio::LogMel mel = audio::log_mel_spectrogram(samples, w.n_mels, kMelFrames, &pool);
    const double mel_done = elapsed_ms(s);
    encoder.encode(mel.data.data(), pool, &t);
    const double ms = elapsed_ms(s);
    if (i < a.warmup) continue;
    total.push_back(ms);
    mel_ms.push_back(mel_done);
    conv.push_back(t.conv);
    attention.push_back(t.attention);
    gemm.push_back(t.gemm);
    other.push_back(t.other);
  }
  const double ms = median(total), ops = encoder_ops(w, precision);
  const nlohmann::json r = {
      {"model", a.model},
      {"precision", a.precision},
      {"d_model", w.d_model},
      {"layers", w.layers.size()},
      {"threads", a.threads},
      {"runs", a.runs},
      {"load_ms", load_ms},
      {"total_ms", ms},
      {"realtime_factor", 30000.0 / ms},
      {"stages_ms",
       {{"mel", median(mel_ms)},
        {"conv", median(conv)},
        {"attention", median(attention)},
        {"gemm", median(gemm)},
        {"other", median(other)}}},
      {"gops", ops / (ms * 1e6)},
      {"int8_peak_gops", peak.gops},
      {"fraction_of_peak", peak.gops > 0 ? ops / (ms * 1e6) / peak.gops : 0.0}};
  if (a.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return;
  }
  std::printf("encoder %s, %s, %d threads, median of %d: %.1f ms (%.0fx realtime)\n",
              a.model.c_str(), a.precision.c_str(), a.threads, a.runs, ms, 30000.0 / ms);
  std::printf("  mel %.1f  conv %.1f  attention %.1f  gemm %.1f  other %.1f ms\n", median(mel_ms),
              median(conv), median(attention), median(gemm), median(other));
  std::printf("  %.0f GOPS = %.0f%% of the int8 peak (%.0f GOPS, %s); model load %.0f ms\n",
              ops / (ms * 1e6), 100 * r["fraction_of_peak"].get<double>(), peak.gops,
              peak.instruction.c_str(), load_ms);
}

}  // namespace

void add_bench_encoder_command(CLI::App& bench) {
  auto args = std::make_shared<BenchEncoderArgs>();
  CLI::App* cmd = bench.add_subcommand("encoder", "Time the Whisper encoder on one 30 s window");
  cmd->add_option("--model", args->model, "model folder (CTranslate2 / faster-whisper format)")
      ->required();
  cmd->add_option("--audio", args->audio, "audio file (default: 30 s of synthetic signal)");
  cmd->add_option("--precision", args->precision, "int8 or fp32")->capture_default_str();
  cmd->add_option("--backend", args->backend, "int8 kernels: reference, avx2, avx512, amx or auto")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--runs", args->runs, "timed runs (median reported)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "untimed runs first")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
