// libFuzzer target for the tokenizer: any bytes are encoded (valid UTF-8 must
// round-trip, anything else must give a TokenizerError) and decoded as ids,
// and, as a file, read as each vocabulary format (a tokenizer or a
// TokenizerError).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace {

const amanuensis::text::Tokenizer& tokenizer() {
  // The 256 bytes, a few merges (ASCII and a multi-byte prefix), then fillers.
  static const amanuensis::text::Tokenizer tok = [] {
    std::vector<std::string> v;
    for (int b = 0; b < 256; ++b) v.push_back(std::string(1, static_cast<char>(b)));
    for (const char* t :
         {" t", "he", " the", "  ", "in", "ing", "\xC3\xA9", "\xE4\xB8", "12", "'s"})
      v.push_back(t);
    for (int i = 0; v.size() < 50257; ++i) v.push_back("~filler" + std::to_string(i));
    return amanuensis::text::Tokenizer(std::move(v), 51865);
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tok = tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const std::vector<int> ids = tok.encode(text);
    if (tok.decode(ids) != text) std::abort();  // valid UTF-8 must round-trip
  } catch (const amanuensis::text::TokenizerError&) {
  }
  // The same bytes as little-endian 16-bit ids, some out of range.
  std::vector<int> ids;
  for (size_t i = 0; i + 1 < size; i += 2) ids.push_back(data[i] | data[i + 1] << 8);
  try {
    tok.decode(ids);
    tok.decode_with_timestamps(ids);
  } catch (const amanuensis::text::TokenizerError&) {
  }
  // The vocabulary readers take paths: the bytes go to this process's file,
  // removed at exit.
  static const struct TempFile {
    std::string path = "/tmp/tokenizer_fuzzer_" + std::to_string(getpid());
    ~TempFile() { std::remove(path.c_str()); }
  } file;
  const std::string& path = file.path;
  std::ofstream(path, std::ios::binary).write(text.data(), std::streamsize(text.size()));
  using amanuensis::text::Tokenizer;
  for (auto read : {&Tokenizer::from_tokenizer_json, &Tokenizer::from_vocab_json,
                    &Tokenizer::from_vocabulary_json, &Tokenizer::from_vocabulary_txt}) {
    try {
      read(path, 51864);
    } catch (const amanuensis::text::TokenizerError&) {
    }
  }
  return 0;
}
