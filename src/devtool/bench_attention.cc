// amanuensis-dev bench attention: time the integer kernel on Whisper shapes and
// compare with the int8 peak measured in the same process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "devtool/commands.h"
#include "devtool/timing.h"
#include "kernels/attention/attention.h"
#include "devtool/peak/int8_peak.h"
#include "util/cpu_features.h"

namespace amanuensis::devtool {
namespace {

struct WhisperSize {
  const char* name;
  int heads;
};
constexpr WhisperSize kWhisperSizes[] = {
    {"tiny", 6}, {"base", 8}, {"small", 12}, {"medium", 16}, {"large", 20}};

struct BenchArgs {
  int heads = 0;  // 0: every Whisper size
  int frames = 1500, threads = 2, tile = 64, runs = 20, warmup = 3,
      qk_planes = attn::kDefaultQkPlanes;
  std::string backend = "auto";
  bool causal = false, json = false, compare_tiles = false;
};

struct Case {
  std::string name;
  int heads, tile;
};

nlohmann::json bench_case(const BenchArgs& a, const Case& c, attn::Backend backend,
                          ThreadPool& pool, double peak_gops) {
  const size_t n = size_t(c.heads) * a.frames * attn::kHeadDim;
  std::vector<float> q(n), k(n), v(n), out(n);
  std::mt19937 rng(1234);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) {
    q[i] = gauss(rng);
    k[i] = gauss(rng);
    v[i] = gauss(rng);
  }
  attn::QuantizedAttention p;
  const double quantize_ms = median_ms(1, 5, [&] {
    p = attn::quantize_attention(q.data(), k.data(), v.data(), c.heads, a.frames, a.frames,
                                 a.causal, 0, &pool, a.qk_planes);
  });
  const double ms = median_ms(a.warmup, a.runs,
                              [&] { attn::run_attention(p, backend, c.tile, pool, out.data()); });
  double score_count = 0;  // (query, visible key) pairs
  for (int i = 0; i < a.frames; ++i) score_count += p.keys_visible(i);
  const double ops = 4.0 * attn::kHeadDim * score_count * c.heads;  // QK^T and PV, 2 ops per MAC
  const double gops = ops / (ms * 1e6);
  const int tiles_per_sequence = (a.frames + c.tile - 1) / c.tile;
  const double tile_steps = double(c.heads) * tiles_per_sequence * tiles_per_sequence;
  return {{"shape", c.name},
          {"heads", c.heads},
          {"frames", a.frames},
          {"head_dim", attn::kHeadDim},
          {"causal", a.causal},
          {"tile", c.tile},
          {"qk_planes", a.qk_planes},
          {"tiles_per_sequence", tiles_per_sequence},
          {"us_per_tile_step", ms * 1000 / tile_steps},
          {"threads", pool.threads()},
          {"backend", to_string(backend)},
          {"runs", a.runs},
          {"ms_per_layer", ms},
          {"quantize_ms", quantize_ms},
          {"gops", gops},
          {"int8_peak_gops", peak_gops},
          {"fraction_of_peak", peak_gops > 0 ? gops / peak_gops : 0.0}};
}

void run(const BenchArgs& a) {
  if (!attn::is_valid_tile(a.tile)) throw std::invalid_argument("--tile must be 16, 32 or 64");
  if (a.frames < 1 || a.frames > attn::kMaxKeys)
    throw std::invalid_argument("--frames must be in [1, " + std::to_string(attn::kMaxKeys) + "]");
  const attn::Backend backend = resolve_backend(parse_backend(a.backend));
  ThreadPool pool(a.threads);
  const Int8Peak peak = measure_int8_peak(a.threads, backend);

  std::vector<Case> cases;
  if (a.compare_tiles) {
    const int heads = a.heads ? a.heads : 8;
    for (int tile : attn::kTileSizes) cases.push_back({"tile" + std::to_string(tile), heads, tile});
  } else if (a.heads) {
    cases.push_back({"custom", a.heads, a.tile});
  } else {
    for (const auto& s : kWhisperSizes) cases.push_back({s.name, s.heads, a.tile});
  }

  nlohmann::json results = nlohmann::json::array();
  if (!a.json)
    std::printf("int8 peak (%s, %d threads): %.0f GOPS\n%-8s %5s %5s %5s %9s %10s %8s %8s\n",
                peak.instruction.c_str(), a.threads, peak.gops, "shape", "heads", "T", "tile",
                "ms/layer", "us/step", "GOPS", "peak");
  for (const Case& c : cases) {
    nlohmann::json r = bench_case(a, c, backend, pool, peak.gops);
    if (!a.json)
      std::printf("%-8s %5d %5d %5d %9.3f %10.3f %8.0f %7.1f%%\n", c.name.c_str(), c.heads,
                  a.frames, c.tile, r["ms_per_layer"].get<double>(),
                  r["us_per_tile_step"].get<double>(), r["gops"].get<double>(),
                  100 * r["fraction_of_peak"].get<double>());
    results.push_back(std::move(r));
  }
  if (a.json) std::printf("%s\n", (results.size() == 1 ? results[0] : results).dump(2).c_str());
}

}  // namespace

void add_bench_attention_command(CLI::App& bench) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = bench.add_subcommand(
      "attention", "Time INT8 attention per layer on Whisper shapes (default: tiny..large)");
  cmd->add_option("--heads", args->heads, "heads (default: every Whisper size)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--frames", args->frames, "sequence length T")->capture_default_str();
  cmd->add_option("--threads", args->threads, "worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--tile", args->tile, "tile size: 16, 32 or 64")->capture_default_str();
  cmd->add_option("--backend", args->backend, "reference, avx2, avx512, amx or auto")
      ->capture_default_str();
  cmd->add_option("--runs", args->runs, "timed runs (the median is reported)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "untimed runs first")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_flag("--causal", args->causal, "causal mask");
  cmd->add_option("--qk-planes", args->qk_planes,
                  "2: two int8 planes each for Q and K (accurate); 1: int8 Q/K (faster)")
      ->check(CLI::IsMember({1, 2}))
      ->capture_default_str();
  cmd->add_flag("--compare-tiles", args->compare_tiles,
                "time tiles 16, 32 and 64 on one shape (--heads, default 8)");
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
