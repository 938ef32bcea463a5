// amanuensis: the command-line program. Each subcommand lives in its own file.
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"amanuensis: Whisper speech-to-text on exact INT8 kernels"};
  app.require_subcommand(1);
  amanuensis::cli::add_attention_command(app);
  amanuensis::cli::add_transcribe_command(app);
  amanuensis::cli::add_encode_command(app);
  amanuensis::cli::add_mel_command(app);
  amanuensis::cli::add_tokenize_command(app);
  amanuensis::cli::add_serve_command(app);
  amanuensis::cli::add_vad_command(app);
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (median of several runs)");
  bench->require_subcommand(1);
  amanuensis::cli::add_bench_attention_command(*bench);
  amanuensis::cli::add_bench_encoder_command(*bench);
  amanuensis::cli::add_bench_decoder_command(*bench);
  amanuensis::cli::add_bench_gemm_command(*bench);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a subcommand already said what failed
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "amanuensis: error: %s (see --help)\n", e.what());  // one line
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "amanuensis: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
