// amanuensis-dev bench gemm: the int8 GEMM alone (and its activation quantization)
// on one shape, against the int8 peak measured in the same process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "devtool/commands.h"
#include "devtool/timing.h"
#include "kernels/gemm/gemm.h"
#include "devtool/peak/int8_peak.h"

namespace amanuensis::devtool {
namespace {

struct BenchGemmArgs {
  int m = 1500, n = 1536, k = 512, threads = 2, runs = 20, outliers = 0;
  std::string backend = "auto";
  bool json = false;
};

void run(const BenchGemmArgs& a) {
  const gemm::Backend backend = resolve_backend(parse_backend(a.backend));
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  std::vector<float> x(size_t(a.m) * a.k), w(size_t(a.n) * a.k), y(size_t(a.m) * a.n);
  for (float& v : x) v = g(rng);
  for (float& v : w) v = g(rng);
  const gemm::QuantizedWeights qw = gemm::quantize_weights(w.data(), nullptr, a.n, a.k);
  ThreadPool pool(a.threads);
  const Int8Peak peak = measure_int8_peak(a.threads, backend);
  std::vector<int> outlier_cols(std::min(a.outliers, a.k));  // any channels: the cost is the same
  for (size_t j = 0; j < outlier_cols.size(); ++j)
    outlier_cols[j] = int(j * a.k / outlier_cols.size());
  gemm::QuantizedRows qx;
  const double quantize_ms = median_ms(
      1, a.runs, [&] { gemm::quantize_rows(x.data(), a.m, a.k, qx, pool, outlier_cols); });
  const double gemm_ms = median_ms(1, a.runs, [&] { gemm::gemm(qx, qw, backend, pool, y.data()); });
  const double gops = 2.0 * a.m * a.n * a.k / (gemm_ms * 1e6);
  const nlohmann::json r = {{"m", a.m},
                            {"n", a.n},
                            {"k", a.k},
                            {"outliers", int(outlier_cols.size())},
                            {"threads", a.threads},
                            {"quantize_ms", quantize_ms},
                            {"gemm_ms", gemm_ms},
                            {"gops", gops},
                            {"int8_peak_gops", peak.gops},
                            {"fraction_of_peak", peak.gops > 0 ? gops / peak.gops : 0.0}};
  if (a.json)
    std::printf("%s\n", r.dump(2).c_str());
  else
    std::printf(
        "gemm %dx%dx%d, %d threads: %.3f ms, %.0f GOPS = %.0f%% of peak (%.0f); "
        "quantizing the activations %.3f ms\n",
        a.m, a.n, a.k, a.threads, gemm_ms, gops, 100 * r["fraction_of_peak"].get<double>(),
        peak.gops, quantize_ms);
}

}  // namespace

void add_bench_gemm_command(CLI::App& bench) {
  auto args = std::make_shared<BenchGemmArgs>();
  CLI::App* cmd =
      bench.add_subcommand("gemm", "Time the int8 GEMM on one shape (default: base QKV)");
  cmd->add_option("--m", args->m, "rows (tokens)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--n", args->n, "output channels")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--k", args->k, "input channels")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--outliers", args->outliers,
                  "input channels quantized apart, as the encoder's outlier channels")
      ->check(CLI::Range(0, gemm::kMaxOutliers))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--runs", args->runs, "timed runs")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--backend", args->backend, "reference, avx2, avx512, amx or auto")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
