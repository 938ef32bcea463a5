#pragma once

#include <CLI/CLI.hpp>

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

}  // namespace amanuensis::cli
