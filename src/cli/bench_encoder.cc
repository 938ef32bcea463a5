// amanuensis bench encoder: one 30 s window through the whole encoder, timed
// per stage, against the int8 peak measured in the same process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "io/npy.h"
#include "kernels/attention/spec.h"
#include "kernels/peak/int8_peak.h"
#include "model/encoder.h"

namespace amanuensis::cli {
namespace {

struct BenchEncoderArgs {
  std::string model, mel, precision = "int8";
  int threads = 2, runs = 10, warmup = 2;
  bool json = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

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
  const Encoder encoder(load_encoder(a.model), precision);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const EncoderWeights& w = encoder.weights();
  std::vector<float> mel;
  if (!a.mel.empty()) {
    NpyF32 m = read_npy_f32(a.mel);
    if (m.shape != std::vector<int64_t>{w.n_mels, kMelFrames})
      throw std::invalid_argument(a.mel + ": log-mel must be [n_mels, 3000] for this model");
    mel = std::move(m.data);
  } else {  // speech-like range of Whisper's normalized log-mel
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-0.8f, 0.8f);
    mel.resize(size_t(w.n_mels) * kMelFrames);
    for (float& x : mel) x = u(rng);
  }
  ThreadPool pool(a.threads);
  const Int8Peak peak = measure_int8_peak(a.threads);

  std::vector<double> total, conv, attention, gemm, other;
  for (int i = 0; i < a.warmup + a.runs; ++i) {
    EncoderTimings t;
    const auto s = std::chrono::steady_clock::now();
    encoder.encode(mel.data(), pool, &t);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
    if (i < a.warmup) continue;
    total.push_back(ms);
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
       {{"conv", median(conv)}, {"attention", median(attention)}, {"gemm", median(gemm)},
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
  std::printf("  conv %.1f  attention %.1f  gemm %.1f  other %.1f ms\n", median(conv),
              median(attention), median(gemm), median(other));
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
  cmd->add_option("--mel", args->mel, "log-mel .npy [n_mels, 3000] (default: synthetic)");
  cmd->add_option("--precision", args->precision, "int8 or fp32")->capture_default_str();
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

}  // namespace amanuensis::cli
