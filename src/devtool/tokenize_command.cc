// amanuensis-dev tokenize: the text tokenizer in batch, for tests and scripts. One
// JSON request a line on stdin, one JSON answer a line on stdout:
//   {"encode": "text"} -> {"ids": [...]}
//   {"decode": [ids]}  -> {"text": "..."}   (special ids skipped)
//   {"decode_with_timestamps": [ids]} -> {"text": "..."}
//   {"token": id}      -> {"text": "..."}   (a token's bytes, invalid UTF-8 replaced)
//   {"special": true}  -> the special-token ids
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "devtool/commands.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace amanuensis::devtool {
namespace {

struct TokenizeArgs {
  std::string vocab;
  int n_vocab = 0;
};

text::Tokenizer load(const TokenizeArgs& a) {
  const auto ends_with = [&](const std::string& suffix) {
    return a.vocab.size() >= suffix.size() &&
           a.vocab.compare(a.vocab.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("tokenizer.json")) return text::Tokenizer::from_tokenizer_json(a.vocab, a.n_vocab);
  if (ends_with(".json")) return text::Tokenizer::from_vocab_json(a.vocab, a.n_vocab);
  return text::Tokenizer::from_vocabulary_txt(a.vocab, a.n_vocab);
}

nlohmann::json answer(const text::Tokenizer& tok, const nlohmann::json& req) {
  if (!req.is_object() || req.size() != 1) throw std::invalid_argument("one key per request");
  const auto it = req.begin();  // (items()'s proxy would not outlive this line)
  const std::string key = it.key();
  const nlohmann::json& value = it.value();
  if (key == "encode") return {{"ids", tok.encode(value.get<std::string>())}};
  if (key == "decode") return {{"text", tok.decode(value.get<std::vector<int>>())}};
  if (key == "decode_with_timestamps")
    return {{"text", tok.decode_with_timestamps(value.get<std::vector<int>>())}};
  if (key == "token")
    return {{"text", text::replace_invalid_utf8(tok.token_bytes(value.get<int>()))}};
  if (key == "special") {
    const text::SpecialTokens& s = tok.special();
    return {{"eot", s.eot},
            {"sot", s.sot},
            {"translate", s.translate},
            {"transcribe", s.transcribe},
            {"startoflm", s.startoflm},
            {"startofprev", s.startofprev},
            {"nospeech", s.nospeech},
            {"notimestamps", s.notimestamps},
            {"timestamp_begin", s.timestamp_begin},
            {"n_languages", s.n_languages},
            {"n_vocab", s.n_vocab},
            {"multilingual", s.multilingual}};
  }
  throw std::invalid_argument("unknown request '" + key + "'");
}

void run(const TokenizeArgs& a) {
  const text::Tokenizer tok = load(a);
  std::string line;
  for (int n = 1; std::getline(std::cin, line); ++n) {
    if (line.empty()) continue;
    const nlohmann::json req = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded())
      throw std::invalid_argument("stdin line " + std::to_string(n) + ": not valid JSON");
    try {
      std::cout << answer(tok, req).dump() << '\n';
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument("stdin line " + std::to_string(n) + ": malformed request");
    } catch (const std::exception& e) {
      throw std::invalid_argument("stdin line " + std::to_string(n) + ": " + e.what());
    }
  }
  std::cout.flush();
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Whisper's text tokenizer in batch (for tests): JSON lines on stdin, "
      "{\"encode\": TEXT} or {\"decode\": [IDS]}, one JSON answer a line on stdout");
  cmd->add_option("--vocab", args->vocab,
                  "tokenizer.json, vocab.json or CTranslate2 vocabulary.txt")
      ->required();
  cmd->add_option("--n-vocab", args->n_vocab,
                  "the model's vocabulary size: 51864 (.en), 51865, 51866 (large-v3)")
      ->required();
  cmd->callback([args] { run(*args); });
}

}  // namespace amanuensis::devtool
