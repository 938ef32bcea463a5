// Repetition loops: Whisper's greedy and beam decoding can fall into one
// phrase repeated to the length limit. Caught here by their shape,
// as soon as they are long enough, rather than by the compression ratio of
// the finished text (after up to 224 tokens, ~1.5 s of a live hypothesis).
#pragma once

#include <vector>

namespace amanuensis::decoding {

// The longest phrase, in tokens, that ends_in_loop looks for.
inline constexpr int kMaxLoopPhrase = 16;

// Whether the last `span` tokens are one phrase of p <= kMaxLoopPhrase tokens
// said at least three times in a row (3p <= span): t[i] == t[i - p] for each
// of the last span - p positions. Speech that repeats itself does not go on
// for dozens of tokens; a loop does. A loop whose repeats carry rising
// timestamps is not one phrase and is not caught here (the compression test
// still catches it once the window ends).
inline bool ends_in_loop(const std::vector<int>& t, int span) {
  const int n = int(t.size());
  if (span <= 0 || n < span) return false;
  for (int p = 1; p <= kMaxLoopPhrase && 3 * p <= span; ++p) {
    int i = n - 1;
    while (i >= n - span + p && t[i] == t[i - p]) --i;
    if (i < n - span + p) return true;
  }
  return false;
}

}  // namespace amanuensis::decoding
