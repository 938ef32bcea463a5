// amanuensis-dev attention: float32 .npy Q, K, V in, float32 .npy out, through the
// integer kernel.
#include <memory>
#include <stdexcept>
#include <string>

#include "devtool/commands.h"
#include "formats/npy.h"
#include "kernels/attention/attention.h"
#include "util/shape_text.h"

namespace amanuensis::devtool {
namespace {

struct AttentionArgs {
  std::string q, k, v, out, backend = "auto";
  bool causal = false;
  int threads = 1, tile = 64, qk_planes = attn::kDefaultQkPlanes;
};

// [H, T, 64] or [T, 64] -> (H, T).
std::pair<int, int> heads_and_length(const NpyF32& a, const std::string& name) {
  const auto& s = a.shape;
  if ((s.size() != 2 && s.size() != 3) || s.back() != attn::kHeadDim)
    throw std::invalid_argument(name + " must have shape [H, T, 64] or [T, 64], got " +
                                shape_text(s));
  const int64_t heads = s.size() == 3 ? s[0] : 1, length = s[s.size() - 2];
  if (heads < 1) throw std::invalid_argument(name + " has no heads (H = 0)");
  if (length < 1) throw std::invalid_argument(name + " has no tokens (T = 0)");
  if (length > attn::kMaxKeys || heads > 4096)
    throw std::invalid_argument(name + " shape " + shape_text(s) +
                                " is beyond the kernel's limits");
  return {int(heads), int(length)};
}

void run(const AttentionArgs& a) {
  const Backend backend = parse_backend(a.backend);
  if (!attn::is_valid_tile(a.tile)) throw std::invalid_argument("--tile must be 16, 32 or 64");
  const NpyF32 q = read_npy_f32(a.q), k = read_npy_f32(a.k), v = read_npy_f32(a.v);
  const auto [heads, length] = heads_and_length(q, "Q (" + a.q + ")");
  heads_and_length(k, "K (" + a.k + ")");
  heads_and_length(v, "V (" + a.v + ")");
  if (k.shape != q.shape || v.shape != q.shape)
    throw std::invalid_argument("Q, K and V shapes differ: " + shape_text(q.shape) + ", " +
                                shape_text(k.shape) + ", " + shape_text(v.shape));
  const attn::QuantizedAttention p =
      attn::quantize_attention(q.data.data(), k.data.data(), v.data.data(), heads, length, length,
                               a.causal, 0, nullptr, a.qk_planes);
  std::vector<float> out(q.data.size());
  ThreadPool pool(a.threads);
  attn::run_attention(p, backend, a.tile, pool, out.data());
  write_npy_f32(a.out, q.shape, out.data());
}

}  // namespace

void add_attention_command(CLI::App& app) {
  auto args = std::make_shared<AttentionArgs>();
  CLI::App* cmd = app.add_subcommand(
      "attention", "Exact INT8 attention of float32 .npy Q, K, V ([H, T, 64] or [T, 64])");
  cmd->add_option("--q", args->q, "queries, float32 .npy")->required();
  cmd->add_option("--k", args->k, "keys, float32 .npy")->required();
  cmd->add_option("--v", args->v, "values, float32 .npy")->required();
  cmd->add_option("--out", args->out, "output, float32 .npy, shape of Q")->required();
  cmd->add_flag("--causal", args->causal, "query i attends to keys 0..i only");
  cmd->add_option("--backend", args->backend, "reference, avx2, avx512, amx or auto")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--tile", args->tile, "tile size: 16, 32 or 64")->capture_default_str();
  cmd->add_option("--qk-planes", args->qk_planes,
                  "2: two int8 planes each for Q and K (accurate); 1: int8 Q/K (faster Q.K^T)")
      ->check(CLI::IsMember({1, 2}))
      ->capture_default_str();
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
