#include "text/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdio>
#include <functional>
#include <queue>
#include <tuple>
#include <utility>

#include "text/utf8.h"
#include "util/whisper_geometry.h"

namespace amanuensis::text {

// ---- special tokens ----------------------------------------------------------

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
