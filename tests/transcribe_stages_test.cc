// The transcription pipeline's stages (src/transcribe/), each on its own:
// pure inputs in, checked outputs out, no model.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "text/tokenizer.h"
#include "transcribe/batched.h"
#include "transcribe/emit.h"
#include "transcribe/fallback.h"
#include "transcribe/language.h"
#include "transcribe/options.h"
#include "transcribe/prompt.h"
#include "transcribe/segments.h"

namespace amanuensis {
namespace {

const text::SpecialTokens kSp = text::special_tokens(51865);  // multilingual
const int kTs = kSp.timestamp_begin;

// A vocabulary whose first 256 tokens are the bytes, then filler: enough to
// decode and encode plain ASCII.
const text::Tokenizer& byte_tokenizer() {
  static const text::Tokenizer tok = [] {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, char(b)));
    while (int(tokens.size()) < kSp.eot) tokens.push_back("<filler" + std::to_string(tokens.size()) + ">");
    return text::Tokenizer(std::move(tokens), 51865, "test bytes");
  }();
  return tok;
}

// ---- split segments ---------------------------------------------------------

// -0, -1, -2, ...: each token's log-probability says where it was.
std::vector<float> positions(size_t n) {
  std::vector<float> lp(n);
  for (size_t i = 0; i < n; ++i) lp[i] = -float(i);
  return lp;
}

TEST(SplitSegments, CutsAtConsecutiveTimestampsAndSeeksToTheLastComplete) {
  // <|0.00|> a <|1.00|><|1.00|> b <|2.00|><|2.00|> c   (the last is unfinished)
  const std::vector<int> tokens = {kTs, 'a', kTs + 50, kTs + 50, 'b', kTs + 100, kTs + 100, 'c'};
  const WindowCut cut = split_segments(tokens, positions(tokens.size()), kTs, /*seek=*/300,
                                       /*size=*/3000);
  ASSERT_EQ(cut.segments.size(), 2u);
  EXPECT_EQ(cut.segments[0].logprobs, (std::vector<float>{-0.f, -1, -2}));
  EXPECT_EQ(cut.segments[1].logprobs, (std::vector<float>{-3, -4, -5}));
  EXPECT_DOUBLE_EQ(cut.segments[0].start, 3.0);
  EXPECT_DOUBLE_EQ(cut.segments[0].end, 4.0);
  EXPECT_DOUBLE_EQ(cut.segments[1].start, 4.0);
  EXPECT_DOUBLE_EQ(cut.segments[1].end, 5.0);
  EXPECT_FALSE(cut.single_timestamp_ending);
  EXPECT_EQ(cut.next_seek, 300 + 100 * kFramesPerTimestamp);  // at <|2.00|>
}

TEST(SplitSegments, ALoneFinalTimestampEndsTheWindow) {
  const std::vector<int> tokens = {kTs, 'a', kTs + 50, kTs + 50, 'b', kTs + 75};
  const WindowCut cut = split_segments(tokens, positions(tokens.size()), kTs, 0, 2000);
  EXPECT_TRUE(cut.single_timestamp_ending);
  ASSERT_EQ(cut.segments.size(), 2u);
  EXPECT_DOUBLE_EQ(cut.segments[1].end, 1.5);
  EXPECT_EQ(cut.segments[1].logprobs, (std::vector<float>{-3, -4, -5}));
  EXPECT_EQ(cut.next_seek, 2000);
}

TEST(SplitSegments, NoPairIsOneSegmentToTheLastTimestamp) {
  const WindowCut ended = split_segments({kTs, 'a', 'b', kTs + 40}, positions(4), kTs, 100, 3000);
  ASSERT_EQ(ended.segments.size(), 1u);
  EXPECT_EQ(ended.segments[0].logprobs, positions(4));
  EXPECT_DOUBLE_EQ(ended.segments[0].start, 1.0);
  EXPECT_DOUBLE_EQ(ended.segments[0].end, 1.0 + 40 * kTimestampSeconds);
  EXPECT_EQ(ended.next_seek, 3100);
  const WindowCut untimed = split_segments({'a', 'b'}, positions(2), kTs, 0, 1234);  // untimed
  ASSERT_EQ(untimed.segments.size(), 1u);
  EXPECT_DOUBLE_EQ(untimed.segments[0].end, 12.34);
  EXPECT_EQ(untimed.next_seek, 1234);
}

// Batched mode, no speech left after the window: an unfinished last segment
// is kept, to the window's end, and the window is done.
TEST(SplitSegments, KeepsTheUnfinishedSegmentWhenAsked) {
  const std::vector<int> tokens = {kTs, 'a', kTs + 50, kTs + 50, 'b', 'c'};
  const WindowCut cut = split_segments(tokens, positions(tokens.size()), kTs, 300, 2000, true);
  ASSERT_EQ(cut.segments.size(), 2u);
  EXPECT_EQ(cut.segments[1].tokens, (std::vector<int>{kTs + 50, 'b', 'c'}));
  EXPECT_EQ(cut.segments[1].logprobs, (std::vector<float>{-3, -4, -5}));
  EXPECT_DOUBLE_EQ(cut.segments[1].start, 4.0);
  EXPECT_DOUBLE_EQ(cut.segments[1].end, 23.0);
  EXPECT_EQ(cut.next_seek, 2300);
  // A pair at the very end leaves no text: nothing to keep.
  const std::vector<int> paired = {kTs, 'a', kTs + 50, kTs + 50};
  const WindowCut p = split_segments(paired, positions(paired.size()), kTs, 0, 2000, true);
  ASSERT_EQ(p.segments.size(), 1u);
  EXPECT_EQ(p.next_seek, 2000);
  // A lone final timestamp: the same cut either way.
  const std::vector<int> lone = {kTs, 'a', kTs + 50, kTs + 50, 'b', kTs + 75};
  const WindowCut kept = split_segments(lone, positions(lone.size()), kTs, 0, 2000, true);
  const WindowCut plain = split_segments(lone, positions(lone.size()), kTs, 0, 2000);
  ASSERT_EQ(kept.segments.size(), plain.segments.size());
  EXPECT_EQ(kept.segments[1].tokens, plain.segments[1].tokens);
  EXPECT_EQ(kept.next_seek, plain.next_seek);
}

TEST(SplitSegments, RefusesLogprobsThatDoNotMatchTheTokens) {
  EXPECT_THROW(split_segments({kTs, 'a'}, positions(1), kTs, 0, 3000), std::invalid_argument);
}

// ---- temperature fallback ---------------------------------------------------

Attempt attempt(double avg_logprob, double ratio, float no_speech = 0) {
  Attempt a;
  a.result.avg_logprob = avg_logprob;
  a.result.no_speech_prob = no_speech;
  a.compression_ratio = ratio;
  return a;
}

TEST(Fallback, RepetitionOrDoubtFallsBackButSilenceDoesNot) {
  const TranscribeOptions o;
  EXPECT_FALSE(needs_fallback(attempt(-0.5, 1.5), o));
  EXPECT_TRUE(needs_fallback(attempt(-0.5, 2.5), o));        // repeats itself
  EXPECT_TRUE(needs_fallback(attempt(-1.5, 1.5), o));        // unsure
  EXPECT_FALSE(needs_fallback(attempt(-1.5, 1.5, 0.9f), o));  // unsure, but silence
  TranscribeOptions off;
  off.log_prob_threshold = NAN;
  off.compression_ratio_threshold = 0;
  EXPECT_FALSE(needs_fallback(attempt(-9, 9), off));
}

// A search stopped in a loop (stop_loops_after) repeats itself, whatever its
// compression ratio: it falls back, and is the last choice when all fail.
TEST(Fallback, ALoopStoppedEarlyFallsBack) {
  TranscribeOptions o;
  o.stop_loops_after = 12;
  Attempt looped = attempt(-0.2, 1.5);
  looped.result.tokens = {440, 1446, 13};
  for (int i = 0; i < 4; ++i)
    looped.result.tokens.insert(looped.result.tokens.end(), {257, 1446, 300});
  EXPECT_TRUE(needs_fallback(looped, o));
  const Attempt chosen = best_of_failed({looped, attempt(-1.5, 1.5)}, o);
  EXPECT_DOUBLE_EQ(chosen.result.avg_logprob, -1.5);
  o.stop_loops_after = 0;  // off: Whisper's tests only
  EXPECT_FALSE(needs_fallback(looped, o));
}

TEST(Fallback, ClimbsTheLadderAndKeepsTheFirstGoodAttempt) {
  const TranscribeOptions o;  // 0, 0.2, ..., 1
  std::vector<float> tried;
  const Attempt a = decode_with_fallback(
      o,
      [&](float t, int i) {
        tried.push_back(t);
        EXPECT_EQ(i, int(tried.size()) - 1);
        decoding::SearchResult r;
        r.avg_logprob = i < 2 ? -2.0 : -0.3;
        return r;
      },
      [](const std::vector<int>&) { return std::string("varied text"); });
  EXPECT_EQ(tried, (std::vector<float>{0.0f, 0.2f, 0.4f}));
  EXPECT_FLOAT_EQ(a.temperature, 0.4f);
}

TEST(Fallback, WhenAllFailTheLikeliestThatDoesNotRepeatAtTheLastTemperature) {
  const TranscribeOptions o;
  const Attempt best = best_of_failed({attempt(-3, 1), attempt(-1.2, 3), attempt(-2, 1)}, o);
  EXPECT_DOUBLE_EQ(best.result.avg_logprob, -2);
  EXPECT_FLOAT_EQ(best.temperature, 1.0f);
  const Attempt all_repeat = best_of_failed({attempt(-3, 3), attempt(-1.2, 3)}, o);
  EXPECT_DOUBLE_EQ(all_repeat.result.avg_logprob, -1.2);
}

TEST(Fallback, CompressionRatioOfRepetitionIsHigh) {
  EXPECT_EQ(compression_ratio(""), 0.0);
  EXPECT_LT(compression_ratio("The quick brown fox."), 1.5);
  EXPECT_GT(compression_ratio(std::string(300, 'a')), 10.0);
}

// ---- prompt -----------------------------------------------------------------

TEST(Prompt, PreviousTextHotwordsTaskAndPrefix) {
  PromptText text{{}, {'h'}, {'p', 'q'}};
  const std::vector<int> sot = sot_sequence(kSp, "de", Task::kTranslate);
  EXPECT_EQ(sot, (std::vector<int>{kSp.sot, kSp.language(text::language_index("de")),
                                   kSp.translate}));
  // First window: the prefix forced as the text's start (after <|0.00|> with
  // timestamps), and no hotwords beside a prefix.
  WindowPrompt first = window_prompt(text, {}, sot, kSp, false, 0, 448);
  EXPECT_EQ(first.tokens, sot);
  EXPECT_EQ(first.sot_index, 0);
  EXPECT_EQ(first.forced, (std::vector<int>{kSp.timestamp_begin, 'p', 'q'}));
  WindowPrompt plain = window_prompt(text, {}, sot, kSp, true, 0, 448);
  EXPECT_EQ(plain.forced, (std::vector<int>{'p', 'q'}));
  // Later: previous text after <|startofprev|> and the hotwords, cut to half
  // the context; no prefix.
  std::vector<int> previous(300, 'x');
  WindowPrompt later = window_prompt(text, previous, sot, kSp, true, 500, 448);
  ASSERT_EQ(later.sot_index, 1 + 1 + 223);
  EXPECT_EQ(later.tokens[0], kSp.startofprev);
  EXPECT_EQ(later.tokens[1], 'h');
  EXPECT_EQ(later.tokens.back(), kSp.notimestamps);
  EXPECT_TRUE(later.forced.empty());
}

// CTranslate2's length limit (faster-whisper's): half the context, or what
// fits after the prompt, the last token not fed back; max_new_tokens counts
// the tokens after the forced ones.
TEST(Prompt, LengthLimitOfAWindow) {
  TranscribeOptions o;
  WindowPrompt p;
  p.tokens = {kSp.sot};
  EXPECT_EQ(attempt_options(o, p, 448, 0, 0.0f, 0).max_tokens, 224);
  p.tokens.assign(225, 'x');  // <|startofprev|>, 223 of text, <|startoftranscript|>
  EXPECT_EQ(attempt_options(o, p, 448, 0, 0.0f, 0).max_tokens, 224);
  p.tokens.push_back('x');
  EXPECT_EQ(attempt_options(o, p, 448, 0, 0.0f, 0).max_tokens, 223);
  p.forced = {kSp.timestamp_begin, 'p'};
  o.max_new_tokens = 10;
  const decoding::SearchOptions so = attempt_options(o, p, 448, 0, 0.0f, 0);
  EXPECT_EQ(so.max_tokens, 12);
  EXPECT_EQ(so.forced, p.forced);
  p.tokens.assign(447, 'x');  // room for the forced tokens only
  EXPECT_THROW(attempt_options(o, p, 448, 0, 0.0f, 0), Error);
}

TEST(Prompt, TextsAreTrimmedAndHotwordsCapped) {
  TranscribeOptions o;
  o.initial_prompt = "  hi ";
  o.hotwords = std::string(400, 'w');
  const PromptText t = prompt_text(byte_tokenizer(), o, 448);
  EXPECT_EQ(t.initial, (std::vector<int>{' ', 'h', 'i'}));
  EXPECT_EQ(t.hotwords.size(), 223u);
  EXPECT_TRUE(t.prefix.empty());
}

TEST(Prompt, RulesFromOptions) {
  TranscribeOptions o;
  o.suppress_tokens = {5, 7};
  o.max_initial_timestamp = 0.5f;
  o.without_timestamps = true;
  const decoding::LogitRules r = logit_rules(byte_tokenizer(), o);
  EXPECT_EQ(r.max_initial_timestamp_index, 25);
  EXPECT_FALSE(r.timestamps);
  EXPECT_NE(std::find(r.suppress.begin(), r.suppress.end(), 7), r.suppress.end());
  EXPECT_NE(std::find(r.suppress.begin(), r.suppress.end(), kSp.nospeech), r.suppress.end());
  EXPECT_EQ(r.suppress_begin, (std::vector<int>{' ', kSp.eot}));
}

// ---- language -----------------------------------------------------------------

TEST(Language, RankedLikeliestFirstTiesInTokenOrder) {
  std::vector<float> p(99, 0.0f);
  p[text::language_index("fr")] = 0.7f;
  p[text::language_index("de")] = 0.1f;
  p[text::language_index("es")] = 0.1f;
  const DetectedLanguage d = rank_languages(p);
  EXPECT_EQ(d.code, "fr");
  EXPECT_FLOAT_EQ(d.probability, 0.7f);
  ASSERT_EQ(d.ranked.size(), 99u);
  EXPECT_EQ(d.ranked[1].first, "de");  // "de" comes before "es" in Whisper's order
  EXPECT_EQ(d.ranked[2].first, "es");
}

// ---- emit ---------------------------------------------------------------------

TEST(Emit, ClampsToTheAudioDropsEmptyAndNumbers) {
  std::vector<WindowSegment> pieces = {
      {0.0, 1.0, {kTs, 'h', 'i', kTs + 50}, {-1, -2, -3, -4}, {}},
      {1.0, 2.0, {kTs + 50, ' ', kTs + 100}, {-5, -6, -7}, {}},  // blank text: dropped
      {2.0,
       9.0,
       {kTs + 100, 'y', 'o', kTs + 450},
       {-8, -9, -10, -11},  // past the end
       {{2.0, 9.0, " yo", 0.9f}}},
  };
  Attempt chosen = attempt(-0.25, 1.1);
  chosen.temperature = 0.2f;
  int last_id = 4;
  const std::vector<Segment> s =
      finish_segments(pieces, byte_tokenizer(), /*duration=*/5.0, /*window_seek=*/0, chosen, last_id);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].id, 5);
  EXPECT_EQ(s[1].id, 6);
  EXPECT_EQ(last_id, 6);
  EXPECT_EQ(s[1].end, 5.0);
  EXPECT_EQ(s[1].words[0].end, 5.0);
  EXPECT_FLOAT_EQ(s[1].temperature, 0.2f);
  EXPECT_DOUBLE_EQ(s[0].avg_logprob, -0.25);
  EXPECT_EQ(s[1].tokens, (std::vector<int>{kTs + 100, 'y', 'o', kTs + 450}));
  EXPECT_EQ(s[1].token_logprobs, (std::vector<float>{-8, -9, -10, -11}));
}

// ---- options: the one check -------------------------------------------------

void expect_rejected(const TranscribeOptions& o, const std::string& option, ErrorKind kind,
                     const text::SpecialTokens& sp = kSp, bool has_vad = false) {
  try {
    check_options(o, {sp, has_vad});
    ADD_FAILURE() << "accepted; expected a complaint about " << option;
  } catch (const Error& e) {
    EXPECT_EQ(e.option(), option) << e.what();
    EXPECT_EQ(e.kind(), kind) << e.what();
  }
}

TEST(Options, EachBadValueNamesItsField) {
  const TranscribeOptions good;
  EXPECT_NO_THROW(check_options(good, {kSp, false}));
  TranscribeOptions o;
  o.beam_size = 0;
  expect_rejected(o, "beam_size", ErrorKind::kBadInput);
  o = good;
  o.temperatures = {0.0f, NAN};
  expect_rejected(o, "temperatures", ErrorKind::kBadInput);
  o = good;
  o.language = "xx";
  expect_rejected(o, "language", ErrorKind::kBadInput);
  o = good;
  o.hallucination_silence_threshold = 2;  // without word timestamps
  expect_rejected(o, "hallucination_silence_threshold", ErrorKind::kBadInput);
  o = good;
  o.suppress_tokens = {60000};
  expect_rejected(o, "suppress_tokens", ErrorKind::kBadInput);
  o = good;
  o.vad_filter = true;
  expect_rejected(o, "vad_filter", ErrorKind::kUnsupported);  // no VAD weights
  o.vad.threshold = 1.5f;
  expect_rejected(o, "vad.threshold", ErrorKind::kBadInput, kSp, /*has_vad=*/true);
  o.vad.threshold = good.vad.threshold;
  o.vad.speech_pad_ms = -1;
  expect_rejected(o, "vad.speech_pad_ms", ErrorKind::kBadInput, kSp, /*has_vad=*/true);
  o = good;
  o.batch_size = 0;
  expect_rejected(o, "batch_size", ErrorKind::kBadInput);
  o.batch_size = kMaxBatchSize + 1;
  expect_rejected(o, "batch_size", ErrorKind::kBadInput);
  o.batch_size = 8;
  o.word_timestamps = true;
  o.hallucination_silence_threshold = 2;  // moves windows: batched mode has none to move
  expect_rejected(o, "hallucination_silence_threshold", ErrorKind::kBadInput);
}

// Batched mode's chunks: speech merged while it spans at most the window,
// starts on the 10 ms grid (the third moves up past the second's end, not
// down into it), long stretches cut.
TEST(BatchedChunks, MergedUpToTheWindowOnTheFrameGrid) {
  using C = AudioChunk;
  auto same = [](const std::vector<C>& a, const std::vector<std::pair<int64_t, int64_t>>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].start != b[i].first || a[i].end != b[i].second) return false;
    return true;
  };
  EXPECT_TRUE(merge_chunks({}, 1000).empty());
  // Two stretches that fit in 1000 samples merge; the third starts a chunk.
  EXPECT_TRUE(
      same(merge_chunks({{165, 400}, {500, 900}, {950, 1700}}, 1000), {{160, 900}, {960, 1700}}));
  // A stretch longer than the window is cut into windows.
  EXPECT_TRUE(same(merge_chunks({{0, 2500}}, 1000), {{0, 1000}, {1000, 2000}, {2000, 2500}}));
  // The whole audio (batched mode without VAD): consecutive windows.
  EXPECT_TRUE(same(merge_chunks({{0, 480000 * 2 + 5}}, 480000),
                   {{0, 480000}, {480000, 960000}, {960000, 960005}}));
  // A stretch inside the previous chunk adds nothing.
  EXPECT_TRUE(same(merge_chunks({{0, 500}, {100, 400}}, 1000), {{0, 500}}));
}

TEST(Options, EnglishOnlyModelsRefuseOtherLanguagesAndTranslation) {
  const text::SpecialTokens english = text::special_tokens(51864);
  TranscribeOptions o;
  o.language = "de";
  expect_rejected(o, "language", ErrorKind::kUnsupported, english);
  o.language = "auto";
  o.task = Task::kTranslate;
  expect_rejected(o, "task", ErrorKind::kUnsupported, english);
  EXPECT_EQ(requested_language(o), "");
}

TEST(Options, EnumNamesRoundTrip) {
  for (Task t : {Task::kTranscribe, Task::kTranslate}) EXPECT_EQ(parse_task(to_string(t)), t);
  for (Precision p : {Precision::kInt8, Precision::kFp32})
    EXPECT_EQ(parse_precision(to_string(p)), p);
  for (Backend b :
       {Backend::kAuto, Backend::kReference, Backend::kAvx2, Backend::kAvx512, Backend::kAmx})
    EXPECT_EQ(parse_backend(to_string(b)), b);
  try {
    parse_precision("int4");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.option(), "precision");
    EXPECT_NE(std::string(e.what()).find("int8, fp32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace amanuensis
