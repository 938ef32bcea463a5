// amanuensis: the command-line program (transcribe, serve, stream). Each subcommand
// lives in its own file; the developer's subcommands are in amanuensis-dev
// (src/devtool/).
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"amanuensis: Whisper speech-to-text on exact INT8 kernels"};
  app.require_subcommand(1);
  amanuensis::cli::add_transcribe_command(app);
  amanuensis::cli::add_serve_command(app);
  amanuensis::cli::add_stream_command(app);
  return amanuensis::cli::run(app, argc, argv, "amanuensis");
}
