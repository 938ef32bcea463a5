// The names of the public enums (amanuensis/types.h), one table each, read in
// both directions.
#include <array>
#include <utility>

#include "amanuensis/types.h"

namespace amanuensis {
namespace {

template <typename E, size_t N>
using Names = std::array<std::pair<E, const char*>, N>;

constexpr Names<Task, 2> kTasks = {{{Task::kTranscribe, "transcribe"}, {Task::kTranslate, "translate"}}};
constexpr Names<Precision, 2> kPrecisions = {{{Precision::kInt8, "int8"}, {Precision::kFp32, "fp32"}}};
constexpr Names<Backend, 5> kBackends = {{{Backend::kAuto, "auto"},
                                          {Backend::kReference, "reference"},
                                          {Backend::kAvx2, "avx2"},
                                          {Backend::kAvx512, "avx512"},
                                          {Backend::kAmx, "amx"}}};

template <typename E, size_t N>
E parse(const Names<E, N>& names, std::string_view name, const char* option) {
  std::string choices;
  for (const auto& [value, text] : names) {
    if (name == text) return value;
    choices += std::string(choices.empty() ? "" : ", ") + text;
  }
  throw Error("unknown " + std::string(option) + " '" + std::string(name) + "' (use " + choices +
                  ")",
              ErrorKind::kBadInput, option);
}

template <typename E, size_t N>
const char* name_of(const Names<E, N>& names, E e) {
  for (const auto& [value, text] : names)
    if (value == e) return text;
  return "?";
}

}  // namespace

Task parse_task(std::string_view name) { return parse(kTasks, name, "task"); }
Precision parse_precision(std::string_view name) { return parse(kPrecisions, name, "precision"); }
Backend parse_backend(std::string_view name) { return parse(kBackends, name, "backend"); }
const char* to_string(Task t) { return name_of(kTasks, t); }
const char* to_string(Precision p) { return name_of(kPrecisions, p); }
const char* to_string(Backend b) { return name_of(kBackends, b); }

}  // namespace amanuensis
