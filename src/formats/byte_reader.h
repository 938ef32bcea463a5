// Sequential little-endian reads from a model file in memory; every read past
// the end, and every fail(), throws ModelError naming the file and the offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "formats/tensor_file.h"

namespace amanuensis {

class ByteReader {
 public:
  // `format` names the file kind in the truncation message.
  ByteReader(const uint8_t* p, size_t n, const std::string& what, const std::string& format)
      : p_(p), n_(n), what_(what), format_(format) {}
  [[noreturn]] void fail(const std::string& why) const {
    throw ModelError(what_ + ": " + why + " (at byte " + std::to_string(pos_) + ")");
  }
  const uint8_t* take(uint64_t n) {
    if (n > n_ - pos_) fail("truncated " + format_);
    const uint8_t* r = p_ + pos_;
    pos_ += size_t(n);
    return r;
  }
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  bool done() const { return pos_ == n_; }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0;
  std::string what_, format_;
};

}  // namespace amanuensis
