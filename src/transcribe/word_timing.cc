#include "transcribe/word_timing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "layers/float_math.h"
#include "util/whisper_geometry.h"

namespace amanuensis {
namespace {

constexpr int kMedianFilterWidth = 7;
constexpr double kTokensPerSecond = 50.0;        // encoder frames per second
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
// Python's string.punctuation: a piece that is a substring of it is a word.
constexpr std::string_view kAsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string_view strip(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Pieces at every point where the decoded text so far holds only complete
// characters (a character split across tokens stays with its tokens).
std::vector<WordTokens> split_on_characters(const text::Tokenizer& tok,
                                            const std::vector<int>& tokens) {
  const std::string full = tok.decode_with_timestamps(tokens);
  std::vector<WordTokens> out;
  std::vector<int> current;
  size_t offset = 0;  // bytes of `full` already given out
  for (int t : tokens) {
    current.push_back(t);
    const std::string decoded = tok.decode_with_timestamps(current);
    const size_t bad = decoded.find(kReplacement);
    // A replacement character that the whole text also has there is real,
    // not a character still missing its last bytes.
    if (bad == std::string::npos || full.compare(offset + bad, 3, kReplacement) == 0) {
      out.push_back({decoded, current});
      current.clear();
      offset += decoded.size();
    }
  }
  return out;
}

float median_of(float* window, int width) {
  std::nth_element(window, window + width / 2, window + width);
  return window[width / 2];
}

}  // namespace

std::vector<std::pair<int, int>> negative_dtw(const std::vector<float>& x, int rows, int cols) {
  if (rows < 1 || cols < 1 || x.size() != size_t(rows) * cols)
    throw std::invalid_argument("dtw: matrix of the wrong size");
  const float inf = std::numeric_limits<float>::infinity();
  const size_t w = size_t(cols) + 1;
  std::vector<float> cost((size_t(rows) + 1) * w, inf);
  std::vector<signed char> trace((size_t(rows) + 1) * w, -1);
  cost[0] = 0;
  for (int j = 1; j <= cols; ++j)
    for (int i = 1; i <= rows; ++i) {
      const float c0 = cost[(i - 1) * w + j - 1], c1 = cost[(i - 1) * w + j],
                  c2 = cost[i * w + j - 1];
      float c;
      signed char t;
      if (c0 < c1 && c0 < c2) {
        c = c0, t = 0;
      } else if (c1 < c0 && c1 < c2) {
        c = c1, t = 1;
      } else {
        c = c2, t = 2;
      }
      cost[i * w + j] = -x[size_t(i - 1) * cols + j - 1] + c;
      trace[i * w + j] = t;
    }
  for (int j = 0; j <= cols; ++j) trace[j] = 2;  // the edges lead back to (0, 0)
  for (int i = 0; i <= rows; ++i) trace[i * w] = 1;
  std::vector<std::pair<int, int>> path;
  int i = rows, j = cols;
  while (i > 0 || j > 0) {
    path.emplace_back(i - 1, j - 1);
    const int t = trace[i * w + j];
    if (t == 0) {
      --i, --j;
    } else if (t == 1) {
      --i;
    } else {
      --j;
    }
  }
  std::reverse(path.begin(), path.end());
  return path;
}

void median_filter(std::vector<float>& data, int n, int depth, int width) {
  const int half = width / 2;
  if (depth <= half) return;
  std::vector<float> row(depth), window(width);
  for (int r = 0; r < n; ++r) {
    float* x = data.data() + size_t(r) * depth;
    std::copy_n(x, depth, row.begin());
    for (int j = 0; j < depth; ++j) {
      for (int k = -half; k <= half; ++k) {
        int at = std::abs(j + k);
        if (at >= depth) at = 2 * depth - at - 2;
        window[k + half] = row[at];
      }
      x[j] = median_of(window.data(), width);
    }
  }
}

std::vector<WordTokens> split_to_word_tokens(const text::Tokenizer& tok,
                                             const std::vector<int>& tokens,
                                             const std::string& language) {
  std::vector<WordTokens> pieces = split_on_characters(tok, tokens);
  static const std::vector<std::string> no_spaces = {"zh", "ja", "th", "lo", "my", "yue"};
  if (std::find(no_spaces.begin(), no_spaces.end(), language) != no_spaces.end()) return pieces;
  std::vector<WordTokens> words;
  for (WordTokens& p : pieces) {
    const bool special = p.tokens.front() >= tok.special().eot;
    const bool with_space = !p.word.empty() && p.word.front() == ' ';
    const bool punctuation = contains(kAsciiPunctuation, strip(p.word));
    if (special || with_space || punctuation || words.empty()) {
      words.push_back(std::move(p));
    } else {
      words.back().word += p.word;
      words.back().tokens.insert(words.back().tokens.end(), p.tokens.begin(), p.tokens.end());
    }
  }
  return words;
}

void merge_punctuations(std::vector<WordTiming>& words, const std::string& prepended,
                        const std::string& appended) {
  if (words.size() < 2) return;
  // Leading punctuation, right to left: " (" goes onto the word after it.
  for (int i = int(words.size()) - 2, j = int(words.size()) - 1; i >= 0; --i) {
    WordTiming& previous = words[i];
    WordTiming& following = words[j];
    if (!previous.word.empty() && previous.word.front() == ' ' &&
        contains(prepended, strip(previous.word))) {
      following.word = previous.word + following.word;
      following.tokens.insert(following.tokens.begin(), previous.tokens.begin(),
                              previous.tokens.end());
      previous.word.clear();
      previous.tokens.clear();
    } else {
      j = i;
    }
  }
  // Trailing punctuation, left to right: "," goes onto the word before it.
  for (size_t i = 0, j = 1; j < words.size(); ++j) {
    WordTiming& previous = words[i];
    WordTiming& following = words[j];
    if ((previous.word.empty() || previous.word.back() != ' ') &&
        contains(appended, following.word)) {
      previous.word += following.word;
      previous.tokens.insert(previous.tokens.end(), following.tokens.begin(),
                             following.tokens.end());
      following.word.clear();
      following.tokens.clear();
    } else {
      i = j;
    }
  }
}

std::vector<WordTiming> find_alignment(const Decoder& decoder, DecoderState& state,
                                       ThreadPool& pool, const text::Tokenizer& tok,
                                       const std::vector<std::pair<int, int>>& heads,
                                       const std::vector<int>& sot_sequence,
                                       const std::string& language,
                                       const std::vector<int>& text_tokens, int num_frames) {
  if (text_tokens.empty() || heads.empty()) return {};
  const text::SpecialTokens& sp = tok.special();
  std::vector<int> tokens = sot_sequence;
  tokens.push_back(sp.notimestamps);
  tokens.insert(tokens.end(), text_tokens.begin(), text_tokens.end());
  tokens.push_back(sp.eot);
  const int n = int(tokens.size()), offset = int(sot_sequence.size());
  if (n > decoder.n_ctx()) return {};  // cannot happen for one window's text; no timings then
  std::vector<float> logits, attention;
  decoder.align(state, tokens, heads, logits, attention, pool);
  const int total_frames = int(attention.size() / (heads.size() * n));

  // P(each text token) among the text tokens, after the token before it.
  std::vector<double> token_probs(text_tokens.size());
  for (size_t t = 0; t < text_tokens.size(); ++t) {
    const float* l = logits.data() + (size_t(offset) + t) * decoder.n_vocab();
    const float mx = *std::max_element(l, l + sp.eot);
    double sum = 0;
    for (int v = 0; v < sp.eot; ++v) sum += exp_nonpositive(l[v] - mx);
    token_probs[t] = exp_nonpositive(l[text_tokens[t]] - mx) / sum;
  }

  // The attention of each head over the audio frames only, renormalised
  // (Whisper's softmax of the logits over those frames: the probabilities
  // divided by their sum there), standardised across tokens per frame,
  // median-filtered along time, then averaged over heads.
  const int frames = std::min(num_frames / 2, total_frames);  // the encoder halves the frame rate
  if (frames < 1) return {};
  const int H = int(heads.size());
  std::vector<float> w(size_t(H) * n * frames);
  for (int h = 0; h < H; ++h)
    for (int t = 0; t < n; ++t) {
      const float* a = attention.data() + (size_t(h) * n + t) * total_frames;
      float* o = w.data() + (size_t(h) * n + t) * frames;
      float sum = 0;
      for (int f = 0; f < frames; ++f) sum += o[f] = a[f];
      for (int f = 0; f < frames; ++f) o[f] /= sum;
    }
  for (int h = 0; h < H; ++h)
    for (int f = 0; f < frames; ++f) {
      float* col = w.data() + size_t(h) * n * frames + f;
      double mean = 0, var = 0;
      for (int t = 0; t < n; ++t) mean += col[size_t(t) * frames];
      mean /= n;
      for (int t = 0; t < n; ++t)
        var += (col[size_t(t) * frames] - mean) * (col[size_t(t) * frames] - mean);
      const double inv = var > 0 ? 1.0 / std::sqrt(var / n) : 0.0;
      for (int t = 0; t < n; ++t)
        col[size_t(t) * frames] = float((col[size_t(t) * frames] - mean) * inv);
    }
  median_filter(w, H * n, frames, kMedianFilterWidth);
  // Rows from <|notimestamps|> (which predicts the first text token) to the
  // last text token.
  const int rows = n - offset - 1;
  std::vector<float> matrix(size_t(rows) * frames, 0.0f);
  for (int h = 0; h < H; ++h)
    for (size_t i = 0; i < matrix.size(); ++i)
      matrix[i] += w[size_t(h) * n * frames + size_t(offset) * frames + i];
  for (float& v : matrix) v /= float(H);
  const std::vector<std::pair<int, int>> path = negative_dtw(matrix, rows, frames);

  // The frame where the path enters each row: token i starts there.
  std::vector<double> jump_times;
  for (size_t k = 0; k < path.size(); ++k)
    if (k == 0 || path[k].first != path[k - 1].first)
      jump_times.push_back(path[k].second / kTokensPerSecond);

  std::vector<int> with_eot = text_tokens;
  with_eot.push_back(sp.eot);
  const std::vector<WordTokens> words = split_to_word_tokens(tok, with_eot, language);
  std::vector<WordTiming> out;
  size_t begin = 0;
  for (size_t k = 0; k + 1 < words.size(); ++k) {  // the last word is eot
    const size_t end = begin + words[k].tokens.size();
    if (end >= jump_times.size()) break;
    double p = 0;
    for (size_t i = begin; i < end; ++i) p += token_probs[i];
    out.push_back({words[k].word, words[k].tokens, jump_times[begin], jump_times[end],
                   end > begin ? p / double(end - begin) : 0.0});
    begin = end;
  }
  return out;
}

void add_word_timestamps(std::vector<WindowSegment>& segments, std::vector<WordTiming> alignment,
                           int eot, double time_offset, const TranscribeOptions& o,
                           double last_speech) {
  if (segments.empty()) return;
  // Long words at sentence ends are cut to twice the median word length.
  std::vector<double> durations;
  for (const WordTiming& w : alignment)
    if (w.end - w.start != 0) durations.push_back(w.end - w.start);
  double median = 0;
  if (!durations.empty()) {
    std::sort(durations.begin(), durations.end());
    const size_t m = durations.size();
    median = m % 2 ? durations[m / 2] : (durations[m / 2 - 1] + durations[m / 2]) / 2;
  }
  median = std::min(0.7, median);
  const double max_duration = median * 2;
  if (!durations.empty()) {
    static const std::string sentence_end = ".\xE3\x80\x82!\xEF\xBC\x81?\xEF\xBC\x9F";  // .。!！?？
    for (size_t i = 1; i < alignment.size(); ++i) {
      WordTiming& w = alignment[i];
      if (w.end - w.start <= max_duration) continue;
      if (contains(sentence_end, w.word))
        w.end = w.start + max_duration;
      else if (contains(sentence_end, alignment[i - 1].word))
        w.start = w.end - max_duration;
    }
  }
  merge_punctuations(alignment, o.prepend_punctuations, o.append_punctuations);

  auto round2 = [](double x) { return std::nearbyint(x * 100.0) / 100.0; };
  size_t next = 0;
  for (WindowSegment& s : segments) {
    size_t text_tokens = 0;
    for (int t : s.tokens) text_tokens += t < eot;
    size_t saved = 0;
    std::vector<Word>& words = s.words;
    words.clear();
    while (next < alignment.size() && saved < text_tokens) {
      const WordTiming& w = alignment[next++];
      if (!w.word.empty())
        words.push_back({round2(time_offset + w.start), round2(time_offset + w.end), w.word,
                         float(w.probability)});
      saved += w.tokens.size();
    }
    if (words.empty()) continue;
    // After a pause, the first words are cut to a plausible length.
    if (words[0].end - last_speech > median * 4 &&
        (words[0].end - words[0].start > max_duration ||
         (words.size() > 1 && words[1].end - words[0].start > max_duration * 2))) {
      if (words.size() > 1 && words[1].end - words[1].start > max_duration) {
        const double boundary = std::max(words[1].end / 2, words[1].end - max_duration);
        words[0].end = words[1].start = boundary;
      }
      words[0].start = std::max(0.0, words[0].end - max_duration);
    }
    // The segment's own timestamps win over a first or last word that is too long.
    if (s.start < words[0].end && s.start - 0.5 > words[0].start)
      words[0].start = std::max(0.0, std::min(words[0].end - median, s.start));
    else
      s.start = words[0].start;
    if (s.end > words.back().start && s.end + 0.5 < words.back().end)
      words.back().end = std::max(words.back().start + median, s.end);
    else
      s.end = words.back().end;
    last_speech = s.end;
  }
}

}  // namespace amanuensis

namespace amanuensis {

bool is_segment_anomaly(const WindowSegment* segment) {
  if (!segment || segment->words.empty()) return false;
  static const std::string punctuation =
      "\"'\xE2\x80\x9C\xC2\xBF([{-\"'.\xE3\x80\x82,\xEF\xBC\x8C!\xEF\xBC\x81?\xEF\xBC\x9F:"
      "\xEF\xBC\x9A"
      "\xE2\x80\x9D)]}\xE3\x80\x81";
  double score = 0;
  int counted = 0;
  for (const Word& w : segment->words) {
    if (contains(punctuation, w.word)) continue;
    if (counted++ == 8) break;
    const double duration = w.end - w.start;
    if (w.probability < 0.15f) score += 1.0;
    if (duration < 0.133) score += (0.133 - duration) * 15;
    if (duration > 2.0) score += duration - 2.0;
  }
  counted = std::min(counted, 8);
  return score >= 3 || score + 0.01 >= counted;
}

}  // namespace amanuensis

namespace amanuensis {

std::optional<HallucinationSkip> skip_hallucinations(std::vector<WindowSegment>& segments,
                                                     double threshold, int64_t window_seek,
                                                     int64_t window_frames, int64_t content_frames,
                                                     double last_speech) {
  auto frames = [](double seconds) { return int64_t(std::nearbyint(seconds * 100.0)); };
  const double time_offset = double(window_seek) * kFrameSeconds;
  auto next_with_words = [&](size_t from) -> const WindowSegment* {
    for (size_t i = from; i < segments.size(); ++i)
      if (!segments[i].words.empty()) return &segments[i];
    return nullptr;
  };
  // A suspect first segment after a long silence: skip the silence and
  // decode again from there.
  const WindowSegment* first = next_with_words(0);
  if (first && is_segment_anomaly(first) && first->start - time_offset > threshold) {
    const int64_t seek = window_seek + frames(first->start - time_offset);
    segments.clear();
    return HallucinationSkip{seek, true};
  }
  // A suspect segment with silence (or more suspects) on both sides.
  const double window_end = double(window_seek + kChunkFrames) * kFrameSeconds;
  double previous_end = last_speech;
  for (size_t i = 0; i < segments.size(); ++i) {
    const WindowSegment& s = segments[i];
    if (s.words.empty()) continue;
    if (is_segment_anomaly(&s)) {
      const WindowSegment* next = next_with_words(i + 1);
      const double next_start =
          next ? next->words.front().start : time_offset + double(window_frames) * kFrameSeconds;
      const bool silence_before =
          s.start - previous_end > threshold || s.start < threshold || s.start - time_offset < 2.0;
      const bool silence_after =
          next_start - s.end > threshold || is_segment_anomaly(next) || window_end - s.end < 2.0;
      if (silence_before && silence_after) {
        int64_t seek = frames(std::max(time_offset + 1, s.start));
        if (double(content_frames) * kFrameSeconds - s.end < threshold) seek = content_frames;
        segments.resize(i);
        return HallucinationSkip{seek, false};
      }
    }
    previous_end = s.end;
  }
  return std::nullopt;
}

double last_end(const std::vector<WindowSegment>& segments) {
  for (auto s = segments.rbegin(); s != segments.rend(); ++s)
    if (!s->words.empty()) return s->words.back().end;
  return segments.empty() ? NAN : segments.back().end;
}

}  // namespace amanuensis
