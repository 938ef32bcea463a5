// Where the setup script caches models (scripts/fetch_models.py), and the
// models used when none is named.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "amanuensis/amanuensis.h"

namespace amanuensis::cli {

inline std::filesystem::path model_cache() { return model_cache_dir(); }

inline std::string default_model() { return (model_cache() / "base").string(); }

inline std::string default_vad_model() {
  return (model_cache() / "silero-vad" / "silero_vad_v6_16k.safetensors").string();
}

// The VAD weights to load: `given`, or the default one, which must exist
// (`why`: the option that needs it, for the message).
inline std::string vad_model_for(const std::string& given, const std::string& why) {
  if (!given.empty()) return given;
  const std::string path = default_vad_model();
  if (!std::filesystem::exists(path))
    throw std::runtime_error(why + " needs Silero VAD weights, not found at " + path +
                             " (python3 scripts/fetch_models.py silero-vad fetches them)");
  return path;
}

}  // namespace amanuensis::cli
