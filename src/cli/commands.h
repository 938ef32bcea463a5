#pragma once

#include <CLI/CLI.hpp>

namespace amanuensis {
struct VadOptions;
}  // namespace amanuensis

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

// The VAD options shared by `transcribe` and `vad` (vad_command.cc).
void add_vad_options(CLI::App& cmd, VadOptions& options);
// --word-starts speech|attention (default speech), and what it means:
// TranscribeOptions::word_starts_at_speech. Throws Error for another value.
void add_word_starts_option(CLI::App& cmd, std::string& word_starts);
bool word_starts_at_speech(const std::string& word_starts);

}  // namespace amanuensis::cli
