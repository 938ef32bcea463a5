// amanuensis-dev: the developer's tool. Each subcommand lives in its own file.
#include "devtool/commands.h"

int main(int argc, char** argv) {
  namespace dev = amanuensis::devtool;
  CLI::App app{"amanuensis-dev: kernels, encoder, features, tokenizer, VAD and benchmarks"};
  app.require_subcommand(1);
  dev::add_attention_command(app);
  dev::add_encode_command(app);
  dev::add_mel_command(app);
  dev::add_tokenize_command(app);
  dev::add_vad_command(app);
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (median of several runs)");
  bench->require_subcommand(1);
  dev::add_bench_attention_command(*bench);
  dev::add_bench_encoder_command(*bench);
  dev::add_bench_decoder_command(*bench);
  dev::add_bench_gemm_command(*bench);
  return amanuensis::cli::run(app, argc, argv, "amanuensis-dev");
}
