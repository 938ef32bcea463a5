// Silero VAD: speech intervals from hand-made probabilities (faster-whisper's
// rules), the time map, bad weight files, and the same bytes on any thread
// count. The network against onnxruntime and PyTorch: tests/vad_accuracy.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "formats/tensor_file.h"
#include "vad/silero_vad.h"
#include "vad/speech_timestamps.h"

namespace amanuensis::vad {

void PrintTo(const SpeechChunk& c, std::ostream* os) {
  *os << "[" << c.start << ", " << c.end << ")";
}

namespace {

// probabilities: `low` everywhere, `high` on [from, to) for each range.
std::vector<float> probs(int n, std::vector<std::pair<int, int>> speech, float high = 0.9f,
                         float low = 0.1f) {
  std::vector<float> p(n, low);
  for (auto [from, to] : speech)
    for (int i = from; i < to; ++i) p[i] = high;
  return p;
}

TEST(SpeechTimestamps, NoSpeech) {
  EXPECT_TRUE(speech_timestamps(probs(100, {}), 100 * 512, {}).empty());
}

TEST(SpeechTimestamps, PadsOneStretch) {
  const std::vector<SpeechChunk> want = {{100 * 512 - 6400, 200 * 512 + 6400}};
  EXPECT_EQ(speech_timestamps(probs(400, {{100, 200}}), 400 * 512 - 100, {}), want);
}

TEST(SpeechTimestamps, SpeechToTheEndEndsAtTheLastSample) {
  const std::vector<SpeechChunk> want = {{100 * 512 - 6400, 300 * 512 - 7}};
  EXPECT_EQ(speech_timestamps(probs(300, {{100, 300}}), 300 * 512 - 7, {}), want);
}

TEST(SpeechTimestamps, MinSilenceBridgesShortPauses) {
  const auto p = probs(400, {{100, 150}, {200, 250}});  // a 50-chunk (0.8 s) pause
  const std::vector<SpeechChunk> one = {{44800, 250 * 512 + 6400}};
  EXPECT_EQ(speech_timestamps(p, 400 * 512, {}), one);
  VadOptions o;
  o.min_silence_duration_ms = 500;
  const std::vector<SpeechChunk> two = {{44800, 76800 + 6400}, {102400 - 6400, 128000 + 6400}};
  EXPECT_EQ(speech_timestamps(p, 400 * 512, o), two);
  o.speech_pad_ms = 1000;  // pads overlap: each side takes half the gap
  const std::vector<SpeechChunk> halves = {{35200, 89600}, {89600, 144000}};
  EXPECT_EQ(speech_timestamps(p, 400 * 512, o), halves);
}

TEST(SpeechTimestamps, NegThresholdHysteresis) {
  auto p = probs(400, {{100, 150}});
  for (int i = 150; i < 400; ++i) p[i] = 0.4f;  // above the default neg threshold 0.35
  const std::vector<SpeechChunk> to_end = {{44800, 400 * 512}};
  EXPECT_EQ(speech_timestamps(p, 400 * 512, {}), to_end);
  VadOptions o;
  o.neg_threshold = 0.45f;
  const std::vector<SpeechChunk> ends = {{44800, 76800 + 6400}};
  EXPECT_EQ(speech_timestamps(p, 400 * 512, o), ends);
}

TEST(SpeechTimestamps, MinSpeechDropsBlips) {
  VadOptions o;
  o.min_speech_duration_ms = 250;  // 4000 samples; the blip is 5 chunks = 2560
  EXPECT_TRUE(speech_timestamps(probs(400, {{100, 105}}), 400 * 512, o).empty());
  EXPECT_EQ(speech_timestamps(probs(400, {{100, 105}}), 400 * 512, {}).size(), 1u);
}

TEST(SpeechTimestamps, MaxSpeechSplitsAtAPauseThenCuts) {
  // Speech on chunks [0, 1000) with a 10-chunk pause at 400; at most 15 s.
  const auto p = probs(1100, {{0, 400}, {410, 1000}});
  VadOptions o;
  o.max_speech_duration_s = 15.0f;
  const std::vector<SpeechChunk> want = {{0, 207360}, {207360, 436992}, {436992, 518400}};
  EXPECT_EQ(speech_timestamps(p, 1100 * 512, o), want);
}

// The end of the last frame at or above the threshold within [begin, end),
// capped at end; begin when there is none.
TEST(SpeechEnd, TheLastSpeechFrameInTheRange) {
  const std::vector<float> p = probs(100, {{10, 20}, {40, 50}});
  EXPECT_EQ(speech_end(p, 0, 100 * 512, 0.5f), 50 * 512);
  EXPECT_EQ(speech_end(p, 0, 30 * 512, 0.5f), 20 * 512);
  EXPECT_EQ(speech_end(p, 0, 45 * 512 + 7, 0.5f), 45 * 512 + 7);  // inside frame 45
  EXPECT_EQ(speech_end(p, 21 * 512, 39 * 512, 0.5f), 21 * 512);   // silence only
  EXPECT_EQ(speech_end(p, 15 * 512 + 3, 30 * 512, 0.5f), 20 * 512);
  EXPECT_EQ(speech_end(p, 60 * 512, 500 * 512, 0.5f), 60 * 512);  // past the probabilities
  EXPECT_EQ(speech_end(p, 0, 100 * 512, 0.95f), 0);               // nothing that high
  EXPECT_EQ(speech_end(p, 9, 9, 0.5f), 9);                        // empty range
  EXPECT_EQ(speech_end({}, 0, 512, 0.5f), 0);
}

TEST(SpeechTimestamps, RejectsBadOptions) {
  for (float t : {0.0f, 1.0f, -0.5f, NAN}) {
    VadOptions o;
    o.threshold = t;
    EXPECT_THROW(check_options(o), Error);
  }
  VadOptions o;
  o.speech_pad_ms = -1;
  EXPECT_THROW(check_options(o), Error);
  o = {};
  o.max_speech_duration_s = 0;
  EXPECT_THROW(check_options(o), Error);
  o = {};
  o.min_silence_duration_ms = -5;
  EXPECT_THROW(check_options(o), Error);
}

TEST(TimeMap, AddsTheSilenceBeforeEachChunk) {
  const TimeMap map({{16000, 32000}, {48000, 64000}});  // 1 s of speech after 1 s and 2 s silence
  EXPECT_EQ(map.original_time(0.5, map.chunk_index(0.5)), 1.5);
  EXPECT_EQ(map.chunk_index(1.0), 1u);                   // a start at the boundary: the next chunk
  EXPECT_EQ(map.chunk_index(1.0, /*is_end=*/true), 0u);  // an end there: the chunk it ends
  EXPECT_EQ(map.original_time(1.5, map.chunk_index(1.5)), 3.5);
  EXPECT_EQ(map.chunk_index(5.0), 1u);           // past the end: the last chunk
  EXPECT_EQ(map.original_time(0.123, 0), 1.12);  // rounded to 10 ms
}

TEST(TimeMap, RestoresSegmentsAndWords) {
  const TimeMap map({{16000, 32000}, {48000, 64000}});
  Segment s;
  s.start = 0.2;
  s.end = 1.0;
  map.restore(s);
  EXPECT_EQ(s.start, 1.2);
  EXPECT_EQ(s.end, 2.0);
  Segment w;
  w.start = 0.0;
  w.end = 2.0;
  w.words = {{0.3, 0.6, " a", 1}, {0.9, 1.2, " b", 1}};  // " b" straddles: its midpoint decides
  map.restore(w);
  EXPECT_EQ(w.words[0].start, 1.3);
  EXPECT_EQ(w.words[1].start, 2.9);
  EXPECT_EQ(w.words[1].end, 3.2);
  EXPECT_EQ(w.start, 1.3);
  EXPECT_EQ(w.end, 3.2);
}

TEST(WordStartsAtSpeech, MovesAStartPastASilenceInsideTheWord) {
  // 32 ms frames: speech on frames [0, 10) and [20, 40), silence between.
  const std::vector<float> p = probs(50, {{0, 10}, {20, 40}});
  Segment s;
  s.words = {{0.00, 0.25, " a", 1},   // speech throughout: unchanged
             {0.25, 0.90, " b", 1},   // frames 7..28: silence 10..19, speech again at 20
             {1.00, 1.20, " c", 1}};  // speech throughout
  s.start = 0.0;
  start_words_at_speech(s, p);
  EXPECT_EQ(s.words[0].start, 0.0);
  EXPECT_EQ(s.words[1].start, 0.64);  // frame 20 * 32 ms, to 10 ms
  EXPECT_EQ(s.words[1].end, 0.90);    // ends stay
  EXPECT_EQ(s.words[2].start, 1.0);
  EXPECT_EQ(s.start, 0.0);

  Segment first;  // the segment follows its first word
  first.words = {{0.25, 0.90, " b", 1}};
  first.start = 0.25;
  start_words_at_speech(first, p);
  EXPECT_EQ(first.start, 0.64);
}

TEST(WordStartsAtSpeech, LeavesShortPausesAndTrailingSilence) {
  Segment s;
  // 3 silent frames (96 ms) are below the 100 ms minimum.
  s.words = {{0.0, 0.6, " a", 1}};
  start_words_at_speech(s, probs(30, {{0, 5}, {8, 30}}));
  EXPECT_EQ(s.words[0].start, 0.0);
  // Silence with no speech after it inside the word: nothing to move to.
  start_words_at_speech(s, probs(30, {{0, 5}}));
  EXPECT_EQ(s.words[0].start, 0.0);
  // Speech resuming only at the word's end does not make it start there.
  s.words = {{0.0, 0.64, " a", 1}};
  start_words_at_speech(s, probs(30, {{0, 5}, {20, 30}}));
  EXPECT_EQ(s.words[0].start, 0.0);
  // Probabilities shorter than the audio (words past them): unchanged, no overrun.
  s.words = {{5.0, 6.0, " z", 1}};
  start_words_at_speech(s, probs(30, {{0, 5}}));
  EXPECT_EQ(s.words[0].start, 5.0);
  // Between thresholds: 0.4 is not silence (silence is below 0.35).
  s.words = {{0.0, 0.6, " a", 1}};
  start_words_at_speech(s, probs(30, {{0, 5}, {12, 30}}, 0.9f, 0.4f));
  EXPECT_EQ(s.words[0].start, 0.0);
}

TEST(CollectChunks, JoinsSpeechInOrder) {
  std::vector<float> a(10);
  for (int i = 0; i < 10; ++i) a[i] = float(i);
  EXPECT_EQ(collect_chunks(a, {{1, 3}, {6, 8}}), (std::vector<float>{1, 2, 6, 7}));
  EXPECT_TRUE(collect_chunks(a, {}).empty());
  EXPECT_THROW(collect_chunks(a, {{5, 11}}), Error);
}

// A safetensors file of Silero VAD's tensors with random values.
struct FakeWeights {
  std::map<std::string, std::vector<int64_t>> shapes = {{"stft_conv.weight", {258, 1, 256}},
                                                        {"conv1.weight", {128, 129, 3}},
                                                        {"conv1.bias", {128}},
                                                        {"conv2.weight", {64, 128, 3}},
                                                        {"conv2.bias", {64}},
                                                        {"conv3.weight", {64, 64, 3}},
                                                        {"conv3.bias", {64}},
                                                        {"conv4.weight", {128, 64, 3}},
                                                        {"conv4.bias", {128}},
                                                        {"lstm_cell.weight_ih", {512, 128}},
                                                        {"lstm_cell.weight_hh", {512, 128}},
                                                        {"lstm_cell.bias_ih", {512}},
                                                        {"lstm_cell.bias_hh", {512}},
                                                        {"final_conv.weight", {1, 128, 1}},
                                                        {"final_conv.bias", {1}}};

  std::string write(const std::string& name, size_t cut = 0) const {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.1f);
    std::string header = "{", data;
    for (const auto& [tensor, shape] : shapes) {
      int64_t n = 1;
      std::string dims;
      for (int64_t d : shape) {
        n *= d;
        if (!dims.empty()) dims += ',';
        dims += std::to_string(d);
      }
      const size_t begin = data.size();
      for (int64_t i = 0; i < n; ++i) {
        const float v = normal(rng);
        data.append(reinterpret_cast<const char*>(&v), 4);
      }
      header +=
          (header.size() > 1 ? "," : "") +
          ("\"" + tensor + "\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(data.size()) + "]}");
    }
    header += "}";
    const uint64_t len = header.size();
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &len, 8);
    bytes += header + data;
    const std::string path = (std::filesystem::temp_directory_path() / name).string();
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - cut);
    return path;
  }
};

void expect_model_error(const std::string& path, const std::string& part) {
  try {
    SileroVad v(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(SileroVad, BadWeightFilesGiveErrors) {
  FakeWeights w;
  expect_model_error("/nonexistent/silero_vad_v6_16k.safetensors", "/nonexistent/");
  expect_model_error(w.write("vad_truncated.safetensors", 1000), "truncated");
  FakeWeights missing;
  missing.shapes.erase("lstm_cell.bias_hh");
  expect_model_error(missing.write("vad_missing.safetensors"),
                     "missing tensor 'lstm_cell.bias_hh'");
  FakeWeights wrong;
  wrong.shapes["conv2.weight"] = {64, 128, 5};
  expect_model_error(wrong.write("vad_shape.safetensors"), "'conv2.weight' has shape");
}

TEST(SileroVad, SameBytesOnAnyThreadCount) {
  const SileroVad vad(FakeWeights().write("vad_random.safetensors"));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> audio(512 * 300 + 470);  // the last chunk's tail is audio, and zeroed
  for (float& x : audio) x = u(rng);
  ThreadPool one(1), three(3);
  const std::vector<float> a = vad.probabilities(audio, one), b = vad.probabilities(audio, three);
  ASSERT_EQ(a.size(), audio.size() / 512 + 1);
  ASSERT_EQ(b.size(), a.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
  for (float p : a) EXPECT_TRUE(p >= 0.0f && p <= 1.0f) << p;
  EXPECT_EQ(vad.probabilities({}, one).size(), 1u);  // one chunk of padding, as faster-whisper
}

TEST(SileroVad, ChunkByChunkGivesTheWholeRecordingsBytes) {
  const SileroVad vad(FakeWeights().write("vad_stream.safetensors"));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> audio(512 * 20 + 300);
  for (float& x : audio) x = u(rng);
  ThreadPool pool(2);
  const std::vector<float> whole = vad.probabilities(audio, pool);
  SileroVad::Stream stream;
  for (size_t i = 0; i + 1 < whole.size(); ++i) {  // the last: padded and cleared
    const float p = vad.next(&audio[i * 512], stream);
    EXPECT_EQ(std::memcmp(&p, &whole[i], 4), 0) << "chunk " << i;
  }
}

TEST(SileroVad, SameBytesOnEveryBackend) {
  const std::string path = FakeWeights().write("vad_backends.safetensors");
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> audio(512 * 40 + 100);
  for (float& x : audio) x = u(rng);
  ThreadPool pool(2);
  const std::vector<float> expected =
      SileroVad(path, Backend::kReference).probabilities(audio, pool);
  for (Backend b : supported_backends()) {
    const std::vector<float> got = SileroVad(path, b).probabilities(audio, pool);
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * 4), 0) << to_string(b);
  }
}

}  // namespace
}  // namespace amanuensis::vad
