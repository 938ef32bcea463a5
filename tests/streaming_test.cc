// StreamingSession through the public API (tiny.en, jfk.wav): the events are
// the same however the audio is cut into pushes, commits only grow, the
// whole stream is transcribed past a Whisper window, and bad use throws.
#include <amanuensis/amanuensis.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

std::string jfk() { return std::string(AMANUENSIS_SOURCE_DIR) + "/samples/jfk.wav"; }

class Streaming : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = amanuensis::Model::load(amanuensis::model_cache_dir() + "/tiny.en");
    audio_ = new std::vector<float>(amanuensis::load_audio(jfk()));
  }
  static void TearDownTestSuite() {
    model_.reset();
    delete audio_;
  }
  static amanuensis::StreamingOptions options() {
    amanuensis::StreamingOptions o;
    o.transcribe.beam_size = 1;
    return o;
  }
  static std::shared_ptr<const amanuensis::Model> model_;
  static std::vector<float>* audio_;
};
std::shared_ptr<const amanuensis::Model> Streaming::model_;
std::vector<float>* Streaming::audio_ = nullptr;

struct Event {
  std::string kind, text;
  double audio;
  bool operator==(const Event&) const = default;
};

// The events of one stream of `audio` pushed `chunk` samples at a time.
std::vector<Event> events(const std::shared_ptr<const amanuensis::Model>& model,
                          const std::vector<float>& audio, size_t chunk,
                          const amanuensis::StreamingOptions& o, int threads,
                          std::string* committed = nullptr) {
  std::vector<Event> out;
  amanuensis::StreamingSession* session = nullptr;
  amanuensis::StreamingCallbacks cb;
  cb.on_commit = [&](const std::vector<amanuensis::Word>& words) {
    for (const amanuensis::Word& w : words) {
      char times[64];
      std::snprintf(times, sizeof times, "@%.17g-%.17g", w.start, w.end);
      out.push_back({"commit", w.word + times, session->hypothesized_seconds()});
      // Committed words are heard before the audio that confirmed them ends.
      EXPECT_LE(w.end, session->hypothesized_seconds() + 1e-9) << w.word;
    }
  };
  cb.on_partial = [&](const std::string& text) {
    out.push_back({"partial", text, session->hypothesized_seconds()});
  };
  amanuensis::StreamingSession s(model, threads, o, cb);
  session = &s;
  for (size_t at = 0; at < audio.size(); at += chunk)
    s.push(audio.data() + at, std::min(chunk, audio.size() - at));
  s.finish();
  if (committed) *committed = s.committed_text();
  return out;
}

TEST_F(Streaming, SameEventsHoweverTheAudioIsPushedAndAtAnyThreadCount) {
  std::string text;
  const std::vector<Event> want = events(model_, *audio_, 1600, options(), 2, &text);
  ASSERT_GT(want.size(), 10u);
  for (size_t chunk : {size_t(160), size_t(5923), audio_->size()}) {
    EXPECT_EQ(events(model_, *audio_, chunk, options(), 2), want) << chunk;
  }
  EXPECT_EQ(events(model_, *audio_, 1600, options(), 1), want) << "1 thread";
  // The commits add up to the committed text, in time order; the stream
  // ends with nothing tentative.
  std::string joined;
  double last_end = 0;
  for (const Event& e : want)
    if (e.kind == "commit") {
      joined += e.text.substr(0, e.text.find('@'));
      const double end = std::stod(e.text.substr(e.text.find('-', e.text.find('@')) + 1));
      EXPECT_GE(end, last_end);
      last_end = end;
    }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(want.back().kind, "partial");
  EXPECT_EQ(want.back().text, "");
  // Nothing is committed from the first two seconds' hypotheses alone.
  for (const Event& e : want)
    if (e.kind == "commit") {
      EXPECT_GE(e.audio, 3.0) << e.text;
      break;
    }
  // Hypotheses every second of audio, then one of the whole stream at finish().
  EXPECT_DOUBLE_EQ(want.front().audio, 1.0);
  EXPECT_DOUBLE_EQ(want.back().audio, 11.0);
}

TEST_F(Streaming, CommitsTheWordsOfTheOfflineTranscript) {
  std::string text;
  events(model_, *audio_, 1600, options(), 2, &text);
  amanuensis::Session session(model_, 2);
  amanuensis::TranscribeOptions o;
  o.beam_size = 1;
  const std::string offline = session.transcribe(*audio_, o).text;
  // Word for word, but for case and punctuation (tiny.en may hesitate over
  // one): at least all but two of the offline transcript's words, in order.
  auto words = [](const std::string& s) {
    std::vector<std::string> out(1);
    for (char c : s) {
      if (c == ' ') {
        if (!out.back().empty()) out.emplace_back();
      } else if (std::isalnum(static_cast<unsigned char>(c))) {
        out.back() += char(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    if (out.back().empty()) out.pop_back();
    return out;
  };
  const std::vector<std::string> a = words(text), b = words(offline);
  size_t same = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size(); ++j)
    if (a[i] == b[j]) ++same, ++i;
  EXPECT_GE(same + 2, b.size()) << "stream: " << text << "\noffline: " << offline;
}

// 44 s, past one 30 s window: the buffer is cut behind committed text and
// all four repetitions are transcribed.
TEST_F(Streaming, AStreamLongerThanAWindow) {
  std::vector<float> four;
  for (int i = 0; i < 4; ++i) four.insert(four.end(), audio_->begin(), audio_->end());
  std::string text;
  amanuensis::StreamingOptions o = options();
  o.step_seconds = 2.0;  // fewer hypotheses: CI's time
  events(model_, four, 16000, o, 2, &text);
  size_t countries = 0;
  for (size_t at = text.find("country"); at != std::string::npos; at = text.find("country", at + 1))
    ++countries;
  EXPECT_GE(countries, 7u) << text;  // two a repetition
}

TEST_F(Streaming, BadUseThrows) {
  auto with = [](auto change) {
    amanuensis::StreamingOptions o = options();
    change(o);
    return o;
  };
  using O = amanuensis::StreamingOptions;
  for (const O& o :
       {with([](O& o) { o.step_seconds = 0; }), with([](O& o) { o.step_seconds = NAN; }),
        with([](O& o) { o.max_buffer_seconds = 31; }), with([](O& o) { o.trim_seconds = 0.5; }),
        with([](O& o) { o.transcribe.language = "de"; })})  // English-only model
    EXPECT_THROW(amanuensis::StreamingSession(model_, 1, o), amanuensis::Error);
  try {
    amanuensis::StreamingSession(model_, 1, with([](O& o) { o.step_seconds = 20; }));
  } catch (const amanuensis::Error& e) {
    EXPECT_EQ(e.option(), "step_seconds");
  }
  amanuensis::StreamingSession s(model_, 1, options());
  const float bad[2] = {0.0f, NAN};
  EXPECT_THROW(s.push(bad, 2), amanuensis::Error);
  EXPECT_EQ(s.received_seconds(), 0.0);  // nothing of a refused push is kept
  s.push(bad, 1);
  s.finish();
  s.finish();  // twice is once
  EXPECT_THROW(s.push(bad, 1), amanuensis::Error);
  EXPECT_EQ(s.committed_text(), "");
}

}  // namespace
