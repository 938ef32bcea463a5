// amanuensis: the command-line program (transcribe, serve). Each subcommand
// lives in its own file; the developer's subcommands are in amanuensis-dev
// (src/devtool/).
#include <cstdio>
#include <exception>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"amanuensis: Whisper speech-to-text on exact INT8 kernels"};
  app.require_subcommand(1);
  amanuensis::cli::add_transcribe_command(app);
  amanuensis::cli::add_serve_command(app);
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
