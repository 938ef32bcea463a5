// amanuensis-dev: the developer's tool (kernels, encoder, features, tokenizer,
// VAD and benchmarks), apart from the `amanuensis` program users get. Each
// subcommand lives in its own file of this folder.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"       // flags shared with the `amanuensis` program
#include "cli/default_model.h"  // the model cache

namespace amanuensis::devtool {

using cli::add_vad_options;
using cli::default_vad_model;

void add_attention_command(CLI::App& app);
void add_encode_command(CLI::App& app);
void add_mel_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_vad_command(CLI::App& app);
void add_bench_attention_command(CLI::App& bench);
void add_bench_encoder_command(CLI::App& bench);
void add_bench_decoder_command(CLI::App& bench);
void add_bench_gemm_command(CLI::App& bench);

}  // namespace amanuensis::devtool
