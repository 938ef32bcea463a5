#pragma once

#include <CLI/CLI.hpp>

#include "amanuensis/types.h"

namespace amanuensis::cli {

void add_attention_command(CLI::App& app);
void add_mel_command(CLI::App& app);
void add_bench_attention_command(CLI::App& bench);
void add_encode_command(CLI::App& app);
void add_transcribe_command(CLI::App& app);
void add_bench_encoder_command(CLI::App& bench);
void add_bench_decoder_command(CLI::App& bench);
void add_bench_gemm_command(CLI::App& bench);
void add_tokenize_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_vad_command(CLI::App& app);

// Flags shared by several commands (options.cc), bound to the library's
// types: the names are the library's (parse_task, ...), checked as parsed.
void add_task_option(CLI::App& cmd, Task& task);
void add_precision_option(CLI::App& cmd, Precision& precision);
void add_backend_option(CLI::App& cmd, Backend& backend);
void add_vad_options(CLI::App& cmd, VadOptions& options);
// --word-starts speech|attention: TranscribeOptions::word_starts_at_speech.
void add_word_starts_option(CLI::App& cmd, bool& starts_at_speech);

}  // namespace amanuensis::cli
