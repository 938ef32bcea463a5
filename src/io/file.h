#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace amanuensis {

// The whole file; throws std::runtime_error "PATH: cannot open ..." on failure.
std::vector<uint8_t> read_file_bytes(const std::string& path);
// At most the first `n` bytes.
std::vector<uint8_t> read_file_head(const std::string& path, size_t n);

// A whole file mapped read-only: its bytes without a copy, paged in as they
// are read, and released page by page once used (model files of gigabytes
// need never be resident at once).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws std::runtime_error
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Drops the pages that lie wholly inside [p, p + n) from memory; touched
  // again, they are read again from the file.
  void release(const uint8_t* p, size_t n) const;

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace amanuensis
