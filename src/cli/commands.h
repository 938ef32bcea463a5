// The `amanuensis` program's subcommands (transcribe, serve, stream), each in its own
// file, and the flags they share with the developer's tool (src/devtool/).
#pragma once

#include <CLI/CLI.hpp>

#include "amanuensis/types.h"

namespace amanuensis::cli {

void add_transcribe_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_stream_command(CLI::App& app);

// Flags shared by several commands (options.cc), bound to the library's
// types: the names are the library's (parse_task, ...), checked as parsed.
void add_task_option(CLI::App& cmd, Task& task);
void add_precision_option(CLI::App& cmd, Precision& precision);
void add_backend_option(CLI::App& cmd, Backend& backend);
// --threads, --precision, --backend: how a command that loads a model runs it.
void add_run_options(CLI::App& cmd, int& threads, ModelOptions& model);
// --vad-threshold and the other --vad-* options; each needs `vad_flag` where
// the command has one (null: always apply, as amanuensis-dev vad).
void add_vad_options(CLI::App& cmd, CLI::Option* vad_flag, VadOptions& options);
// A check that a value is a whole number from lo to hi, whose errors say so.
CLI::Validator whole_number(int lo, int hi);
// --word-starts speech|attention: TranscribeOptions::word_starts_at_speech.
void add_word_starts_option(CLI::App& cmd, bool& starts_at_speech);

// Parses the command line and runs the chosen subcommand: exit status 0, or
// 1 after one line "PROGRAM: error: ..." on stderr (--help exits 0).
int run(CLI::App& app, int argc, char** argv, const char* program);

}  // namespace amanuensis::cli
