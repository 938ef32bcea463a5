// "[2, 1500, 64]": tensor shapes in error messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace amanuensis {

inline std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t = "[";
  for (size_t i = 0; i < shape.size(); ++i) t += (i ? ", " : "") + std::to_string(shape[i]);
  return t + "]";
}

}  // namespace amanuensis
