#pragma once

#include <CLI/CLI.hpp>

namespace amanuensis::cli {

void add_attention_command(CLI::App& app);
void add_mel_command(CLI::App& app);
void add_bench_attention_command(CLI::App& bench);

}  // namespace amanuensis::cli
