#include "text/utf8.h"

#include <array>

namespace amanuensis::text {

// ---- UTF-8 ------------------------------------------------------------------

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

namespace {

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

}  // namespace

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

}  // namespace amanuensis::text
