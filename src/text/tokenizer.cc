#include "text/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <queue>
#include <tuple>
#include <utility>

#include "io/file.h"
#include "util/whisper_geometry.h"

namespace amanuensis::text {
namespace {

// ---- UTF-8 ------------------------------------------------------------------

// The valid UTF-8 sequence at s[i]: its length (> 0); or, if it is invalid,
// minus the length of its maximal subpart (at least 1 byte), the unit that
// Unicode (and Python, and Rust) replace by one U+FFFD.
int utf8_sequence(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  if (b < 0x80) return 1;
  int n;                               // sequence length
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;  // no overlongs
    if (b == 0xED) hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;  // no overlongs
    if (b == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return -1;  // a continuation byte, C0, C1 or F5..FF
  }
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) return -k;
    const unsigned char c = byte(i + k);
    if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -k;
  }
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_sequence(s, i);
    if (n < 0) return false;
    i += n;
  }
  return true;
}

char32_t code_point(std::string_view s, size_t i, int n) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  if (n == 1) return byte(i);
  char32_t c = byte(i) & (0x7F >> n);
  for (int k = 1; k < n; ++k) c = (c << 6) | (byte(i + k) & 0x3F);
  return c;
}

// ---- GPT-2 byte-level strings -------------------------------------------------

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves and
// the other 68 bytes become U+0100.. in byte order, so every token prints.
// Returns the inverse: code point -> byte, or -1.
const std::array<int, 324>& unicode_to_byte() {
  static const std::array<int, 324> table = [] {
    std::array<int, 324> t;
    t.fill(-1);
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[printable ? b : 256 + shifted++] = b;
    }
    return t;
  }();
  return table;
}

// The raw bytes a GPT-2 byte-level string stands for; false if it is not one.
bool byte_level_to_bytes(std::string_view s, std::string& out) {
  out.clear();
  const auto& table = unicode_to_byte();
  for (size_t i = 0; i < s.size();) {
    const int n = utf8_sequence(s, i);
    if (n < 0) return false;
    const char32_t c = code_point(s, i, n);
    if (c >= table.size() || table[c] < 0) return false;
    out.push_back(static_cast<char>(table[c]));
    i += n;
  }
  return true;
}

// ---- vocabulary files ---------------------------------------------------------

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

// ---- special tokens and languages ---------------------------------------------

SpecialTokens special_tokens(int n_vocab) {
  SpecialTokens s;
  s.n_vocab = n_vocab;
  s.multilingual = n_vocab >= 51865;
  s.eot = s.multilingual ? 50257 : 50256;
  s.n_languages = n_vocab - 51765 - (s.multilingual ? 1 : 0);
  if (s.n_languages < 1 || s.n_languages > static_cast<int>(language_codes().size()))
    throw TokenizerError("n_vocab " + std::to_string(n_vocab) +
                         " is not a Whisper vocabulary size (51864 English-only, 51865 "
                         "multilingual, 51866 large-v3)");
  s.sot = s.eot + 1;
  s.translate = s.sot + 1 + s.n_languages;
  s.transcribe = s.translate + 1;
  s.startoflm = s.transcribe + 1;
  s.startofprev = s.startoflm + 1;
  s.nospeech = s.startofprev + 1;
  s.notimestamps = s.nospeech + 1;
  s.timestamp_begin = s.notimestamps + 1;
  if (s.timestamp_begin + kTimestamps != n_vocab)  // holds by construction; kept as the invariant
    throw TokenizerError("n_vocab " + std::to_string(n_vocab) + " does not fit Whisper's layout");
  return s;
}

const std::vector<std::string>& language_codes() {
  static const std::vector<std::string> codes = {
      "en", "zh", "de", "es",  "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
      "it", "id", "hi", "fi",  "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
      "th", "ur", "hr", "bg",  "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
      "az", "sl", "kn", "et",  "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
      "gl", "mr", "pa", "si",  "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
      "am", "yi", "lo", "uz",  "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
      "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};
  return codes;
}

const std::vector<std::string>& language_names() {
  static const std::vector<std::string> names = {
      "english",  "chinese",    "german",         "spanish",     "russian",    "korean",
      "french",   "japanese",   "portuguese",     "turkish",     "polish",     "catalan",
      "dutch",    "arabic",     "swedish",        "italian",     "indonesian", "hindi",
      "finnish",  "vietnamese", "hebrew",         "ukrainian",   "greek",      "malay",
      "czech",    "romanian",   "danish",         "hungarian",   "tamil",      "norwegian",
      "thai",     "urdu",       "croatian",       "bulgarian",   "lithuanian", "latin",
      "maori",    "malayalam",  "welsh",          "slovak",      "telugu",     "persian",
      "latvian",  "bengali",    "serbian",        "azerbaijani", "slovenian",  "kannada",
      "estonian", "macedonian", "breton",         "basque",      "icelandic",  "armenian",
      "nepali",   "mongolian",  "bosnian",        "kazakh",      "albanian",   "swahili",
      "galician", "marathi",    "punjabi",        "sinhala",     "khmer",      "shona",
      "yoruba",   "somali",     "afrikaans",      "occitan",     "georgian",   "belarusian",
      "tajik",    "sindhi",     "gujarati",       "amharic",     "yiddish",    "lao",
      "uzbek",    "faroese",    "haitian creole", "pashto",      "turkmen",    "nynorsk",
      "maltese",  "sanskrit",   "luxembourgish",  "myanmar",     "tibetan",    "tagalog",
      "malagasy", "assamese",   "tatar",          "hawaiian",    "lingala",    "hausa",
      "bashkir",  "javanese",   "sundanese",      "cantonese"};
  return names;
}

int language_index(std::string_view code) {
  const auto& codes = language_codes();
  for (size_t i = 0; i < codes.size(); ++i)
    if (codes[i] == code) return static_cast<int>(i);
  return -1;
}

std::string replace_invalid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const int n = utf8_sequence(bytes, i);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      i += -n;
    }
  }
  return out;
}

// ---- the pre-tokenizer regex ----------------------------------------------------

// GPT-2's pattern, with Unicode classes (PCRE2_UCP) as tiktoken and Hugging
// Face use. Compiled once per tokenizer; matching is const and thread-safe
// (each call has its own match data, and JIT code runs on the caller's stack).
struct Tokenizer::Pattern {
  pcre2_code* code = nullptr;
  Pattern() {
    static constexpr char kGpt2[] =
        R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    int error;
    PCRE2_SIZE offset;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (!code) throw TokenizerError("cannot compile the pre-tokenizer regex");
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: without JIT it interprets
  }
  ~Pattern() { pcre2_code_free(code); }
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;
};

// ---- the tokenizer ----------------------------------------------------------------

Tokenizer::Tokenizer(std::vector<std::string> text_tokens, int n_vocab, std::string_view source)
    : special_(special_tokens(n_vocab)), tokens_(std::move(text_tokens)) {
  const std::string where(source);
  if (static_cast<int>(tokens_.size()) != special_.eot)
    throw TokenizerError(where + ": " + std::to_string(tokens_.size()) +
                         " text tokens, but n_vocab " + std::to_string(n_vocab) + " needs " +
                         std::to_string(special_.eot));
  ids_.reserve(tokens_.size());
  for (int id = 0; id < special_.eot; ++id)
    if (!tokens_[id].empty()) ids_.emplace(tokens_[id], id);  // a duplicate keeps its lowest id
  // BPE starts from single bytes, so every byte must be a token.
  for (int b = 0; b < 256; ++b)
    if (rank(std::string(1, static_cast<char>(b))) < 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      throw TokenizerError(where + ": no token for byte " + hex +
                           " (not a byte-level BPE vocabulary)");
    }
  pattern_ = std::make_shared<const Pattern>();
}

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

int Tokenizer::rank(std::string_view bytes) const {
  const auto it = ids_.find(bytes);
  return it == ids_.end() ? -1 : it->second;
}

// tiktoken's rule: repeatedly merge the adjacent pair whose concatenation is the
// token of lowest rank, leftmost on ties. A heap of candidate pairs makes long
// pieces O(n log n); an entry is stale once either side has merged elsewhere.
void Tokenizer::encode_piece(std::string_view piece, std::vector<int>& out) const {
  if (piece.size() == 1) {
    out.push_back(rank(piece));
    return;
  }
  const int n = static_cast<int>(piece.size());
  // Parts are byte ranges [start, end[start]); a merged-away start has end 0.
  std::vector<int> end(n), prev(n);
  for (int i = 0; i < n; ++i) end[i] = i + 1, prev[i] = i - 1;
  using Candidate = std::tuple<int, int, int>;  // (rank, left start, right end)
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](int left) {
    if (left < 0 || end[left] >= n) return;
    const int right_end = end[end[left]];
    const int r = rank(piece.substr(left, right_end - left));
    if (r >= 0) heap.emplace(r, left, right_end);
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const auto [r, left, right_end] = heap.top();
    heap.pop();
    const int right = end[left];
    if (right == 0 || right >= n || end[right] != right_end) continue;  // stale
    end[left] = right_end;
    end[right] = 0;
    if (right_end < n) prev[right_end] = left;
    push(prev[left]);
    push(left);
  }
  for (int i = 0; i < n; i = end[i]) out.push_back(rank(piece.substr(i, end[i] - i)));
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  if (!valid_utf8(text)) throw TokenizerError("encode: the text is not valid UTF-8");
  std::vector<int> ids;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(pattern_->code, nullptr), &pcre2_match_data_free);
  if (!match) throw std::bad_alloc();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    // Validated above, so PCRE2 need not re-check the rest of the text on every call.
    const int rc = pcre2_match(pattern_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                               match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {
      encode_piece(text.substr(pos), ids);  // cannot happen with this pattern; kept as text
      break;
    }
    if (rc < 0)
      throw TokenizerError("encode: regex match failed (PCRE2 error " + std::to_string(rc) + ")");
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match.get());
    // Unmatched text between matches is a piece of its own, as in Hugging Face.
    if (span[0] > pos) encode_piece(text.substr(pos, span[0] - pos), ids);
    if (span[0] >= text.size()) break;
    size_t stop = span[1];
    if (stop == span[0])
      stop += utf8_sequence(text, stop);  // never with this pattern; ensures progress
    encode_piece(text.substr(span[0], stop - span[0]), ids);
    pos = stop;
  }
  return ids;
}

void Tokenizer::check_id(int id) const {
  if (id < 0 || id >= special_.n_vocab)
    throw TokenizerError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                         std::to_string(special_.n_vocab));
}

std::string Tokenizer::token_bytes(int id) const {
  check_id(id);
  const SpecialTokens& s = special_;
  if (id < s.eot) return tokens_[id];
  if (id >= s.timestamp_begin) {
    char name[24];
    std::snprintf(name, sizeof name, "<|%.2f|>", (id - s.timestamp_begin) * 0.02);
    return name;
  }
  if (id > s.sot && id < s.translate) return "<|" + language_codes()[id - s.sot - 1] + "|>";
  static const char* const kNames[] = {"<|endoftext|>", "<|startoftranscript|>"};
  if (id <= s.sot) return kNames[id - s.eot];
  static const char* const kTasks[] = {"<|translate|>",   "<|transcribe|>", "<|startoflm|>",
                                       "<|startofprev|>", "<|nospeech|>",   "<|notimestamps|>"};
  return kTasks[id - s.translate];
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string bytes;
  for (const int id : ids) {
    check_id(id);
    if (id < special_.eot) bytes += tokens_[id];
  }
  return replace_invalid_utf8(bytes);
}

std::string Tokenizer::decode_with_timestamps(const std::vector<int>& ids) const {
  // Timestamps split the bytes: a character cut by one is invalid on both sides.
  std::string text, bytes;
  for (const int id : ids) {
    check_id(id);
    if (id < special_.eot) {
      bytes += tokens_[id];
    } else if (id >= special_.timestamp_begin) {
      text += replace_invalid_utf8(bytes) + token_bytes(id);
      bytes.clear();
    }
  }
  return text + replace_invalid_utf8(bytes);
}

}  // namespace amanuensis::text
