// The public API as a client uses it (include/amanuensis/amanuensis.h only):
// callbacks, abort, errors, and one model shared by sessions on several
// threads at once.
#include <amanuensis/amanuensis.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string models() { return amanuensis::model_cache_dir(); }  // scripts/fetch_models.py

// The shipped sample (ctest runs in build/).
std::string jfk() { return std::string(AMANUENSIS_SOURCE_DIR) + "/samples/jfk.wav"; }

// Every segment's text, tokens and their log-probabilities, times and
// words: the same bytes.
void expect_same_segments(const amanuensis::Transcription& got,
                          const amanuensis::Transcription& want) {
  ASSERT_EQ(got.segments.size(), want.segments.size());
  for (size_t i = 0; i < got.segments.size(); ++i) {
    const amanuensis::Segment &a = got.segments[i], &b = want.segments[i];
    EXPECT_EQ(a.text, b.text);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.token_logprobs, b.token_logprobs);
    EXPECT_EQ(a.avg_logprob, b.avg_logprob);
    EXPECT_EQ(a.start, b.start);
    EXPECT_EQ(a.end, b.end);
    ASSERT_EQ(a.words.size(), b.words.size());
    for (size_t w = 0; w < a.words.size(); ++w) {
      EXPECT_EQ(a.words[w].start, b.words[w].start);
      EXPECT_EQ(a.words[w].end, b.words[w].end);
    }
  }
}

class Api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = amanuensis::Model::load(models() + "/tiny.en");  // run scripts/fetch_models.py
    audio_ = new std::vector<float>(amanuensis::load_audio(jfk()));
  }
  static void TearDownTestSuite() {
    model_.reset();
    delete audio_;
  }
  static amanuensis::TranscribeOptions greedy() {
    amanuensis::TranscribeOptions o;
    o.beam_size = 1;
    return o;
  }
  static std::shared_ptr<const amanuensis::Model> model_;
  static std::vector<float>* audio_;
};
std::shared_ptr<const amanuensis::Model> Api::model_;
std::vector<float>* Api::audio_ = nullptr;

TEST_F(Api, ModelDescribesItself) {
  EXPECT_FALSE(model_->multilingual());
  EXPECT_EQ(model_->format(), "CTranslate2");
  EXPECT_EQ(model_->precision(), amanuensis::Precision::kInt8);
  EXPECT_NE(model_->backend(), amanuensis::Backend::kAuto);
  EXPECT_EQ(model_->n_mels(), 80);
  EXPECT_EQ(model_->languages().size(), 99u);
  EXPECT_EQ(amanuensis::language_name("de"), "german");
}

// Each segment's tokens carry their log-probabilities, and their bytes
// (Model::token_bytes, text tokens only) spell the segment's text.
TEST_F(Api, TokensHaveLogprobsAndSpellTheText) {
  amanuensis::Session session(model_, 2);
  const amanuensis::Transcription t = session.transcribe(*audio_);  // beam 5
  ASSERT_FALSE(t.segments.empty());
  const int eot = 50256;  // tiny.en's first special token
  EXPECT_TRUE(model_->is_text_token(eot - 1));
  EXPECT_FALSE(model_->is_text_token(eot));
  EXPECT_FALSE(model_->is_text_token(-1));
  for (const amanuensis::Segment& s : t.segments) {
    ASSERT_EQ(s.token_logprobs.size(), s.tokens.size());
    std::string spelled;
    double sum = 0;
    for (size_t k = 0; k < s.tokens.size(); ++k) {
      EXPECT_LE(s.token_logprobs[k], 0.0f);
      EXPECT_TRUE(std::isfinite(s.token_logprobs[k]));
      sum += s.token_logprobs[k];
      if (model_->is_text_token(s.tokens[k])) spelled += model_->token_bytes(s.tokens[k]);
    }
    EXPECT_EQ(spelled, s.text);
  }
  // One window: its segments' terms and eot's average to avg_logprob.
  double window = 0;
  size_t n = 0;
  for (const amanuensis::Segment& s : t.segments) {
    for (float lp : s.token_logprobs) window += lp;
    n += s.tokens.size();
  }
  EXPECT_LE(t.segments[0].avg_logprob * double(n + 1), window + 1e-9) << "eot's term is > 0";
  EXPECT_EQ(model_->token_bytes(eot), "<|endoftext|>");
  EXPECT_EQ(model_->token_bytes(50363 + 54), "<|1.08|>");
  EXPECT_THROW(model_->token_bytes(-1), amanuensis::Error);
  EXPECT_THROW(model_->token_bytes(51864), amanuensis::Error);
}

TEST_F(Api, CallbacksSeeEverySegmentAndTheEnd) {
  amanuensis::Session session(model_, 2);
  std::vector<amanuensis::Segment> seen;
  double last_done = -1, last_total = -1;
  amanuensis::Callbacks cb;
  cb.on_segment = [&](const amanuensis::Segment& s) { seen.push_back(s); };
  cb.on_progress = [&](double done, double total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  };
  const amanuensis::Transcription t = session.transcribe(*audio_, greedy(), cb);
  ASSERT_FALSE(t.segments.empty());
  ASSERT_EQ(seen.size(), t.segments.size());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i].text, t.segments[i].text);
  EXPECT_DOUBLE_EQ(last_done, last_total);
  EXPECT_NEAR(t.info.duration, 11.0, 0.01);
  EXPECT_FALSE(t.aborted);
  EXPECT_NE(t.text.find("ask not what your country can do for you"), std::string::npos) << t.text;
}

// on_info comes once, before the first segment, with the info the result
// ends with; in batched mode too.
TEST_F(Api, InfoComesOnceBeforeTheFirstSegment) {
  amanuensis::Session session(model_, 2);
  for (int batch : {1, 4}) {
    amanuensis::TranscribeOptions o = greedy();
    o.batch_size = batch;
    int infos = 0, segments_before_info = 0, segments = 0;
    amanuensis::TranscriptionInfo seen;
    amanuensis::Callbacks cb;
    cb.on_info = [&](const amanuensis::TranscriptionInfo& info) {
      ++infos;
      segments_before_info = segments;
      seen = info;
    };
    cb.on_segment = [&](const amanuensis::Segment&) { ++segments; };
    const amanuensis::Transcription t = session.transcribe(*audio_, o, cb);
    EXPECT_EQ(infos, 1) << batch;
    EXPECT_EQ(segments_before_info, 0) << batch;
    EXPECT_GT(segments, 0) << batch;
    EXPECT_EQ(seen.language, t.info.language);
    EXPECT_EQ(seen.duration, t.info.duration);
    EXPECT_EQ(seen.duration_after_vad, t.info.duration_after_vad);
  }
}

TEST_F(Api, NonFiniteSamplesAreRefused) {
  amanuensis::Session session(model_, 1);
  std::vector<float> audio = *audio_;
  audio[1234] = NAN;
  try {
    session.transcribe(audio, greedy());
    ADD_FAILURE() << "a NaN sample was transcribed";
  } catch (const amanuensis::Error& e) {
    EXPECT_EQ(e.kind(), amanuensis::ErrorKind::kBadInput);
    EXPECT_NE(std::string(e.what()).find("sample 1234"), std::string::npos) << e.what();
  }
  audio[1234] = INFINITY;
  amanuensis::TranscribeOptions o = greedy();
  o.batch_size = 2;
  EXPECT_THROW(session.transcribe_many({*audio_, audio}, o), amanuensis::Error);
}

TEST(ApiAudio, DecodeRefusesAudioOverItsLimit) {
  std::ifstream f(jfk(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(amanuensis::decode_audio(bytes.data(), bytes.size(), "jfk.wav", 11.5),
            amanuensis::decode_audio(bytes.data(), bytes.size(), "jfk.wav"));
  try {
    amanuensis::decode_audio(bytes.data(), bytes.size(), "jfk.wav", 10);
    ADD_FAILURE() << "11 s of audio passed a 10 s limit";
  } catch (const amanuensis::Error& e) {
    EXPECT_EQ(e.kind(), amanuensis::ErrorKind::kResourceLimit);
    EXPECT_NE(std::string(e.what()).find("limit is 10 s"), std::string::npos) << e.what();
  }
  for (double bad : {0.0, -1.0, double(NAN), 5 * 3600.0}) {
    try {
      amanuensis::decode_audio(bytes.data(), bytes.size(), "jfk.wav", bad);
      ADD_FAILURE() << bad;
    } catch (const amanuensis::Error& e) {
      EXPECT_EQ(e.kind(), amanuensis::ErrorKind::kBadInput);
      EXPECT_EQ(e.option(), "max_seconds");
    }
  }
}

TEST_F(Api, AbortStopsBeforeTheNextWindow) {
  amanuensis::Session session(model_, 1);
  amanuensis::Callbacks cb;
  cb.should_abort = [] { return true; };
  const amanuensis::Transcription t = session.transcribe(*audio_, greedy(), cb);
  EXPECT_TRUE(t.aborted);
  EXPECT_TRUE(t.segments.empty());
}

// What a live hypothesis does (src/api/streaming.cc): stop once the first
// window has reported its progress, keeping that window's segments.
TEST_F(Api, AbortAfterTheFirstWindowKeepsItsSegments) {
  amanuensis::Session session(model_, 1);
  std::vector<float> three;  // 33 s: two windows
  for (int i = 0; i < 3; ++i) three.insert(three.end(), audio_->begin(), audio_->end());
  const amanuensis::Transcription whole = session.transcribe(three, greedy());
  bool one_window_done = false;
  amanuensis::Callbacks cb;
  cb.on_progress = [&](double, double) { one_window_done = true; };
  cb.should_abort = [&] { return one_window_done; };
  const amanuensis::Transcription t = session.transcribe(three, greedy(), cb);
  EXPECT_TRUE(t.aborted);
  ASSERT_FALSE(t.segments.empty());
  ASSERT_LT(t.segments.size(), whole.segments.size());
  for (size_t i = 0; i < t.segments.size(); ++i) {  // the whole run's first segments
    EXPECT_EQ(t.segments[i].text, whole.segments[i].text) << i;
    EXPECT_EQ(t.segments[i].start, whole.segments[i].start) << i;
    EXPECT_EQ(t.segments[i].end, whole.segments[i].end) << i;
    EXPECT_LE(t.segments[i].end, 30.0) << i;
  }
}

TEST_F(Api, InterruptStopsWithinAWindow) {
  amanuensis::Session session(model_, 1);
  std::vector<float> three;  // 33 s: two windows
  for (int i = 0; i < 3; ++i) three.insert(three.end(), audio_->begin(), audio_->end());
  const amanuensis::Transcription whole = session.transcribe(three, greedy());
  ASSERT_GE(whole.segments.size(), 2u);

  // Never firing: checked many times a window (layers, steps), nothing changes.
  int calls = 0;
  amanuensis::Callbacks cb;
  cb.interrupt = [&] { return ++calls < 0; };
  amanuensis::Transcription t = session.transcribe(three, greedy(), cb);
  EXPECT_GT(calls, 40);
  EXPECT_FALSE(t.aborted);
  EXPECT_EQ(t.text, whole.text);

  // Firing inside the first window's encoder: aborted, nothing heard.
  calls = 0;
  cb.interrupt = [&] { return ++calls >= 2; };
  t = session.transcribe(three, greedy(), cb);
  EXPECT_TRUE(t.aborted);
  EXPECT_TRUE(t.segments.empty());
  EXPECT_EQ(calls, 2);

  // Firing once the first window's segments are out, inside the second: they stay.
  bool emitted = false;
  cb.on_segment = [&](const amanuensis::Segment&) { emitted = true; };
  cb.interrupt = [&] { return emitted; };
  t = session.transcribe(three, greedy(), cb);
  EXPECT_TRUE(t.aborted);
  ASSERT_FALSE(t.segments.empty());
  EXPECT_LT(t.segments.size(), whole.segments.size());
  EXPECT_EQ(t.segments[0].text, whole.segments[0].text);

  // Batched: the same, and the session is whole afterwards.
  amanuensis::TranscribeOptions batched = greedy();
  batched.batch_size = 2;
  calls = 0;
  cb = {};
  cb.interrupt = [&] { return ++calls >= 3; };
  t = session.transcribe(three, batched, cb);
  EXPECT_TRUE(t.aborted);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(session.transcribe(three, greedy()).text, whole.text);
}

TEST_F(Api, BadOptionsAndFilesThrowError) {
  amanuensis::Session session(model_, 1);
  amanuensis::TranscribeOptions o = greedy();
  o.language = "xx";
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
  EXPECT_THROW(model_->check(o), amanuensis::Error);
  o.language = "EN";  // codes are case-blind
  EXPECT_EQ(session.transcribe(*audio_, o).info.language, "en");
  o = greedy();
  o.task = amanuensis::Task::kTranslate;  // English-only model
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
  try {
    model_->check(o);
    ADD_FAILURE() << "translation with an English-only model passed the check";
  } catch (const amanuensis::Error& e) {
    EXPECT_EQ(e.kind(), amanuensis::ErrorKind::kUnsupported);
    EXPECT_EQ(e.option(), "task");
  }
  o = greedy();
  o.temperatures = {};
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
  EXPECT_THROW(amanuensis::load_audio("/nonexistent.wav"), amanuensis::Error);
  EXPECT_THROW(amanuensis::Model::load("/nonexistent"), amanuensis::Error);
  EXPECT_THROW(amanuensis::parse_precision("int4"), amanuensis::Error);
  try {
    amanuensis::Model::load("/nonexistent");
  } catch (const amanuensis::Error& e) {
    EXPECT_EQ(e.kind(), amanuensis::ErrorKind::kBadModel) << e.what();
  }
  try {
    amanuensis::load_audio("/nonexistent.wav");
  } catch (const amanuensis::Error& e) {
    EXPECT_EQ(e.kind(), amanuensis::ErrorKind::kBadInput) << e.what();
  }
  o = greedy();
  o.min_text_end = -1.0f;
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
  o.min_text_end = 5.0f;
  o.batch_size = 2;
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
  for (int bad : {-1, 2, 449}) {
    o = greedy();
    o.stop_loops_after = bad;
    EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error) << bad;
  }
  for (int bad : {-1, 51864}) {  // tiny.en's vocabulary is 51864 tokens
    o = greedy();
    o.draft_tokens = {50363, bad};
    EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error) << bad;
  }
  const char junk[] = "not audio at all";
  EXPECT_THROW(amanuensis::decode_audio(junk, sizeof junk, "junk"), amanuensis::Error);
}

// A draft changes the speed of greedy search, never its transcript: the
// result's own tokens, a copy with tokens lost and changed, another text.
TEST_F(Api, DraftTokensChangeNothing) {
  amanuensis::Session session(model_, 2);
  amanuensis::TranscribeOptions o = greedy();
  o.word_timestamps = true;
  const amanuensis::Transcription plain = session.transcribe(*audio_, o);
  std::vector<int> own;
  for (const amanuensis::Segment& s : plain.segments)
    own.insert(own.end(), s.tokens.begin(), s.tokens.end());
  ASSERT_GT(own.size(), 10u);
  std::vector<int> changed = own;
  changed.erase(changed.begin() + 4);
  changed[7] = 1000;
  std::vector<int> other = {50363, 383, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290};
  for (const std::vector<int>* draft : {&own, &changed, &other}) {
    o.draft_tokens = *draft;
    expect_same_segments(session.transcribe(*audio_, o), plain);
  }
}

// min_text_end: the text may not end before its timestamps reach it. The
// first 4 s of jfk.wav then 6 s of silence: alone the text ends with the
// speech; held to 8 s, its last segment reaches 8 s.
TEST_F(Api, MinTextEndHoldsTheTextToIt) {
  std::vector<float> audio(audio_->begin(), audio_->begin() + 4 * 16000);
  audio.resize(10 * 16000, 0.0f);
  amanuensis::Session session(model_, 1);
  amanuensis::TranscribeOptions o = greedy();
  const amanuensis::Transcription free = session.transcribe(audio, o);
  ASSERT_FALSE(free.segments.empty());
  EXPECT_LT(free.segments.back().end, 6.0);
  o.min_text_end = 8.0f;
  const amanuensis::Transcription held = session.transcribe(audio, o);
  ASSERT_FALSE(held.segments.empty());
  EXPECT_GE(held.segments.back().end, 8.0);
}

// One immutable model, three sessions on three threads at once: each gives
// the bytes a lone session gives.
TEST_F(Api, SessionsShareOneModelConcurrently) {
  amanuensis::Session alone(model_, 1);
  const amanuensis::Transcription expected = alone.transcribe(*audio_, greedy());
  std::vector<amanuensis::Transcription> got(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      amanuensis::Session session(model_, 1 + i % 2);
      got[i] = session.transcribe(*audio_, greedy());
    });
  for (std::thread& t : threads) t.join();
  for (const amanuensis::Transcription& t : got) expect_same_segments(t, expected);
}

// Sessions of one group on several threads: their decoder steps ran
// together (some steps held several sessions' rows), and each transcript,
// with word timings and beam search, is the bytes a Session alone gives.
// Whether any step is shared is up to the scheduler (a session that is still
// encoding is not waited for), so the sessions run again, up to three times,
// until some step was.
TEST_F(Api, SessionGroupBatchesConcurrentSessionsWithoutChangingThem) {
  amanuensis::TranscribeOptions o;  // beam 5
  o.word_timestamps = true;
  const std::vector<float> half(audio_->begin(), audio_->begin() + audio_->size() / 2);
  const std::vector<const std::vector<float>*> inputs = {audio_, &half, audio_, &half};
  std::vector<amanuensis::Transcription> expected;
  amanuensis::Session alone(model_, 1);
  for (const std::vector<float>* in : inputs) expected.push_back(alone.transcribe(*in, o));
  auto group = std::make_shared<amanuensis::SessionGroup>(model_);
  for (int round = 0; round < 3 && group->load().shared_steps == 0; ++round) {
    std::vector<amanuensis::Transcription> got(inputs.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < inputs.size(); ++i)
      threads.emplace_back([&, i] {
        amanuensis::Session session(group, 1 + int(i % 2));
        got[i] = session.transcribe(*inputs[i], o);
      });
    for (std::thread& t : threads) t.join();
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(got[i].text, expected[i].text) << i;
      ASSERT_EQ(got[i].segments.size(), expected[i].segments.size()) << i;
      for (size_t k = 0; k < got[i].segments.size(); ++k) {
        const amanuensis::Segment &a = got[i].segments[k], &b = expected[i].segments[k];
        EXPECT_EQ(a.tokens, b.tokens) << i;
        EXPECT_EQ(a.token_logprobs, b.token_logprobs) << i;
        EXPECT_EQ(a.avg_logprob, b.avg_logprob) << i;
        ASSERT_EQ(a.words.size(), b.words.size()) << i;
        for (size_t w = 0; w < a.words.size(); ++w) {
          EXPECT_EQ(a.words[w].start, b.words[w].start) << i;
          EXPECT_EQ(a.words[w].end, b.words[w].end) << i;
          EXPECT_EQ(a.words[w].probability, b.words[w].probability) << i;
        }
      }
    }
  }
  const amanuensis::SessionGroup::Load load = group->load();
  EXPECT_EQ(load.decoding, 0);
  EXPECT_GT(load.shared_steps, 0u) << "the sessions' steps never ran together";
  EXPECT_THROW(amanuensis::Session(std::shared_ptr<amanuensis::SessionGroup>(), 1),
               amanuensis::Error);
}

// Words spell each segment's text, in order, within the audio. (A segment's
// last word may end a little after it: when the word is far longer than its
// segment allows, faster-whisper cuts it to the median word length, which can
// still pass the segment's end; we do the same.)
TEST_F(Api, WordTimestampsSpellTheSegments) {
  amanuensis::Session session(model_, 2);
  amanuensis::TranscribeOptions o = greedy();
  o.word_timestamps = true;
  const amanuensis::Transcription t = session.transcribe(*audio_, o);
  ASSERT_FALSE(t.segments.empty());
  double last = 0;
  for (const amanuensis::Segment& s : t.segments) {
    ASSERT_FALSE(s.words.empty());
    std::string text;
    for (const amanuensis::Word& w : s.words) {
      text += w.word;
      EXPECT_LE(w.start, w.end);
      EXPECT_GE(w.start, last);
      EXPECT_GE(w.start, 0.0);
      EXPECT_LE(w.end, t.info.duration);
      EXPECT_GT(w.probability, 0.0f);
      EXPECT_LE(w.probability, 1.0f);
      last = w.start;
    }
    EXPECT_EQ(text, s.text);
  }
  o.word_timestamps = false;
  o.hallucination_silence_threshold = 2.0f;  // needs word timings
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
  // Word starts at speech need the VAD's weights, which this model was loaded without.
  o.hallucination_silence_threshold = NAN;
  o.word_timestamps = true;
  o.word_starts_at_speech = true;
  EXPECT_THROW(model_->check(o), amanuensis::Error);
  EXPECT_THROW(session.transcribe(*audio_, o), amanuensis::Error);
}

TEST_F(Api, EmptyAudioGivesNoSegments) {
  amanuensis::Session session(model_, 1);
  const amanuensis::Transcription t = session.transcribe({}, greedy());
  EXPECT_TRUE(t.segments.empty());
  EXPECT_EQ(t.text, "");
}

// Several recordings in one batched call: each result is what that
// recording gets alone, with its own callbacks; an empty one has no segments.
TEST_F(Api, TranscribeManyBatchesRecordingsWithoutMixingThem) {
  amanuensis::Session session(model_, 2);
  amanuensis::TranscribeOptions o = greedy();
  o.batch_size = 3;
  const std::vector<float> half(audio_->begin(), audio_->begin() + audio_->size() / 2);
  const std::vector<std::vector<float>> recordings = {*audio_, {}, half};
  std::vector<int> seen(3, 0);
  std::vector<amanuensis::Callbacks> cbs(3);
  for (int i = 0; i < 3; ++i)
    cbs[i].on_segment = [&seen, i](const amanuensis::Segment&) { ++seen[i]; };
  const std::vector<amanuensis::Transcription> many = session.transcribe_many(recordings, o, cbs);
  ASSERT_EQ(many.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const amanuensis::Transcription alone = session.transcribe(recordings[i], o);
    EXPECT_EQ(many[i].text, alone.text) << i;
    ASSERT_EQ(many[i].segments.size(), alone.segments.size()) << i;
    for (size_t k = 0; k < alone.segments.size(); ++k) {
      EXPECT_EQ(many[i].segments[k].tokens, alone.segments[k].tokens);
      EXPECT_EQ(many[i].segments[k].start, alone.segments[k].start);
      EXPECT_EQ(many[i].segments[k].end, alone.segments[k].end);
      EXPECT_EQ(many[i].segments[k].avg_logprob, alone.segments[k].avg_logprob);
    }
    EXPECT_EQ(seen[i], int(alone.segments.size())) << i;
  }
  EXPECT_TRUE(many[1].segments.empty());
  EXPECT_THROW(session.transcribe_many(recordings, o, std::vector<amanuensis::Callbacks>(2)),
               amanuensis::Error);
}

}  // namespace
