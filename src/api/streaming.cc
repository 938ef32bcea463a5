// StreamingSession: LocalAgreement-2 over Session::transcribe of a growing
// buffer (src/streaming/local_agreement.h holds the policy).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "amanuensis/amanuensis.h"
#include "api/model_vad.h"
#include "streaming/local_agreement.h"
#include "transcribe/options.h"
#include "util/whisper_geometry.h"

namespace amanuensis {
namespace {

// Whisper reads a second or two of speech with little context, and two such
// readings can agree on a wrong one: a buffer this short, without text
// before it (no prompt), only proposes.
constexpr double kMinCommittingBufferSeconds = 2.0;

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
  if (!std::isnan(o.text_end_margin_seconds) &&
      !(o.text_end_margin_seconds >= 0 && o.text_end_margin_seconds <= 30))
    bad("text_end_margin_seconds", "0 to 30, or NaN (off)");
  if (o.prompt_characters > 4096) bad("prompt_characters", "at most 4096");
  const TurnDetection& t = o.turn_detection;
  if (!(t.threshold > 0 && t.threshold < 1)) bad("turn_detection.threshold", "between 0 and 1");
  if (!(t.prefix_padding_seconds >= 0 && t.prefix_padding_seconds <= 5))
    bad("turn_detection.prefix_padding_seconds", "0 to 5");
  if (!(t.silence_seconds >= 0.1 && t.silence_seconds <= 30))
    bad("turn_detection.silence_seconds", "0.1 to 30");
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
  State(std::shared_ptr<const Model> model, std::unique_ptr<Session> s, const StreamingOptions& o,
        StreamingCallbacks cb)
      : session(std::move(s)), options(o), callbacks(std::move(cb)) {
    check(o);
    options.transcribe.word_timestamps = true;
    options.transcribe.condition_on_previous_text = false;
    language = requested_language(options.transcribe);
    TranscribeOptions probe = options.transcribe;
    probe.language = language;
    model->check(probe);
    step = samples(options.step_seconds);
    before_buffer = options.transcribe.initial_prompt;  // the text before the stream
    move_before_buffer(0);                              // ...as much of it as a prompt uses
    if (options.turn_detection.enabled) {
      vad = model_vad(*model);
      if (!vad)
        throw Error("turn detection needs the VAD's weights (ModelOptions::vad_model)",
                    ErrorKind::kBadInput, "turn_detection");
      const TurnDetection& t = options.turn_detection;
      silence_chunks = std::max<int64_t>(1, samples(t.silence_seconds) / vad::kChunk);
      prefix = samples(t.prefix_padding_seconds);
    }
  }

  // The samples [from, from + count) of the stream join the current turn
  // (which starts at `from` if there is none); hypotheses run at every step
  // since the turn's start.
  void extend_turn(int64_t from, const float* x, size_t count) {
    if (!in_turn) {
      in_turn = true;
      buffer.clear();
      buffer_start = turn_start = hypothesized = from;
      next_step = from + step;
      agreement.new_turn();
    }
    buffer.insert(buffer.end(), x, x + count);
    const int64_t end = buffer_start + int64_t(buffer.size());
    for (; end >= next_step; next_step += step) {
      // A late push leaves a step to catch_up() while the buffer at the step
      // after it is no longer than max_buffer_seconds (a longer one is more
      // than one hypothesis may hold).
      if (deferring && next_step + step - buffer_start <= samples(options.max_buffer_seconds))
        skipped = next_step;
      else
        hypothesize(next_step, false);
    }
  }

  // After a late push: the hypothesis of the last step it skipped.
  void catch_up() {
    if (in_turn && skipped > hypothesized) hypothesize(skipped, false);
  }

  // Live audio through the VAD, 512 samples at a time: speech starts a turn
  // (with the prefix before it), silence long enough ends it.
  void detect(const float* x, size_t count) {
    pending.insert(pending.end(), x, x + count);
    size_t used = 0;
    for (; pending.size() - used >= size_t(vad::kChunk); used += vad::kChunk) {
      const float* chunk = &pending[used];
      const int64_t at = vad_samples;
      vad_samples += vad::kChunk;
      const float p = vad->next(chunk, vad_stream);
      const TurnDetection& t = options.turn_detection;
      if (!in_turn && p >= t.threshold) {
        const int64_t from = std::max({at - prefix, history_start, turn_floor});
        if (callbacks.on_speech_started) callbacks.on_speech_started(seconds(from));
        extend_turn(from, &history[size_t(from - history_start)], size_t(at - from));
        quiet = 0;
      }
      if (in_turn) {
        extend_turn(at, chunk, vad::kChunk);
        quiet = p < t.threshold - 0.15f ? quiet + 1 : 0;
        if (quiet >= silence_chunks) end(vad_samples - quiet * vad::kChunk);
        history.clear();  // a turn's audio is no later turn's prefix
        history_start = vad_samples;
      } else {  // kept for the next turn's prefix
        history.insert(history.end(), chunk, chunk + vad::kChunk);
        const int64_t drop = int64_t(history.size()) - prefix;
        if (drop > 0) {
          history.erase(history.begin(), history.begin() + drop);
          history_start += drop;
        }
      }
    }
    pending.erase(pending.begin(), pending.begin() + long(used));
  }

  // The turn ends: the rest of its audio is transcribed, everything committed.
  void end(int64_t speech_end) {
    const int64_t last = buffer_start + int64_t(buffer.size());
    if (last > hypothesized) hypothesize(last, true);
    report(agreement.commit_all());
    if (callbacks.on_partial) callbacks.on_partial("");
    in_turn = false;
    turn_floor = last;
    move_before_buffer(last);
    buffer.clear();
    if (callbacks.on_turn_end) callbacks.on_turn_end(seconds(speech_end));
  }

  // One hypothesis of the buffer up to stream sample `end`; a turn's last
  // may commit whatever its length.
  void hypothesize(int64_t end, bool last) {
    hypothesized = end;
    TranscribeOptions t = options.transcribe;
    t.language = language;
    t.initial_prompt = tail(before_buffer, options.prompt_characters);
    // The last hypothesis's tokens: this one mostly restates them, and
    // greedy search checks runs of them in one step (same result, sooner).
    t.draft_tokens = draft;
    const std::vector<float> audio(buffer.begin(), buffer.begin() + (end - buffer_start));
    // One window, but for a turn's last hypothesis, whose text may not end
    // more than text_end_margin_seconds before the buffer. When Whisper ends its
    // text a few seconds before the buffer does, the long-form loop would
    // encode a second window for the rest: 14-17 % of the long development
    // file's hypotheses, each 1.3-1.6 s instead of 0.6-1.0 s on Zen 3, which
    // left the stream behind. The next hypothesis hears that rest anyway.
    bool one_window_done = false;
    Callbacks cb;
    if (!last) {
      t.min_text_end = float(seconds(end - buffer_start) - options.text_end_margin_seconds);
      if (!(t.min_text_end > 0)) t.min_text_end = NAN;
      cb.on_progress = [&](double, double) { one_window_done = true; };
      cb.should_abort = [&] { return one_window_done; };
    }
    Transcription r = session->transcribe(audio, t, cb);
    // A hypothesis in a loop is never committed. Two in a row often loop
    // alike, so LocalAgreement alone would commit the loop, and committed
    // text is the next prompt, which keeps it going (the long development
    // file at a 0.5 s step committed 5,572 words, "a book that is" over and
    // over, for 567 spoken). The prompt was the trigger there: the hypothesis
    // runs again without it (our rule; Whisper keeps the prompt through its
    // fallback); if that loops too, it is dropped and the next step tries
    // again, trimming by the last kept hypothesis's segments.
    if (loops(r) && !t.initial_prompt.empty()) {
      t.initial_prompt.clear();
      one_window_done = false;
      r = session->transcribe(audio, t, cb);
    }
    if (loops(r)) {
      if (!last) trim(end);
      return;
    }
    const double offset = seconds(buffer_start);
    std::vector<Word> words;
    segment_ends.clear();
    draft.clear();
    for (const Segment& s : r.segments) {
      draft.insert(draft.end(), s.tokens.begin(), s.tokens.end());
      for (Word w : s.words) {
        w.start += offset;
        w.end += offset;
        words.push_back(std::move(w));
      }
      segment_ends.push_back(s.end + offset);
    }
    if (language.empty() && !words.empty()) language = r.info.language;
    if (seconds(end - buffer_start) <= kMinCommittingBufferSeconds && !last &&
        t.initial_prompt.empty())
      agreement.propose(words);
    else
      report(agreement.insert(words));
    if (callbacks.on_partial) {
      std::string text;
      for (const Word& w : agreement.tentative()) text += w.word;
      callbacks.on_partial(text);
    }
    if (!last) trim(end);
  }

  // A window stuck repeating itself: its decoding stopped on a loop
  // (stop_loops_after; the loop itself is usually in no segment), or
  // Whisper's test, text that compresses too well (every segment of a window
  // carries the window's ratio).
  bool loops(const Transcription& r) const {
    if (r.info.windows_ended_in_loop > 0) return true;
    const float threshold = options.transcribe.compression_ratio_threshold;
    if (!(threshold > 0)) return false;
    for (const Segment& s : r.segments)
      if (s.compression_ratio > threshold) return true;
    return false;
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
    move_before_buffer(to);
  }

  // The committed words that end before stream sample `to` become prompt
  // text; of it only the tail the prompt can use is kept (one byte more, so
  // that tail() cuts it where it would cut the whole).
  void move_before_buffer(int64_t to) {
    size_t n = 0;
    while (n < committed.size() && committed[n].end <= seconds(to) + 1e-9)
      before_buffer += committed[n++].word;
    committed.erase(committed.begin(), committed.begin() + long(n));
    if (before_buffer.size() > options.prompt_characters + 1)
      before_buffer.erase(0, before_buffer.size() - options.prompt_characters - 1);
  }

  // The samples through the VAD or into the turn; `late`: one hypothesis at
  // the push's end (StreamingSession::catch_up).
  void push(const float* samples, size_t count, bool late) {
    if (finished) throw Error("push() after finish()", ErrorKind::kBadInput);
    for (size_t i = 0; i < count; ++i)
      if (!std::isfinite(samples[i]))
        throw Error("sample " + std::to_string(received + int64_t(i)) + " is not finite",
                    ErrorKind::kBadInput);
    const int64_t at = received;
    received += int64_t(count);
    deferring = late;
    if (vad)
      detect(samples, count);
    else if (count > 0)
      extend_turn(at, samples, count);
    deferring = false;
    if (late) catch_up();
  }

  std::unique_ptr<Session> session;
  StreamingOptions options;
  StreamingCallbacks callbacks;
  std::string language;
  int64_t step = 0, next_step = 0, received = 0, hypothesized = 0;
  bool deferring = false;  // within a late push
  int64_t skipped = 0;     // the last step it left without a hypothesis
  // The current turn: stream samples [turn_start, ...); the buffer holds
  // [buffer_start, buffer_start + buffer.size()).
  bool in_turn = false;
  int64_t turn_start = 0, buffer_start = 0;
  int64_t turn_floor = 0;  // where the last turn ended: the next starts no earlier
  std::vector<float> buffer;
  streaming::LocalAgreement agreement;
  std::vector<Word> committed;       // committed, not yet before the buffer
  std::vector<double> segment_ends;  // of the last hypothesis
  std::vector<int> draft;            // its tokens
  std::string before_buffer;         // the tail of committed text before the buffer: the prompt
  bool finished = false;
  // Turn detection (null vad: off).
  const vad::SileroVad* vad = nullptr;
  vad::SileroVad::Stream vad_stream;
  int64_t silence_chunks = 0, prefix = 0, quiet = 0;  // quiet: chunks of silence in a row
  int64_t vad_samples = 0;                            // samples the VAD has seen
  std::vector<float> pending;                         // received, not yet a whole VAD chunk
  std::vector<float> history;                         // the audio before a turn, for its prefix
  int64_t history_start = 0;
};

StreamingSession::StreamingSession(std::shared_ptr<const Model> model, int threads,
                                   const StreamingOptions& options, StreamingCallbacks callbacks)
    : state_(std::make_unique<State>(model, std::make_unique<Session>(model, threads), options,
                                     std::move(callbacks))) {}
StreamingSession::StreamingSession(std::shared_ptr<SessionGroup> group, int threads,
                                   const StreamingOptions& options, StreamingCallbacks callbacks)
    : state_(std::make_unique<State>(group ? group->model() : nullptr,
                                     std::make_unique<Session>(group, threads), options,
                                     std::move(callbacks))) {}
StreamingSession::~StreamingSession() = default;

void StreamingSession::push(const float* samples, size_t count) {
  state_->push(samples, count, false);
}

void StreamingSession::catch_up(const float* samples, size_t count) {
  state_->push(samples, count, true);
}

bool StreamingSession::end_turn() {
  State& s = *state_;
  if (s.vad && s.in_turn && !s.pending.empty()) {  // the VAD's partial chunk belongs to the turn
    s.extend_turn(s.vad_samples, s.pending.data(), s.pending.size());
    s.vad_samples += int64_t(s.pending.size());
    s.pending.clear();
  }
  if (!s.in_turn || s.buffer.empty()) return false;
  s.end(s.buffer_start + int64_t(s.buffer.size()));
  return true;
}

void StreamingSession::clear() {
  State& s = *state_;
  if (!s.in_turn) return;
  s.agreement.propose({});
  s.in_turn = false;
  s.turn_floor = s.buffer_start + int64_t(s.buffer.size());
  s.move_before_buffer(s.turn_floor);
  s.buffer.clear();
  s.quiet = 0;
  if (s.callbacks.on_partial) s.callbacks.on_partial("");
}

double StreamingSession::turn_seconds() const {
  const State& s = *state_;
  return s.in_turn ? seconds(s.buffer_start + int64_t(s.buffer.size()) - s.turn_start) : 0.0;
}

void StreamingSession::finish() {
  State& s = *state_;
  if (s.finished) return;
  end_turn();
  s.finished = true;
}

const std::string& StreamingSession::committed_text() const {
  return state_->agreement.committed_text();
}
double StreamingSession::received_seconds() const { return seconds(state_->received); }
double StreamingSession::hypothesized_seconds() const { return seconds(state_->hypothesized); }
const std::string& StreamingSession::language() const { return state_->language; }

}  // namespace amanuensis
