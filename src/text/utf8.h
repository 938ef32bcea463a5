// UTF-8 as Python and Unicode read it, and GPT-2's byte-level strings (the
// spelling of tokens in tokenizer.json, vocab.json and CTranslate2's
// vocabularies).
#pragma once

#include <string>
#include <string_view>

namespace amanuensis::text {

// The valid UTF-8 sequence at s[i]: its length (> 0); or, if it is invalid,
// minus the length of its maximal subpart (at least 1 byte), the unit that
// Unicode (and Python, and Rust) replace by one U+FFFD.
int utf8_sequence(std::string_view s, size_t i);
bool valid_utf8(std::string_view s);
// The code point of the valid n-byte sequence at s[i].
char32_t code_point(std::string_view s, size_t i, int n);

// Bytes with every invalid UTF-8 sequence replaced by U+FFFD, one per maximal
// subpart, exactly as Python's bytes.decode(errors="replace") does.
std::string replace_invalid_utf8(std::string_view bytes);

// The raw bytes a GPT-2 byte-level string stands for; false if it is not one.
bool byte_level_to_bytes(std::string_view s, std::string& out);

}  // namespace amanuensis::text
