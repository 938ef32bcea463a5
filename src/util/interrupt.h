// A caller's "stop now" (a deadline passed, a client gone), checked where
// stopping leaves nothing half-done: between encoder layers and between
// decoder steps, so that a transcription stops within one of those (tens of
// milliseconds) rather than at the end of a 30 s window. check() throws
// Interrupted, which the transcription's driver catches.
#pragma once

#include <functional>

namespace amanuensis {

struct Interrupted {};  // not a std::exception: only the pipeline catches it

class Interrupt {
 public:
  Interrupt() = default;
  explicit Interrupt(std::function<bool()> stop) : stop_(std::move(stop)) {}
  void check() const {
    if (stop_ && stop_()) throw Interrupted{};
  }

 private:
  std::function<bool()> stop_;
};

}  // namespace amanuensis
