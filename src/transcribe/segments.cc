#include "transcribe/segments.h"

#include <algorithm>
#include <stdexcept>

namespace amanuensis {

WindowCut split_segments(const std::vector<int>& tokens, const std::vector<float>& logprobs, int ts,
                         int64_t seek, int64_t size, bool keep_unfinished) {
  if (logprobs.size() != tokens.size())
    throw std::invalid_argument("split_segments: one log-probability per token");
  WindowCut cut;
  const double time_offset = double(seek) * kFrameSeconds;
  const size_t n = tokens.size();
  cut.single_timestamp_ending = n >= 2 && tokens[n - 2] < ts && tokens[n - 1] >= ts;
  // A segment ends at each pair of consecutive timestamps.
  std::vector<size_t> slices;
  for (size_t i = 1; i < n; ++i)
    if (tokens[i] >= ts && tokens[i - 1] >= ts) slices.push_back(i);
  if (slices.empty()) {  // one segment: the whole window, or up to its last timestamp
    double duration = double(size) * kFrameSeconds;
    int last_ts = -1;
    for (int t : tokens)
      if (t >= ts) last_ts = t;
    if (last_ts >= 0 && last_ts != ts) duration = (last_ts - ts) * kTimestampSeconds;
    cut.segments.push_back({time_offset, time_offset + duration, tokens, logprobs, {}});
    cut.next_seek = seek + size;
    return cut;
  }
  if (cut.single_timestamp_ending) slices.push_back(n);
  size_t last = 0;
  for (size_t end : slices) {
    std::vector<int> part(tokens.begin() + last, tokens.begin() + end);
    cut.segments.push_back({time_offset + (part.front() - ts) * kTimestampSeconds,
                            time_offset + (part.back() - ts) * kTimestampSeconds,
                            part,
                            {logprobs.begin() + last, logprobs.begin() + end},
                            {}});
    last = end;
  }
  if (cut.single_timestamp_ending) {
    cut.next_seek = seek + size;  // no speech after the last timestamp
  } else if (keep_unfinished) {
    cut.next_seek = seek + size;
    if (std::any_of(tokens.begin() + last, tokens.end(), [&](int t) { return t < ts; }))
      cut.segments.push_back({time_offset + (tokens[last] - ts) * kTimestampSeconds,
                              time_offset + double(size) * kFrameSeconds,
                              {tokens.begin() + last, tokens.end()},
                              {logprobs.begin() + last, logprobs.end()},
                              {}});
  } else {  // the last segment is unfinished: start the next window at its beginning
    cut.next_seek = seek + int64_t(tokens[last - 1] - ts) * kFramesPerTimestamp;
  }
  return cut;
}

}  // namespace amanuensis
