#include "transcribe/emit.h"

#include <algorithm>

#include "transcribe/prompt.h"

namespace amanuensis {

std::vector<Segment> finish_segments(std::vector<WindowSegment> pieces,
                                     const text::Tokenizer& tok, double duration,
                                     int64_t window_seek, const Attempt& chosen, int& last_id) {
  std::vector<Segment> out;
  for (WindowSegment& p : pieces) {
    // Whisper may place a timestamp past the end of the audio (a short
    // clip's window is mostly padding): a segment ends with the audio.
    p.end = std::min(p.end, duration);
    p.start = std::min(p.start, p.end);
    for (Word& w : p.words) {
      w.end = std::min(w.end, duration);
      w.start = std::min(w.start, w.end);
    }
    Segment s;
    s.text = tok.decode(p.tokens);
    if (p.start == p.end || trim(s.text).empty()) continue;
    s.id = ++last_id;
    s.seek = int(window_seek);
    s.start = p.start;
    s.end = p.end;
    s.tokens = std::move(p.tokens);
    s.token_logprobs = std::move(p.logprobs);
    s.temperature = chosen.temperature;
    s.avg_logprob = chosen.result.avg_logprob;
    s.compression_ratio = chosen.compression_ratio;
    s.no_speech_prob = chosen.result.no_speech_prob;
    s.words = std::move(p.words);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace amanuensis
