#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace amanuensis {

// The whole file; throws std::runtime_error "PATH: cannot open ..." on failure.
std::vector<uint8_t> read_file_bytes(const std::string& path);
// At most the first `n` bytes.
std::vector<uint8_t> read_file_head(const std::string& path, size_t n);

}  // namespace amanuensis
