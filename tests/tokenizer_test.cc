#include "text/tokenizer.h"
#include "text/utf8.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace amanuensis::text {
namespace {

constexpr int kEnglish = 51864, kMultilingual = 51865, kLargeV3 = 51866;

// A synthetic English-only vocabulary (eot 50256): the 256 bytes as ids
// 0..255, then `extra` from id 256 on, then fillers BPE can never reach (no
// two-byte prefix of them is a token).
std::vector<std::string> vocabulary(const std::vector<std::string>& extra, int eot = 50256) {
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b) v.push_back(std::string(1, static_cast<char>(b)));
  v.insert(v.end(), extra.begin(), extra.end());
  for (int i = 0; static_cast<int>(v.size()) < eot; ++i) v.push_back("~filler" + std::to_string(i));
  return v;
}

// GPT-2's bytes_to_unicode, written independently of the library's inverse.
std::string byte_level(const std::string& bytes) {
  std::string out;
  for (const unsigned char b : bytes) {
    int c = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      int shifted = 0;
      for (int x = 0; x < b; ++x)
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++shifted;
      c = 256 + shifted;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string write(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string vocab_json(const std::vector<std::string>& tokens) {
  std::string j = "{";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) j += ',';
    j += json_string(byte_level(tokens[i])) + ":" + std::to_string(i);
  }
  return j + "}";
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no TokenizerError, expected one with '" << needle << "'";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, SpecialTokensMultilingual) {
  const SpecialTokens s = special_tokens(kMultilingual);
  EXPECT_TRUE(s.multilingual);
  EXPECT_EQ(s.eot, 50257);
  EXPECT_EQ(s.sot, 50258);
  EXPECT_EQ(s.language(0), 50259);  // en
  EXPECT_EQ(s.n_languages, 99);
  EXPECT_EQ(s.translate, 50358);
  EXPECT_EQ(s.transcribe, 50359);
  EXPECT_EQ(s.startoflm, 50360);
  EXPECT_EQ(s.startofprev, 50361);
  EXPECT_EQ(s.nospeech, 50362);
  EXPECT_EQ(s.notimestamps, 50363);
  EXPECT_EQ(s.timestamp_begin, 50364);
}

TEST(Tokenizer, SpecialTokensEnglishOnly) {
  const SpecialTokens s = special_tokens(kEnglish);
  EXPECT_FALSE(s.multilingual);
  EXPECT_EQ(s.eot, 50256);
  EXPECT_EQ(s.sot, 50257);
  EXPECT_EQ(s.language(0), 50258);
  EXPECT_EQ(s.n_languages, 99);
  EXPECT_EQ(s.translate, 50357);
  EXPECT_EQ(s.transcribe, 50358);
  EXPECT_EQ(s.startofprev, 50360);
  EXPECT_EQ(s.nospeech, 50361);
  EXPECT_EQ(s.notimestamps, 50362);
  EXPECT_EQ(s.timestamp_begin, 50363);
}

TEST(Tokenizer, SpecialTokensLargeV3) {
  const SpecialTokens s = special_tokens(kLargeV3);
  EXPECT_TRUE(s.multilingual);
  EXPECT_EQ(s.eot, 50257);
  EXPECT_EQ(s.n_languages, 100);
  EXPECT_EQ(s.language(99), 50358);  // yue
  EXPECT_EQ(s.translate, 50359);
  EXPECT_EQ(s.transcribe, 50360);
  EXPECT_EQ(s.notimestamps, 50364);
  EXPECT_EQ(s.timestamp_begin, 50365);
  EXPECT_EQ(s.timestamp_begin + 1501, kLargeV3);
}

TEST(Tokenizer, BadVocabularySizes) {
  for (int n : {0, 51000, 51765, 51867, 60000})
    expect_error([n] { special_tokens(n); }, "not a Whisper vocabulary size");
}

TEST(Tokenizer, Languages) {
  ASSERT_EQ(language_codes().size(), 100u);
  ASSERT_EQ(language_names().size(), 100u);
  EXPECT_EQ(language_index("en"), 0);
  EXPECT_EQ(language_index("he"), 20);
  EXPECT_EQ(language_index("haw"), 93);
  EXPECT_EQ(language_index("yue"), 99);
  EXPECT_EQ(language_index("xx"), -1);
  EXPECT_EQ(language_names()[language_index("jw")], "javanese");
}

TEST(Tokenizer, SpecialTokenNames) {
  const Tokenizer tok(vocabulary({}, 50257), kLargeV3);
  const SpecialTokens& s = tok.special();
  EXPECT_EQ(tok.token_bytes(s.eot), "<|endoftext|>");
  EXPECT_EQ(tok.token_bytes(s.sot), "<|startoftranscript|>");
  EXPECT_EQ(tok.token_bytes(s.language(0)), "<|en|>");
  EXPECT_EQ(tok.token_bytes(s.language(99)), "<|yue|>");
  EXPECT_EQ(tok.token_bytes(s.translate), "<|translate|>");
  EXPECT_EQ(tok.token_bytes(s.transcribe), "<|transcribe|>");
  EXPECT_EQ(tok.token_bytes(s.startoflm), "<|startoflm|>");
  EXPECT_EQ(tok.token_bytes(s.startofprev), "<|startofprev|>");
  EXPECT_EQ(tok.token_bytes(s.nospeech), "<|nospeech|>");
  EXPECT_EQ(tok.token_bytes(s.notimestamps), "<|notimestamps|>");
  EXPECT_EQ(tok.token_bytes(s.timestamp_begin), "<|0.00|>");
  EXPECT_EQ(tok.token_bytes(s.timestamp_begin + 54), "<|1.08|>");
  EXPECT_EQ(tok.token_bytes(s.timestamp_begin + 1500), "<|30.00|>");
  EXPECT_EQ(tok.token_bytes('a'), "a");
  expect_error([&] { tok.token_bytes(kLargeV3); }, "outside the vocabulary");
  expect_error([&] { tok.token_bytes(-1); }, "outside the vocabulary");
}

TEST(Tokenizer, BpeLowestRankFirst) {
  // "ab" outranks "bc", so "abc" -> ab + c -> abc.
  const Tokenizer a(vocabulary({"ab", "bc", "abc"}), kEnglish);
  EXPECT_EQ(a.encode("abc"), (std::vector<int>{258}));
  // "bc" first, and "abc" is still reached from a + bc.
  const Tokenizer b(vocabulary({"bc", "ab", "abc"}), kEnglish);
  EXPECT_EQ(b.encode("abc"), (std::vector<int>{258}));
  // Without "abc", the order decides the split.
  const Tokenizer c(vocabulary({"bc", "ab"}), kEnglish);
  EXPECT_EQ(c.encode("abc"), (std::vector<int>{'a', 256}));
  const Tokenizer d(vocabulary({"ab", "bc"}), kEnglish);
  EXPECT_EQ(d.encode("abc"), (std::vector<int>{256, 'c'}));
  // Ties go to the leftmost pair: "aaa" -> aa + a.
  const Tokenizer e(vocabulary({"aa"}), kEnglish);
  EXPECT_EQ(e.encode("aaa"), (std::vector<int>{256, 'a'}));
  EXPECT_EQ(e.encode("aaaa"), (std::vector<int>{256, 256}));
}

TEST(Tokenizer, PreTokenizerPieces) {
  // Merges never cross the regex's pieces: " b" is a token, "a " is not reachable.
  const Tokenizer tok(vocabulary({" b", "a ", "  ", "'t", "12", "a1", "b!"}), kEnglish);
  EXPECT_EQ(tok.encode("a b"), (std::vector<int>{'a', 256}));
  // \s+(?!\S): a space run leaves its last space to the next word.
  EXPECT_EQ(tok.encode("a   b"), (std::vector<int>{'a', 258, 256}));
  EXPECT_EQ(tok.encode("don't"), (std::vector<int>{'d', 'o', 'n', 259}));
  EXPECT_EQ(tok.encode("a12"), (std::vector<int>{'a', 260}));  // letters and digits split
  EXPECT_EQ(tok.encode("b!"), (std::vector<int>{'b', '!'}));
  EXPECT_EQ(tok.encode("  "), (std::vector<int>{258}));  // trailing whitespace run
  EXPECT_EQ(tok.encode(""), (std::vector<int>{}));
  // Special-token text is ordinary text here.
  EXPECT_EQ(tok.decode(tok.encode("<|en|>")), "<|en|>");
}

TEST(Tokenizer, RoundTripsUnicode) {
  const Tokenizer tok(vocabulary({"\xC3\xA9", " \xE4\xB8"}), kEnglish);
  for (const std::string s : {"caf\xC3\xA9 au lait", " \xE4\xB8\xAD\xE6\x96\x87 text",
                              "\xF0\x9F\x98\x80\t\n  x", "r\xC3\xA9sum\xC3\xA9 123 !!!"})
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
  EXPECT_EQ(tok.encode("\xC3\xA9"), (std::vector<int>{256}));
  expect_error([&] { tok.encode("bad \xC3"); }, "not valid UTF-8");
}

TEST(Tokenizer, DecodeReplacesSplitCharacters) {
  const Tokenizer tok(vocabulary({}), kEnglish);
  EXPECT_EQ(tok.decode({0xC3, 0xA9}), "\xC3\xA9");
  EXPECT_EQ(tok.decode({0xC3}), "\xEF\xBF\xBD");
  EXPECT_EQ(tok.decode({0xC3, 'a'}), std::string("\xEF\xBF\xBD") + "a");
  // A special token between the halves is skipped, so they join again.
  EXPECT_EQ(tok.decode({0xC3, tok.special().sot, 0xA9}), "\xC3\xA9");
  EXPECT_EQ(tok.decode({'a', tok.special().eot, tok.special().timestamp_begin}), "a");
  expect_error([&] { tok.decode({kEnglish}); }, "outside the vocabulary");
  const int t0 = tok.special().timestamp_begin;
  EXPECT_EQ(tok.decode_with_timestamps({t0, 'h', 'i', t0 + 50, tok.special().eot}),
            "<|0.00|>hi<|1.00|>");
}

TEST(Tokenizer, ReplacementMatchesPython) {
  // Expected values from Python's bytes.decode("utf-8", errors="replace").
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(replace_invalid_utf8("\xED\xA0\x80"), r + r + r);  // a surrogate
  EXPECT_EQ(replace_invalid_utf8("\xC0\xAF"), r + r);          // overlong
  EXPECT_EQ(replace_invalid_utf8("\xF4\x90\x80\x80"), r + r + r + r);
  EXPECT_EQ(replace_invalid_utf8("\xE0\x80"), r + r);
  EXPECT_EQ(replace_invalid_utf8("\xF0\x9F\x98"), r);  // one maximal subpart
  EXPECT_EQ(replace_invalid_utf8(std::string("\xE2\x82") + "A"), r + "A");
  EXPECT_EQ(replace_invalid_utf8("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
}

TEST(Tokenizer, BadVocabularies) {
  expect_error([] { Tokenizer(vocabulary({}), kMultilingual, "v.bin"); },
               "v.bin: 50256 text tokens, but n_vocab 51865 needs 50257");
  std::vector<std::string> no_byte = vocabulary({});
  no_byte['x'] = "xx";
  expect_error([&] { Tokenizer(no_byte, kEnglish); }, "no token for byte 0x78");
  expect_error([] { Tokenizer(vocabulary({}), 12345); }, "not a Whisper vocabulary size");
}

TEST(Tokenizer, VocabularyFiles) {
  const std::vector<std::string> tokens = vocabulary({"ab", "\xE4\xB8", "\xE4\xB8\xAD"});
  const std::string vocab = vocab_json(tokens);
  const std::string tj = write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": )" +
                                                     vocab.substr(0, vocab.size() - 1) +
                                                     R"(, "<|endoftext|>": 50256}}})");
  const std::string vj = write("vocab.json", vocab);
  std::string lines;
  for (const auto& t : tokens) lines += byte_level(t) + "\n";
  lines += "<|endoftext|>\n";
  for (int i = 50257; i < kEnglish; ++i) lines += "<|special|>\n";
  const std::string txt = write("vocabulary.txt", lines);
  for (const Tokenizer& tok :
       {Tokenizer::from_tokenizer_json(tj, kEnglish), Tokenizer::from_vocab_json(vj, kEnglish),
        Tokenizer::from_vocabulary_txt(txt, kEnglish)}) {
    EXPECT_EQ(tok.encode(" ab\xE4\xB8\xAD\n"), (std::vector<int>{' ', 256, 258, '\n'}));
    EXPECT_EQ(tok.token_bytes(' '), " ");
    EXPECT_EQ(tok.token_bytes(0xAD), "\xAD");
  }
  // The multilingual n_vocab puts <|endoftext|> elsewhere: another model's file.
  expect_error([&] { Tokenizer::from_tokenizer_json(tj, kMultilingual); },
               "tokenizer.json: <|endoftext|> is id 50256, but n_vocab 51865 needs 50257");
  expect_error([&] { Tokenizer::from_vocabulary_txt(txt, kMultilingual); }, "vocabulary.txt: ");
  expect_error([&] { Tokenizer::from_vocab_json(vj, kMultilingual); }, "no token with id 50256");
}

TEST(Tokenizer, BadFiles) {
  const std::string missing = ::testing::TempDir() + "/no-such-tokenizer.json";
  expect_error([&] { Tokenizer::from_tokenizer_json(missing, kEnglish); },
               missing + ": no such vocabulary file");
  expect_error([&] { Tokenizer::from_vocabulary_txt(::testing::TempDir(), kEnglish); },
               "no such vocabulary file");
  const std::string not_json = write("bad1.json", "{\"model\": ");
  expect_error([&] { Tokenizer::from_tokenizer_json(not_json, kEnglish); },
               not_json + ": not valid JSON");
  const std::string no_vocab = write("bad2.json", R"({"model": {"type": "BPE"}})");
  expect_error([&] { Tokenizer::from_tokenizer_json(no_vocab, kEnglish); }, "no model.vocab");
  const std::string array = write("bad3.json", "[1, 2]");
  expect_error([&] { Tokenizer::from_vocab_json(array, kEnglish); }, "not a JSON object");
  const std::string bad_id = write("bad4.json", R"({"a": "x"})");
  expect_error([&] { Tokenizer::from_vocab_json(bad_id, kEnglish); }, "has no integer id");
  const std::string big_id = write("bad5.json", R"({"a": 99999})");
  expect_error([&] { Tokenizer::from_vocab_json(big_id, kEnglish); }, "outside the model");
  // A literal space is not in GPT-2's byte-level alphabet (it is spelt "Ġ").
  const std::string raw = write("bad6.json", R"({"a b": 0})");
  expect_error([&] { Tokenizer::from_vocab_json(raw, kEnglish); },
               "token 0 is not a GPT-2 byte-level string");
  const std::string twice = write("bad7.json", R"({"a": 0, "b": 0})");
  expect_error([&] { Tokenizer::from_vocab_json(twice, kEnglish); }, "id 0 appears twice");
  // tokenizer.json is read as a stream: only model.vocab counts, wherever
  // other "vocab" keys sit, and its shape is checked as a document's would be.
  const std::string elsewhere =
      write("bad10.json", R"({"vocab": {"a": 0}, "model": {"x": {"vocab": {}}}})");
  expect_error([&] { Tokenizer::from_tokenizer_json(elsewhere, kEnglish); }, "no model.vocab");
  const std::string not_bpe =
      write("bad11.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  expect_error([&] { Tokenizer::from_tokenizer_json(not_bpe, kEnglish); }, "model.type is not BPE");
  const std::string vocab_list = write("bad12.json", R"({"model": {"vocab": [["a", 0]]}})");
  expect_error([&] { Tokenizer::from_tokenizer_json(vocab_list, kEnglish); }, "not a JSON object");
  const std::string nested_id = write("bad13.json", R"({"model": {"vocab": {"a": {"id": 0}}}})");
  expect_error([&] { Tokenizer::from_tokenizer_json(nested_id, kEnglish); }, "has no integer id");
  const std::string negative = write("bad14.json", R"({"a": -1})");
  expect_error([&] { Tokenizer::from_vocab_json(negative, kEnglish); }, "outside the model");
  const std::string huge = write("bad15.json", R"({"a": 18446744073709551615})");
  expect_error([&] { Tokenizer::from_vocab_json(huge, kEnglish); }, "outside the model");
  const std::string short_txt = write("bad8.txt", "a\nb\n");
  expect_error([&] { Tokenizer::from_vocabulary_txt(short_txt, kEnglish); },
               "2 lines, but the model's vocabulary has 51864");
  const std::string junk_txt = write("bad9.txt", std::string(kEnglish, '\n'));
  expect_error([&] { Tokenizer::from_vocabulary_txt(junk_txt, kEnglish); }, "<|endoftext|>");
}

TEST(Tokenizer, ConstMethodsAreThreadSafe) {
  const Tokenizer tok(vocabulary({" t", "he", " the", "  "}), kEnglish);
  const std::string text = "the  cat and the dog, 42 times \xC3\xA9t\xC3\xA9 ";
  const std::vector<int> expected = tok.encode(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i)
        ok[t] += tok.encode(text) == expected && tok.decode(expected) == text;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[t], 200);
}

TEST(Tokenizer, LongPiecesStayFast) {
  // Long runs of one class are single pieces: the heap keeps BPE O(n log n)
  // and PCRE2 must not run out of stack.
  const Tokenizer tok(vocabulary({"aa", "aaaa", "  "}), kEnglish);
  const std::string letters(200000, 'a'), spaces(200000, ' ');
  EXPECT_EQ(tok.encode(letters).size(), 50000u);
  EXPECT_EQ(tok.decode(tok.encode(spaces + "x")), spaces + "x");
}

}  // namespace
}  // namespace amanuensis::text
