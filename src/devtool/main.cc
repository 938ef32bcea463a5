// amanuensis-dev: the developer's tool. Each subcommand lives in its own file.
#include <cstdio>
#include <exception>

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "amanuensis-dev: error: %s (see --help)\n", e.what());  // one line
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "amanuensis-dev: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
