// Whisper's byte-level BPE tokenizer (GPT-2's scheme, as tiktoken runs it):
// text -> GPT-2 pre-tokenizer regex -> BPE by lowest-rank merges -> ids, and
// ids -> bytes -> UTF-8 with invalid sequences replaced.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace amanuensis::text {

struct TokenizerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The ids after the BPE vocabulary, all derived from the model's vocabulary
// size (every Whisper model follows this layout): eot, sot, one token per
// language, the task and prompt tokens, then 1501 timestamps 0.00 .. 30.00 s.
struct SpecialTokens {
  int eot, sot, translate, transcribe, startoflm, startofprev, nospeech, notimestamps,
      timestamp_begin, n_languages, n_vocab;
  bool multilingual;
  int language(int i) const { return sot + 1 + i; }
};

// Throws TokenizerError unless n_vocab is a Whisper vocabulary size (51864
// English-only, 51865 multilingual, 51866 large-v3 with Cantonese).
SpecialTokens special_tokens(int n_vocab);

// Whisper's 100 language codes (and English names) in openai-whisper's order,
// which is the order of the language tokens.
const std::vector<std::string>& language_codes();
const std::vector<std::string>& language_names();
int language_index(std::string_view code);  // -1 if unknown


class Tokenizer {
 public:
  // text_tokens[i] = raw bytes of token i, for every i < eot (rank = id, as in
  // tiktoken); n_vocab = the model's full vocabulary size. `source` names the
  // vocabulary in error messages.
  Tokenizer(std::vector<std::string> text_tokens, int n_vocab,
            std::string_view source = "vocabulary");

  // Hugging Face tokenizer.json (model.vocab) or vocab.json, and CTranslate2's
  // vocabulary.txt (one token a line, line index = id): all spell bytes with
  // GPT-2's bytes_to_unicode characters. Entries past the text tokens must be
  // consistent with n_vocab (eot where it should be) and are otherwise ignored.
  static Tokenizer from_tokenizer_json(const std::string& path, int n_vocab);
  static Tokenizer from_vocab_json(const std::string& path, int n_vocab);
  static Tokenizer from_vocabulary_txt(const std::string& path, int n_vocab);
  // CTranslate2's newer vocabulary.json: a JSON list, index = id.
  static Tokenizer from_vocabulary_json(const std::string& path, int n_vocab);

  const SpecialTokens& special() const { return special_; }
  int n_vocab() const { return special_.n_vocab; }

  // Ordinary text only: special-token strings like "<|en|>" are plain text
  // here. Throws TokenizerError if the text is not valid UTF-8.
  std::vector<int> encode(std::string_view utf8_text) const;
  // Text tokens' bytes, special ids skipped, invalid UTF-8 replaced. Throws
  // TokenizerError for ids outside [0, n_vocab).
  std::string decode(const std::vector<int>& ids) const;
  // As decode, but timestamps kept as "<|1.08|>" (openai-whisper's form).
  std::string decode_with_timestamps(const std::vector<int>& ids) const;
  // Raw bytes of a text token, or a special token's name ("<|en|>", "<|0.02|>").
  std::string token_bytes(int id) const;

 private:
  struct Pattern;  // the compiled pre-tokenizer regex (PCRE2), immutable
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void encode_piece(std::string_view piece, std::vector<int>& out) const;
  int rank(std::string_view bytes) const;  // -1 if not a token
  void check_id(int id) const;             // throws unless 0 <= id < n_vocab

  SpecialTokens special_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int, TransparentHash, std::equal_to<>> ids_;
  std::shared_ptr<const Pattern> pattern_;
};

}  // namespace amanuensis::text
