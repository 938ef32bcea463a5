// The pure steps of word timing: DTW, the median filter, splitting tokens
// into words, punctuation merging, the long-word fixes and the hallucination
// test. The whole pipeline is checked against faster-whisper in
// tests/word_timestamps_accuracy.py.
#include "transcribe/word_timing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace amanuensis {
namespace {

using Path = std::vector<std::pair<int, int>>;

// Plain recursion over every monotone path, for small matrices: the
// cheapest cost of -x, to compare with negative_dtw's path.
float brute_cost(const std::vector<float>& x, int rows, int cols, int i, int j) {
  const float here = -x[size_t(i) * cols + j];
  if (i == 0 && j == 0) return here;
  float best = 1e30f;
  if (i > 0 && j > 0) best = std::min(best, brute_cost(x, rows, cols, i - 1, j - 1));
  if (i > 0) best = std::min(best, brute_cost(x, rows, cols, i - 1, j));
  if (j > 0) best = std::min(best, brute_cost(x, rows, cols, i, j - 1));
  return here + best;
}

TEST(NegativeDtw, DiagonalMatrixGivesDiagonalPath) {
  std::vector<float> x(9, -1.0f);  // every step off the diagonal costs 1
  for (int i = 0; i < 3; ++i) x[i * 3 + i] = 1.0f;
  EXPECT_EQ(negative_dtw(x, 3, 3), (Path{{0, 0}, {1, 1}, {2, 2}}));
}

TEST(NegativeDtw, PathIsMonotoneCompleteAndCheapest) {
  uint32_t seed = 7;
  for (int trial = 0; trial < 50; ++trial) {
    const int rows = 1 + trial % 4, cols = 1 + (trial * 3) % 6;
    std::vector<float> x(size_t(rows) * cols);
    for (float& v : x) v = float((seed = seed * 1664525u + 1013904223u) >> 8) / float(1 << 24);
    const Path p = negative_dtw(x, rows, cols);
    ASSERT_EQ(p.front(), std::make_pair(0, 0));
    ASSERT_EQ(p.back(), std::make_pair(rows - 1, cols - 1));
    float cost = 0;
    for (size_t k = 0; k < p.size(); ++k) {
      cost += -x[size_t(p[k].first) * cols + p[k].second];
      if (k == 0) continue;
      const int di = p[k].first - p[k - 1].first, dj = p[k].second - p[k - 1].second;
      ASSERT_TRUE((di == 1 && dj == 1) || (di == 1 && dj == 0) || (di == 0 && dj == 1));
    }
    EXPECT_NEAR(cost, brute_cost(x, rows, cols, rows - 1, cols - 1), 1e-4f);
  }
}

TEST(NegativeDtw, RejectsWrongSizes) {
  EXPECT_THROW(negative_dtw({1, 2, 3}, 2, 2), std::invalid_argument);
  EXPECT_THROW(negative_dtw({}, 0, 0), std::invalid_argument);
}

TEST(MedianFilter, MirroredEdgesWidthSeven) {
  // scipy.signal.medfilt would pad with zeros; openai-whisper pads by
  // reflection (numpy "reflect": the edge value is not repeated).
  std::vector<float> x = {5, 1, 9, 2, 8, 3, 7, 4};
  median_filter(x, 1, 8, 7);
  // numpy.pad(x, 3, "reflect") then a sliding median gives these.
  EXPECT_EQ(x, (std::vector<float>{2, 5, 3, 5, 4, 7, 4, 7}));
}

TEST(MedianFilter, ShortRowsUnchanged) {
  std::vector<float> x = {3, 1, 2};
  median_filter(x, 1, 3, 7);
  EXPECT_EQ(x, (std::vector<float>{3, 1, 2}));
}

std::vector<WordTiming> timings(const std::vector<std::string>& words) {
  std::vector<WordTiming> out;
  int id = 0;
  for (const std::string& w : words) out.push_back({w, {id++}, 0, 0, 1});
  return out;
}

TEST(MergePunctuations, PrependedAndAppended) {
  const TranscribeOptions o;
  std::vector<WordTiming> w = timings({" \"", "Hello", ",", " world", ".", "\""});
  merge_punctuations(w, o.prepend_punctuations, o.append_punctuations);
  std::vector<std::string> text;
  for (const WordTiming& t : w) text.push_back(t.word);
  EXPECT_EQ(text, (std::vector<std::string>{"", " \"Hello,", "", " world.\"", "", ""}));
  EXPECT_EQ(w[1].tokens, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(w[3].tokens, (std::vector<int>{3, 4, 5}));
}

TEST(MergePunctuations, SpaceBeforeAppendedStopsIt) {
  const TranscribeOptions o;
  std::vector<WordTiming> w = timings({" a ", "."});
  merge_punctuations(w, o.prepend_punctuations, o.append_punctuations);
  EXPECT_EQ(w[0].word, " a ");
  EXPECT_EQ(w[1].word, ".");
}

WindowSegment segment(double start, double end, std::vector<int> tokens) {
  const size_t n = tokens.size();
  return {start, end, std::move(tokens), std::vector<float>(n), {}};
}

TEST(AddWordTimestamps, WordsGoToTheirSegmentsOnTheTimeline) {
  const int eot = 100;
  std::vector<WindowSegment> segs = {segment(10.0, 11.0, {101, 1, 2, 150}),
                                     segment(11.0, 12.0, {150, 3, 160})};
  std::vector<WordTiming> a = {
      {" one", {1}, 0.0, 0.4, 0.9}, {" two", {2}, 0.4, 0.9, 0.8}, {" three", {3}, 1.1, 1.8, 0.7}};
  TranscribeOptions o;
  add_word_timestamps(segs, a, eot, 10.0, o, 10.0);
  ASSERT_EQ(segs[0].words.size(), 2u);
  ASSERT_EQ(segs[1].words.size(), 1u);
  EXPECT_EQ(segs[0].words[1].word, " two");
  EXPECT_DOUBLE_EQ(segs[0].words[0].start, 10.0);
  EXPECT_DOUBLE_EQ(segs[1].words[0].end, 11.8);
  // Segment bounds follow their words.
  EXPECT_DOUBLE_EQ(segs[0].end, 10.9);
  EXPECT_DOUBLE_EQ(segs[1].start, 11.1);
}

TEST(AddWordTimestamps, LongWordAtSentenceEndIsCut) {
  const int eot = 100;
  std::vector<WindowSegment> segs = {segment(0.0, 5.0, {1, 2, 3, 4})};
  std::vector<WordTiming> a = {{" a", {1}, 0.0, 0.2, 1},
                               {" b", {2}, 0.2, 0.4, 1},
                               {".", {3}, 0.4, 3.0, 1},
                               {" c", {4}, 3.0, 3.2, 1}};
  TranscribeOptions o;
  add_word_timestamps(segs, a, eot, 0.0, o, 0.0);
  // median 0.2 -> the "." (merged into " b.") is cut to 0.4 s after its start.
  ASSERT_EQ(segs[0].words.size(), 3u);
  EXPECT_EQ(segs[0].words[1].word, " b.");
  EXPECT_DOUBLE_EQ(segs[0].words[1].end, 0.4);
}

TEST(HallucinationTest, ImprobableShortWordsAreAnomalous) {
  WindowSegment s = segment(0, 1, {1});
  s.words = {{0.0, 0.05, " uh", 0.1f}, {0.05, 0.1, " um", 0.1f}};
  EXPECT_TRUE(is_segment_anomaly(&s));
  s.words = {{0.0, 0.4, " hello", 0.9f}, {0.4, 0.8, " there", 0.9f}};
  EXPECT_FALSE(is_segment_anomaly(&s));
  EXPECT_FALSE(is_segment_anomaly(nullptr));
}

TEST(HallucinationTest, SuspectAfterLongSilenceSkipsTheWindow) {
  std::vector<WindowSegment> segs = {segment(20.0, 20.1, {1})};
  segs[0].words = {{20.0, 20.05, " you", 0.05f}};
  const auto skip = skip_hallucinations(segs, 2.0, /*window_seek=*/0, 3000, 6000, 0.0);
  ASSERT_TRUE(skip.has_value());
  EXPECT_TRUE(skip->whole_window);
  EXPECT_EQ(skip->seek, 2000);
  EXPECT_TRUE(segs.empty());
}

TEST(HallucinationTest, GoodSpeechIsKept) {
  std::vector<WindowSegment> segs = {segment(0.5, 1.5, {1, 2})};
  segs[0].words = {{0.5, 1.0, " hello", 0.9f}, {1.0, 1.5, " there", 0.9f}};
  EXPECT_FALSE(skip_hallucinations(segs, 2.0, 0, 3000, 6000, 0.0).has_value());
  EXPECT_EQ(segs.size(), 1u);
}

}  // namespace
}  // namespace amanuensis
