// Stage: a window's cut segments become the segments a caller sees: times
// clamped to the audio, empty ones dropped, numbered, with the window's
// decoding figures.
#pragma once

#include <cstdint>
#include <vector>

#include "amanuensis/types.h"
#include "text/tokenizer.h"
#include "transcribe/fallback.h"
#include "transcribe/word_timing.h"

namespace amanuensis {

// `duration`: the audio's length in seconds; `window_seek`: the window's first
// frame; ids continue from `last_id`, which is advanced.
std::vector<Segment> finish_segments(std::vector<WindowSegment> pieces,
                                     const text::Tokenizer& tokenizer, double duration,
                                     int64_t window_seek, const Attempt& chosen, int& last_id);

}  // namespace amanuensis
