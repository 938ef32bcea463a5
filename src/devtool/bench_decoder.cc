// amanuensis-dev bench decoder: milliseconds per decoding step (each of
// --sequences independent sequences with --beams rows, its own 30 s window of
// cross-attention, all in one batched step), against its floors: the bytes a
// step must read over the read bandwidth, and its int8 multiply-adds over the
// int8 peak, both measured in the same process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "devtool/commands.h"
#include "devtool/peak/int8_peak.h"
#include "devtool/peak/memory_bandwidth.h"
#include "devtool/timing.h"
#include "model/checkpoint.h"
#include "model/decoder.h"
#include "util/scratch.h"

namespace amanuensis::devtool {
namespace {

struct BenchDecoderArgs {
  std::string model, precision = "int8", backend = "auto";
  int threads = 2, beams = 5, sequences = 1, steps = 60, context = 100;
  bool json = false;
};

constexpr int kPromptRuns = 5;

void run(const BenchDecoderArgs& a) {
  const Precision precision = parse_precision(a.precision);
  WhisperCheckpoint c = load_checkpoint(a.model);
  const text::SpecialTokens sp = c.tokenizer->special();
  const int frames = c.encoder.n_ctx, d = c.decoder.d_model;
  const Decoder decoder(std::move(c.decoder), precision, parse_backend(a.backend));
  if (a.context + a.steps >= decoder.n_ctx())
    throw std::invalid_argument("--context + --steps must stay below the text context");
  ThreadPool pool(a.threads);
  ScratchPool scratch;  // as a Session holds it: buffers reused across steps
  const ScratchScope scope(scratch);
  const double bandwidth = measure_read_bandwidth(a.threads);
  const Int8Peak peak = measure_int8_peak(a.threads, parse_backend(a.backend));

  // Encoder-like states (LayerNorm output: about unit variance), one window
  // per sequence.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> text_token(0, sp.eot - 1);
  const int seqs = a.sequences, rows = seqs * a.beams;
  std::vector<DecoderState> states(seqs);
  std::vector<float> logits(size_t(rows) * decoder.n_vocab());
  std::vector<double> prompt_ms;
  for (DecoderState& state : states) {
    std::vector<float> encoded(size_t(frames) * d);
    for (float& x : encoded) x = normal(rng);
    decoder.begin(state, encoded.data(), frames, a.beams, pool);
    std::vector<int> prompt(a.context);
    for (int& t : prompt) t = text_token(rng);
    prompt[0] = sp.sot;
    // The prompt (previous text, as each later window of a long file starts
    // with), timed on its own: its rows make its GEMMs and attention
    // compute-, not memory-bound.
    for (int run = 0; run < (prompt_ms.empty() ? kPromptRuns : 1); ++run) {
      decoder.restart(state, a.beams);
      const auto t0 = std::chrono::steady_clock::now();
      decoder.step(state, prompt.data(), 1, int(prompt.size()), logits.data(), pool);
      if (&state == &states[0]) prompt_ms.push_back(elapsed_ms(t0));
    }
    state.replicate(a.beams);
  }
  std::vector<double> ms;
  std::vector<int> next(rows);
  std::vector<DecoderStep> batch;
  for (int g = 0; g < seqs; ++g)
    batch.push_back({&states[g], next.data() + g * a.beams, a.beams, 1});
  for (int s = 0; s < a.steps; ++s) {
    for (int& t : next) t = text_token(rng);
    const auto t0 = std::chrono::steady_clock::now();
    decoder.step(batch, logits.data(), pool);
    ms.push_back(elapsed_ms(t0));
  }
  const double step = median(ms);
  // The self-attention cache a step must read, at the median step: each
  // sequence's prompt once (every beam holds the same), each beam's own
  // positions since then.
  const int own = a.steps / 2 + 1;
  const double self_kv_bytes = double(seqs) * double(a.context + size_t(a.beams) * own) *
                               decoder.n_layers() * 2 * d * sizeof(float);
  const double bytes = double(decoder.step_weight_bytes()) +
                       double(seqs) * double(decoder.cross_kv_bytes(frames)) + self_kv_bytes;
  const double memory_floor_ms = bytes / (bandwidth * 1e9) * 1e3;
  // The GEMMs' multiply-adds (every weight once per row; 2 ops each) at the
  // int8 peak: the floor once enough rows share each weight read.
  const double gemm_ops = 2.0 * double(rows) * double(decoder.step_weights());
  const double compute_floor_ms = gemm_ops / (peak.gops * 1e9) * 1e3;
  const double floor_ms = std::max(memory_floor_ms, compute_floor_ms);
  const nlohmann::json r = {{"model", a.model},
                            {"precision", a.precision},
                            {"threads", a.threads},
                            {"sequences", seqs},
                            {"beams", a.beams},
                            {"rows", rows},
                            {"context", a.context},
                            {"steps", a.steps},
                            {"step_ms", step},
                            {"ms_per_row", step / rows},
                            {"prompt_ms", median(prompt_ms)},
                            {"weight_bytes", decoder.step_weight_bytes()},
                            {"cross_kv_bytes", double(seqs) * decoder.cross_kv_bytes(frames)},
                            {"self_kv_bytes", self_kv_bytes},
                            {"read_bandwidth_gbs", bandwidth},
                            {"int8_peak_gops", peak.gops},
                            {"memory_floor_ms", memory_floor_ms},
                            {"compute_floor_ms", compute_floor_ms},
                            {"floor_ms", floor_ms},
                            {"ratio_to_floor", step / floor_ms}};
  if (a.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return;
  }
  std::printf(
      "decoder %s, %s, %d threads, %d sequence(s) x %d beams = %d rows at %d tokens of context,"
      " median of %d steps:\n",
      a.model.c_str(), a.precision.c_str(), a.threads, seqs, a.beams, rows, a.context, a.steps);
  std::printf("  %.2f ms per step (%.3f ms per row)\n", step, step / rows);
  std::printf(
      "  memory floor %.2f ms = (%.1f MB weights + %.1f MB cross K/V + %.1f MB self K/V) /"
      " %.1f GB/s read bandwidth\n",
      memory_floor_ms, decoder.step_weight_bytes() / 1e6,
      seqs * decoder.cross_kv_bytes(frames) / 1e6, self_kv_bytes / 1e6, bandwidth);
  std::printf("  compute floor %.2f ms = %.2f G int8 ops / %.0f G ops/s (%s)\n", compute_floor_ms,
              gemm_ops / 1e9, peak.gops, peak.instruction.c_str());
  std::printf("  %.2fx the floor\n", step / floor_ms);
  std::printf("  the prompt of %d tokens: %.2f ms (median of %d)\n", a.context, median(prompt_ms),
              kPromptRuns);
}

}  // namespace

void add_bench_decoder_command(CLI::App& bench) {
  auto args = std::make_shared<BenchDecoderArgs>();
  CLI::App* cmd =
      bench.add_subcommand("decoder", "Time one decoding step against its memory floor");
  cmd->add_option("--model", args->model, "model folder or file")->required();
  cmd->add_option("--precision", args->precision, "int8 or fp32")->capture_default_str();
  cmd->add_option("--backend", args->backend, "int8 kernels")->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--beams", args->beams, "rows per sequence")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--sequences", args->sequences,
                  "independent sequences (own window and cache) in each batched step")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--steps", args->steps, "timed steps")
      ->check(CLI::Range(1, 300))
      ->capture_default_str();
  cmd->add_option("--context", args->context, "tokens already cached")
      ->check(CLI::Range(1, 400))
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
