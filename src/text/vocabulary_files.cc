// The vocabulary files a Whisper checkpoint may carry: Hugging Face's
// tokenizer.json and vocab.json, and CTranslate2's vocabulary.txt and
// vocabulary.json. All spell tokens as GPT-2 byte-level strings; each loader
// checks the ids against Whisper's layout before building a Tokenizer.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/file.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace amanuensis::text {
namespace {

std::string read_text(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw TokenizerError(path + ": no such vocabulary file");
  try {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::runtime_error& e) {
    throw TokenizerError(e.what());
  }
}

// The {GPT-2 string: id} object at a path of keys in a JSON text (empty: the
// top level), read with nlohmann's SAX interface: the rest of the file is
// lexed and dropped, never built into a document. (tokenizer.json's document,
// 50,000 merges included, took ~140 ms to build; Whisper's BPE ranks are
// its token ids, so the vocabulary is all it needs.)
class JsonVocabReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  struct Entry {
    std::string text;
    long long id;
    bool integer;
  };
  JsonVocabReader(std::vector<std::string> vocab_path, std::vector<std::string> type_path)
      : vocab_path_(std::move(vocab_path)), type_path_(std::move(type_path)) {}

  bool found = false;       // an object at the vocabulary's path
  bool not_object = false;  // something else there
  std::vector<Entry> entries;
  std::string type;  // the string at type_path, if any

  bool null() override { return scalar(0, false); }
  bool boolean(bool) override { return scalar(0, false); }
  bool number_integer(number_integer_t v) override { return scalar(v, true); }
  bool number_unsigned(number_unsigned_t v) override {
    return scalar(v > number_unsigned_t(1) << 62 ? -1 : (long long)(v), true);
  }
  bool number_float(number_float_t, const string_t&) override { return scalar(0, false); }
  bool string(string_t& v) override {
    if (at(type_path_)) type = v;
    return scalar(0, false);
  }
  bool binary(binary_t&) override { return scalar(0, false); }
  bool start_object(std::size_t) override {
    if (at(vocab_path_))
      found = true;
    else
      entry(0, false);  // an object as an entry's id is no integer
    frames_.push_back({true, {}});
    return true;
  }
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (at(vocab_path_))
      not_object = true;
    else
      entry(0, false);
    frames_.push_back({false, {}});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Frame {
    bool object;
    std::string key;
  };
  // The value being read sits at this path of object keys.
  bool at(const std::vector<std::string>& path) const {
    if (frames_.size() != path.size()) return false;
    for (size_t i = 0; i < path.size(); ++i)
      if (!frames_[i].object || frames_[i].key != path[i]) return false;
    return true;
  }
  bool scalar(long long id, bool integer) {
    if (at(vocab_path_))
      not_object = true;
    else
      entry(id, integer);
    return true;
  }
  // A value directly inside the vocabulary object is a token's id.
  void entry(long long id, bool integer) {
    const size_t depth = vocab_path_.size();
    if (frames_.size() != depth + 1 || !frames_.back().object) return;
    for (size_t i = 0; i < depth; ++i)
      if (!frames_[i].object || frames_[i].key != vocab_path_[i]) return;
    entries.push_back({frames_.back().key, id, integer});
  }
  std::vector<std::string> vocab_path_, type_path_;
  std::vector<Frame> frames_;
};

JsonVocabReader read_json_vocab(const std::string& path, std::vector<std::string> vocab_path,
                                std::vector<std::string> type_path = {}) {
  const std::string text = read_text(path);
  JsonVocabReader reader(std::move(vocab_path), std::move(type_path));
  if (!nlohmann::json::sax_parse(text, &reader)) throw TokenizerError(path + ": not valid JSON");
  return reader;
}

// Text tokens from a {GPT-2 string: id} map (tokenizer.json's model.vocab,
// vocab.json). Ids past the text tokens are special tokens, checked only for
// consistency with n_vocab.
Tokenizer from_json_vocab(const JsonVocabReader& vocab, int n_vocab, const std::string& path) {
  if (!vocab.found || vocab.not_object)
    throw TokenizerError(path + ": the vocabulary is not a JSON object");
  const SpecialTokens special = special_tokens(n_vocab);
  std::vector<std::string> tokens(special.eot);
  std::vector<bool> seen(special.eot, false);
  std::string bytes;
  for (const auto& [text, id, integer] : vocab.entries) {
    if (!integer) throw TokenizerError(path + ": token '" + text + "' has no integer id");
    if (id < 0 || id >= n_vocab)
      throw TokenizerError(path + ": token '" + text + "' has id " + std::to_string(id) +
                           ", outside the model's vocabulary of " + std::to_string(n_vocab));
    if (text == "<|endoftext|>" && id != special.eot)
      throw TokenizerError(path + ": <|endoftext|> is id " + std::to_string(id) + ", but n_vocab " +
                           std::to_string(n_vocab) + " needs " + std::to_string(special.eot) +
                           " (vocabulary of another model?)");
    if (id >= special.eot) continue;
    if (seen[id]) throw TokenizerError(path + ": id " + std::to_string(id) + " appears twice");
    if (!byte_level_to_bytes(text, bytes))
      throw TokenizerError(path + ": token " + std::to_string(id) +
                           " is not a GPT-2 byte-level string");
    tokens[id] = bytes;
    seen[id] = true;
  }
  for (int id = 0; id < special.eot; ++id)
    if (!seen[id])
      throw TokenizerError(path + ": no token with id " + std::to_string(id) + " (needs " +
                           std::to_string(special.eot) + " text tokens for n_vocab " +
                           std::to_string(n_vocab) + ")");
  return Tokenizer(std::move(tokens), n_vocab, path);
}

nlohmann::json parse_json(const std::string& path) {
  const std::string text = read_text(path);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw TokenizerError(path + ": not valid JSON");
  return j;
}

}  // namespace

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path, int n_vocab) {
  const JsonVocabReader vocab = read_json_vocab(path, {"model", "vocab"}, {"model", "type"});
  if (!vocab.found && !vocab.not_object)
    throw TokenizerError(path + ": not a Hugging Face tokenizer.json (no model.vocab)");
  if (!vocab.type.empty() && vocab.type != "BPE")
    throw TokenizerError(path + ": model.type is not BPE");
  return from_json_vocab(vocab, n_vocab, path);
}

Tokenizer Tokenizer::from_vocab_json(const std::string& path, int n_vocab) {
  return from_json_vocab(read_json_vocab(path, {}), n_vocab, path);
}

namespace {

// CTranslate2's vocabularies: token i's GPT-2 byte-level string at index i,
// special tokens included (checked only where <|endoftext|> sits).
Tokenizer from_token_list(const std::vector<std::string_view>& tokens_in, int n_vocab,
                          const std::string& path, const char* unit) {
  const SpecialTokens special = special_tokens(n_vocab);
  if (static_cast<int>(tokens_in.size()) != n_vocab)
    throw TokenizerError(path + ": " + std::to_string(tokens_in.size()) + " " + unit +
                         ", but the model's vocabulary has " + std::to_string(n_vocab));
  if (tokens_in[special.eot] != "<|endoftext|>")
    throw TokenizerError(path + ": entry " + std::to_string(special.eot + 1) +
                         " is not <|endoftext|> (vocabulary of another model?)");
  std::vector<std::string> tokens(special.eot);
  for (int id = 0; id < special.eot; ++id)
    if (!byte_level_to_bytes(tokens_in[id], tokens[id]))
      throw TokenizerError(path + ": entry " + std::to_string(id + 1) +
                           " is not a GPT-2 byte-level string");
  return Tokenizer(std::move(tokens), n_vocab, path);
}

}  // namespace

Tokenizer Tokenizer::from_vocabulary_txt(const std::string& path, int n_vocab) {
  const std::string text = read_text(path);
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    const size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(std::string_view(text).substr(start, end - start));
    start = end + 1;  // a final newline ends the last line, it does not start one
  }
  return from_token_list(lines, n_vocab, path, "lines");
}

Tokenizer Tokenizer::from_vocabulary_json(const std::string& path, int n_vocab) {
  const nlohmann::json j = parse_json(path);
  if (!j.is_array()) throw TokenizerError(path + ": not a JSON list of tokens");
  std::vector<std::string_view> tokens;
  for (const nlohmann::json& t : j) {
    if (!t.is_string()) throw TokenizerError(path + ": holds something other than strings");
    tokens.push_back(t.get_ref<const std::string&>());
  }
  return from_token_list(tokens, n_vocab, path, "tokens");
}

}  // namespace amanuensis::text
