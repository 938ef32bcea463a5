// Stage: cut one window's tokens into segments at its timestamp tokens, and
// say where the next window starts (openai-whisper's and faster-whisper's
// rules). Pure: tokens in, segments and seek out.
#pragma once

#include <cstdint>
#include <vector>

#include "util/whisper_geometry.h"
#include "transcribe/word_timing.h"

namespace amanuensis {

struct WindowCut {
  std::vector<WindowSegment> segments;  // on the file's timeline, in seconds
  int64_t next_seek = 0;                // frames
  // The window ended on a lone timestamp: nothing is heard after it, so the
  // next window starts after this one whatever the words say.
  bool single_timestamp_ending = false;
};

// tokens: a window's decoded tokens (text and timestamps, no eot), logprobs
// theirs; the window starts at frame `seek` and holds `size` frames of audio.
// keep_unfinished: text after the last pair of timestamps is a last segment,
// to the window's end, and the next window starts after this one (else it is
// left out, and the next window starts at it).
WindowCut split_segments(const std::vector<int>& tokens, const std::vector<float>& logprobs,
                         int timestamp_begin, int64_t seek, int64_t size,
                         bool keep_unfinished = false);

}  // namespace amanuensis
