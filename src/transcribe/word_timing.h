// Word timings from cross-attention, as openai-whisper's timing.py and
// faster-whisper's add_word_timestamps compute them: the decoder reads the
// window's text once more, the alignment heads' attention is normalised,
// median-filtered and averaged, dynamic time warping pairs each text token
// with an encoder frame, and tokens are merged into words.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amanuensis/types.h"
#include "model/decoder.h"
#include "text/tokenizer.h"
#include "util/thread_pool.h"

namespace amanuensis {

// The cheapest monotone path through -x ([rows][cols]) from (0, 0) to
// (rows - 1, cols - 1), as (row, col) pairs in order. Ties prefer a step
// along columns, then rows, as openai-whisper's dtw does.
std::vector<std::pair<int, int>> negative_dtw(const std::vector<float>& x, int rows, int cols);

// Median of each `width` neighbours along the last axis of [n][depth], the
// edges mirrored (without repeating the edge value); unchanged when
// depth <= width / 2.
void median_filter(std::vector<float>& data, int n, int depth, int width);

struct WordTokens {
  std::string word;
  std::vector<int> tokens;
};
// Tokens cut into words: at spaces and punctuation, or at every complete
// character for languages written without spaces (zh, ja, th, lo, my, yue).
// Special tokens (eot) are words of their own with empty text.
std::vector<WordTokens> split_to_word_tokens(const text::Tokenizer& tokenizer,
                                             const std::vector<int>& tokens,
                                             const std::string& language);

struct WordTiming {
  std::string word;
  std::vector<int> tokens;
  double start = 0, end = 0;  // seconds from the window start
  double probability = 0;
};

// Leading punctuation ("¿", "(") joins the next word, trailing punctuation
// (".", ",") the previous one; the emptied entries stay, with no tokens.
void merge_punctuations(std::vector<WordTiming>& words, const std::string& prepended,
                        const std::string& appended);

// The decoder pass: words of `text_tokens` (no timestamps or eot) with their
// times in the window that Decoder::begin set up in `state` (whose search
// result it replaces), `num_frames` mel frames of it being audio.
std::vector<WordTiming> find_alignment(const Decoder& decoder, DecoderState& state,
                                       ThreadPool& pool, const text::Tokenizer& tokenizer,
                                       const std::vector<std::pair<int, int>>& heads,
                                       const std::vector<int>& sot_sequence,
                                       const std::string& language,
                                       const std::vector<int>& text_tokens, int num_frames);

// One segment of a window, as the long-form loop cuts it.
struct WindowSegment {
  double start = 0, end = 0;
  std::vector<int> tokens;  // text and timestamp tokens
  std::vector<float> logprobs;  // of each of tokens
  std::vector<Word> words;
};

// The end of the last word of the last segment that has words, else the
// last segment's end (faster-whisper's get_end); NaN without segments.
double last_end(const std::vector<WindowSegment>& segments);

// faster-whisper's add_word_timestamps for one window: `alignment` (from
// find_alignment over the text tokens of every segment, in order) becomes
// each segment's words, on the timeline (time_offset = the window start);
// the long-word and punctuation fixes are applied, and segment bounds move
// to their words. last_speech: where speech was last heard before the window.
void add_word_timestamps(std::vector<WindowSegment>& segments, std::vector<WordTiming> alignment,
                           int eot, double time_offset, const TranscribeOptions& options,
                           double last_speech);

}  // namespace amanuensis

namespace amanuensis {

// faster-whisper's test for a likely hallucination: among its first 8 words
// that are not punctuation, improbable (< 0.15), very short (< 0.133 s) or
// very long (> 2 s) words add up. False for null or wordless segments.
bool is_segment_anomaly(const WindowSegment* segment);

}  // namespace amanuensis

namespace amanuensis {

// faster-whisper's hallucination_silence_threshold, for one window whose
// segments have words: a likely hallucination with more than `threshold`
// seconds of silence around it is dropped, with what follows it in the
// window, and the next window starts at it. `frames_*` count 10 ms mel
// frames. Returns where to seek next if anything was dropped.
struct HallucinationSkip {
  int64_t seek;
  bool whole_window;  // the window's first words were the suspect: nothing of it is kept
};
std::optional<HallucinationSkip> skip_hallucinations(std::vector<WindowSegment>& segments,
                                                     double threshold, int64_t window_seek,
                                                     int64_t window_frames, int64_t content_frames,
                                                     double last_speech);

}  // namespace amanuensis
