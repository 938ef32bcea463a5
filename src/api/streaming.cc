// StreamingSession: LocalAgreement-2 over Session::transcribe of a growing
// buffer (src/streaming/local_agreement.h holds the policy).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "streaming/local_agreement.h"
#include "util/whisper_geometry.h"

namespace amanuensis {
namespace {

// Whisper reads a second or two of speech with little context, and two such
// readings can agree on a wrong one: a buffer this short only proposes.
constexpr double kMinCommitSeconds = 2.0;

int64_t samples(double seconds) { return int64_t(std::llround(seconds * kSampleRate)); }
double seconds(int64_t samples) { return double(samples) / kSampleRate; }

void check(const StreamingOptions& o) {
  auto bad = [](const std::string& option, const std::string& rule) {
    throw Error(option + " must be " + rule, ErrorKind::kBadInput, option);
  };
  if (!(o.step_seconds >= 0.1 && o.step_seconds <= 10)) bad("step_seconds", "0.1 to 10");
  if (!(o.max_buffer_seconds >= 2 && o.max_buffer_seconds <= 30))
    bad("max_buffer_seconds", "2 to 30 (one Whisper window)");
  if (!(o.trim_seconds >= o.step_seconds && o.trim_seconds <= o.max_buffer_seconds))
    bad("trim_seconds", "from step_seconds to max_buffer_seconds");
  if (o.prompt_characters > 4096) bad("prompt_characters", "at most 4096");
}

// The last `n` bytes of text at most, from a word's start (a space) and never
// inside a UTF-8 character.
std::string tail(const std::string& text, size_t n) {
  if (text.size() <= n) return text;
  size_t from = text.size() - n;
  const size_t space = text.find(' ', from);
  if (space != std::string::npos) return text.substr(space);
  while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) ++from;
  return text.substr(from);
}

}  // namespace

struct StreamingSession::State {
  State(std::shared_ptr<const Model> model, int threads, const StreamingOptions& o,
        StreamingCallbacks cb)
      : session(model, threads), options(o), callbacks(std::move(cb)) {
    check(o);
    options.transcribe.word_timestamps = true;
    options.transcribe.condition_on_previous_text = false;
    language = options.transcribe.language == "auto" ? "" : options.transcribe.language;
    TranscribeOptions probe = options.transcribe;
    probe.language = language;
    model->check(probe);
    step = samples(options.step_seconds);
    next_step = step;
  }

  // One hypothesis of the buffer up to stream sample `end`.
  void hypothesize(int64_t end) {
    hypothesized = end;
    TranscribeOptions t = options.transcribe;
    t.language = language;
    t.initial_prompt = tail(before_buffer, options.prompt_characters);
    const std::vector<float> audio(buffer.begin(), buffer.begin() + (end - buffer_start));
    const Transcription r = session.transcribe(audio, t);
    const double offset = seconds(buffer_start);
    std::vector<Word> words;
    segment_ends.clear();
    for (const Segment& s : r.segments) {
      for (Word w : s.words) {
        w.start += offset;
        w.end += offset;
        words.push_back(std::move(w));
      }
      segment_ends.push_back(s.end + offset);
    }
    if (language.empty() && !words.empty()) language = r.info.language;
    if (seconds(end - buffer_start) <= kMinCommitSeconds && !finished)
      agreement.propose(words);
    else
      report(agreement.insert(words));
    if (callbacks.on_partial) {
      std::string text;
      for (const Word& w : agreement.tentative()) text += w.word;
      callbacks.on_partial(text);
    }
    trim(end);
  }

  void report(const std::vector<Word>& words) {
    committed.insert(committed.end(), words.begin(), words.end());
    if (!words.empty() && callbacks.on_commit) callbacks.on_commit(words);
  }

  // Keeps the buffer short: past trim_seconds it starts again at the last
  // segment end that is committed; past max_buffer_seconds whatever is
  // tentative is committed and the buffer starts after it.
  void trim(int64_t end) {
    const double length = seconds(end - buffer_start);
    double cut = 0;
    if (length > options.trim_seconds)
      for (double e : segment_ends)
        if (e <= agreement.committed_end() + 1e-9 && e > seconds(buffer_start)) cut = e;
    if (cut == 0 && length > options.max_buffer_seconds) {
      report(agreement.commit_all());
      cut = std::max(agreement.committed_end(), seconds(end) - options.step_seconds);
    }
    if (cut == 0) return;
    const int64_t to = std::min(end, std::max(buffer_start, samples(cut)));
    buffer.erase(buffer.begin(), buffer.begin() + (to - buffer_start));
    buffer_start = to;
    before_buffer.clear();
    for (const Word& w : committed)
      if (w.end <= seconds(buffer_start) + 1e-9) before_buffer += w.word;
  }

  Session session;
  StreamingOptions options;
  StreamingCallbacks callbacks;
  std::string language;
  int64_t step = 0, next_step = 0, received = 0, buffer_start = 0, hypothesized = 0;
  std::vector<float> buffer;  // stream samples [buffer_start, received)
  streaming::LocalAgreement agreement;
  std::vector<Word> committed;
  std::vector<double> segment_ends;  // of the last hypothesis
  std::string before_buffer;         // committed text before the buffer: the prompt
  bool finished = false;
};

StreamingSession::StreamingSession(std::shared_ptr<const Model> model, int threads,
                                   const StreamingOptions& options, StreamingCallbacks callbacks)
    : state_(std::make_unique<State>(std::move(model), threads, options, std::move(callbacks))) {}
StreamingSession::~StreamingSession() = default;

void StreamingSession::push(const float* samples, size_t count) {
  State& s = *state_;
  if (s.finished) throw Error("push() after finish()", ErrorKind::kBadInput);
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(samples[i]))
      throw Error("sample " + std::to_string(s.received + int64_t(i)) + " is not finite",
                  ErrorKind::kBadInput);
  s.buffer.insert(s.buffer.end(), samples, samples + count);
  s.received += int64_t(count);
  while (s.received >= s.next_step) {  // at fixed sample counts, whatever the pushes
    s.hypothesize(s.next_step);
    s.next_step += s.step;
  }
}

void StreamingSession::finish() {
  State& s = *state_;
  if (s.finished) return;
  s.finished = true;
  if (s.received > s.hypothesized && s.received > s.buffer_start) s.hypothesize(s.received);
  s.report(s.agreement.commit_all());
  if (s.callbacks.on_partial) s.callbacks.on_partial("");
}

const std::string& StreamingSession::committed_text() const {
  return state_->agreement.committed_text();
}
double StreamingSession::received_seconds() const { return seconds(state_->received); }
double StreamingSession::hypothesized_seconds() const { return seconds(state_->hypothesized); }
const std::string& StreamingSession::language() const { return state_->language; }

}  // namespace amanuensis
