#include "io/file.h"

#include <fstream>
#include <stdexcept>

namespace amanuensis {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error(path + ": cannot open file");
  const std::streamoff size = in.tellg();
  if (size < 0) throw std::runtime_error(path + ": cannot read file");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw std::runtime_error(path + ": read failed");
  return bytes;
}

std::vector<uint8_t> read_file_head(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open file");
  std::vector<uint8_t> bytes(n);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(n));
  bytes.resize(size_t(in.gcount()));
  return bytes;
}

}  // namespace amanuensis
