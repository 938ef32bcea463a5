#include "transcribe/batched.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "audio/mel.h"
#include "decoding/loops.h"
#include "decoding/search.h"
#include "transcribe/emit.h"
#include "transcribe/fallback.h"
#include "transcribe/language.h"
#include "transcribe/options.h"
#include "transcribe/prompt.h"
#include "transcribe/segments.h"
#include "transcribe/vad_stage.h"
#include "transcribe/word_timing.h"
#include "util/interrupt.h"
#include "util/whisper_geometry.h"
#include "vad/speech_timestamps.h"

namespace amanuensis {

std::vector<AudioChunk> merge_chunks(const std::vector<AudioChunk>& speech, int64_t max_samples) {
  std::vector<AudioChunk> out;
  for (AudioChunk c : speech) {
    c.start = c.start / kHop * kHop;
    if (!out.empty() && c.start < out.back().end)  // no audio twice
      c.start = (out.back().end + kHop - 1) / kHop * kHop;
    if (c.end <= c.start) continue;
    if (!out.empty() && c.end - out.back().start <= max_samples) {
      out.back().end = c.end;
      continue;
    }
    for (; c.end - c.start > max_samples; c.start += max_samples)
      out.push_back({c.start, c.start + max_samples});
    out.push_back(c);
  }
  return out;
}

namespace {

// A VAD chunk ends where its speech ends, and Whisper often closes its text
// a few seconds before that, leaving out the last words it heard (the long
// development file: 7 of 9 chunks, 1.2-3.6 s of speech each). Each such
// chunk then cost a follow-up window: a second 30 s encoder pass for a few
// seconds of audio. So in a VAD chunk the text may not end (eot) while its
// last timestamp is more than this before the last speech frame (Silero's),
// and no follow-up window is made for less speech than this. The margin is
// for the model's timestamps, which can sit a few tenths of a second before
// the speech ends.
constexpr double kSpeechEndMarginSeconds = 1.0;

// A 30 s window inside a chunk: the chunk's first, or the rest of it when
// the model ended its text early (as the sequential loop moves on to the
// last segment's end). Its decoder state, the attempts of its temperature
// ladder, the one kept, and what it heard.
struct ChunkWindow {
  size_t chunk = 0;         // index among every recording's chunks
  size_t source = 0;        // which recording
  int64_t chunk_frame = 0;  // the chunk's first frame on its recording's timeline
  int64_t seek = 0;         // frames into the chunk
  int64_t frames = 0;       // content frames from seek
  int64_t speech_end = 0;   // frames into the chunk where its speech ends (VAD chunks)
  bool first = false;       // its recording's first window
  decoding::LogitRules rules;  // the batch's, with eot held back until near speech_end
  DecoderState state;
  std::unique_ptr<decoding::Search> search;
  std::vector<Attempt> attempts;
  Attempt chosen;
  bool decided = false;
  std::vector<WindowSegment> segments;  // on the chunk's timeline
};

// One recording of the batch: its audio and callbacks, what it has heard so
// far, and its own language and prompt.
struct Source {
  const std::vector<float>* samples = nullptr;
  const Callbacks* callbacks = nullptr;
  std::vector<float> probabilities;  // Silero VAD's, when the options use it
  std::vector<int> sot;              // set with the language
  WindowPrompt first_prompt;         // of its first window: the prefix starts its text
  WindowPrompt prompt;               // of every other window
  Transcription out;
  int last_id = 0;
};

// A chunk of one recording.
struct SourceChunk {
  size_t source = 0;
  AudioChunk chunk;
};

class Batched {
 public:
  Batched(const TranscribeContext& ctx, const std::vector<const std::vector<float>*>& recordings,
          const TranscribeOptions& o, const std::vector<Callbacks>& callbacks)
      : ctx_(ctx), sp_(ctx.tokenizer.special()), o_(o), rules_(logit_rules(ctx.tokenizer, o)) {
    static const Callbacks kNone;
    for (size_t i = 0; i < recordings.size(); ++i) {
      Source s;
      s.samples = recordings[i];
      s.callbacks = callbacks.empty() ? &kNone : &callbacks[i];
      sources_.push_back(std::move(s));
    }
  }

  // Windows of many recordings share each step: it stops only when every
  // recording's Callbacks::interrupt says so (one recording, the usual
  // case: when its own does).
  bool all_interrupted() const {
    for (const Source& s : sources_)
      if (!s.callbacks->interrupt || !s.callbacks->interrupt()) return false;
    return true;
  }

  std::vector<Transcription> run() {
    for (size_t i = 0; i < sources_.size(); ++i) {
      Source& s = sources_[i];
      s.out.info.duration = double(s.samples->size()) / kSampleRate;
      const std::string language = requested_language(o_);
      s.out.info.language = language.empty() && !sp_.multilingual ? "en" : language;
      s.out.info.language_probability = language.empty() && sp_.multilingual ? 0.0f : 1.0f;
      int64_t heard = 0;
      for (const AudioChunk& c : cut(s)) {
        chunks_.push_back({i, c});
        heard += c.end - c.start;
      }
      s.out.info.duration_after_vad = double(heard) / kSampleRate;
    }
    progress_.resize(chunks_.size());
    // Rounds of up to batch_size windows: the windows that finish chunks
    // whose text ended early come first, then new chunks' first windows fill
    // the batch. Chunks are emitted in order as each is heard to its end.
    std::vector<std::unique_ptr<ChunkWindow>> follow_ups;
    size_t next_chunk = 0, next_emit = 0;
    while (next_emit < chunks_.size()) {
      stop_aborted(follow_ups);
      std::vector<std::unique_ptr<ChunkWindow>> round = std::move(follow_ups);
      follow_ups.clear();
      try {
        for (; round.size() < size_t(o_.batch_size) && next_chunk < chunks_.size(); ++next_chunk) {
          const SourceChunk& c = chunks_[next_chunk];
          if (sources_[c.source].out.aborted || silent_from(c, 0)) {
            progress_[next_chunk].done = true;
            continue;
          }
          progress_[next_chunk].mel = features(c);
          round.push_back(window(next_chunk, 0));
        }
        decode(round);
        for (std::unique_ptr<ChunkWindow>& w : round) {
          ChunkProgress& p = progress_[w->chunk];
          const int64_t seek = cut_window(*w);
          w->search.reset();
          w->state = DecoderState{};  // its K/V are no longer needed
          const size_t chunk = w->chunk;
          p.heard.push_back(std::move(*w));
          if (seek < p.mel->frames && !silent_from(chunks_[chunk], seek))
            follow_ups.push_back(window(chunk, seek));
          else
            p.done = true;
        }
      } catch (const Interrupted&) {
        // Every recording asked to stop: the chunks begun end with what they
        // have heard, the rest are skipped.
        for (Source& s : sources_) s.out.aborted = true;
        follow_ups.clear();
        for (size_t c = 0; c < std::min(next_chunk + 1, chunks_.size()); ++c)
          progress_[c].done = true;
      }
      for (; next_emit < next_chunk && progress_[next_emit].done; ++next_emit) finish(next_emit);
    }
    std::vector<Transcription> out;
    for (Source& s : sources_) {
      if (s.out.info.language.empty()) s.out.info.language = "en";  // nothing was heard
      out.push_back(std::move(s.out));
    }
    return out;
  }

 private:
  // A chunk from its first window to its emission.
  struct ChunkProgress {
    std::unique_ptr<audio::LogMel> mel;
    std::vector<ChunkWindow> heard;  // its windows, in order
    bool done = false;               // heard to its end (or its recording aborted)
  };

  // Before each round: a recording whose caller asks to stop takes no new
  // window; its chunks end with what they have heard.
  void stop_aborted(std::vector<std::unique_ptr<ChunkWindow>>& follow_ups) {
    for (Source& s : sources_)
      if (!s.out.aborted && s.callbacks->should_abort && s.callbacks->should_abort())
        s.out.aborted = true;
    std::erase_if(follow_ups, [&](const std::unique_ptr<ChunkWindow>& w) {
      if (!sources_[w->source].out.aborted) return false;
      progress_[w->chunk].done = true;
      return true;
    });
  }

  // Whether a chunk is digital silence from `seek` frames on: a window
  // there (which always reaches the chunk's end: chunks are at most 30 s)
  // is not decoded, as in the sequential mode.
  bool silent_from(const SourceChunk& c, int64_t seek) const {
    const float* samples = sources_[c.source].samples->data();
    const int64_t first = c.chunk.start + seek * kHop;
    return is_silent(samples + first, size_t(std::max<int64_t>(0, c.chunk.end - first)));
  }

  std::unique_ptr<audio::LogMel> features(const SourceChunk& c) {
    const std::vector<float>& samples = *sources_[c.source].samples;
    const std::vector<float> audio(samples.begin() + c.chunk.start, samples.begin() + c.chunk.end);
    return std::make_unique<audio::LogMel>(audio::log_mel_spectrogram(
        audio, ctx_.encoder.weights().n_mels, int64_t(audio.size()) / kHop, &ctx_.pool));
  }

  // A chunk heard to its end: its segments out, its features freed.
  void finish(size_t chunk) {
    ChunkProgress& p = progress_[chunk];
    for (ChunkWindow& w : p.heard) emit(w, chunks_[chunk].chunk);
    p.mel.reset();
    p.heard.clear();
    const Source& s = sources_[chunks_[chunk].source];
    if (s.callbacks->on_progress)
      s.callbacks->on_progress(double(chunks_[chunk].chunk.end) / kSampleRate, s.out.info.duration);
  }

  // A recording's chunks: Silero VAD's speech merged up to 30 s, or 30 s windows.
  std::vector<AudioChunk> cut(Source& s) {
    const int64_t n = int64_t(s.samples->size());
    if (uses_vad(o_)) s.probabilities = ctx_.vad->probabilities(*s.samples, ctx_.pool);
    std::vector<AudioChunk> stretches;
    if (o_.vad_filter) {
      VadOptions v = o_.vad;
      v.max_speech_duration_s = std::min(v.max_speech_duration_s, float(kChunkSeconds));
      for (const vad::SpeechChunk& c : vad::speech_timestamps(s.probabilities, n, v))
        stretches.push_back({c.start, c.end});
    } else {
      stretches.push_back({0, n});
    }
    std::vector<AudioChunk> chunks;
    for (const AudioChunk& c : merge_chunks(stretches, kChunkSamples))
      if ((c.end - c.start) / kHop > 0) chunks.push_back(c);  // under 10 ms: nothing to hear
    return chunks;
  }

  // The window at `seek` frames into a chunk: features, encoding, decoder
  // state; the recording's language and prompt on its first window.
  std::unique_ptr<ChunkWindow> window(size_t index, int64_t seek) {
    const SourceChunk& chunk = chunks_[index];
    const audio::LogMel& mel = *progress_[index].mel;
    auto w = std::make_unique<ChunkWindow>();
    w->chunk = index;
    w->source = chunk.source;
    w->chunk_frame = chunk.chunk.start / kHop;
    w->seek = seek;
    w->first = seek == 0 && (index == 0 || chunks_[index - 1].source != chunk.source);
    w->frames = std::min<int64_t>(kChunkFrames, mel.frames - seek);
    Source& s = sources_[chunk.source];
    w->rules = rules_;
    if (o_.vad_filter) {
      w->speech_end = (vad::speech_end(s.probabilities, chunk.chunk.start + seek * kHop,
                                       chunk.chunk.end, o_.vad.threshold) -
                       chunk.chunk.start) /
                      kHop;
      const double until = double(w->speech_end - seek) * kFrameSeconds - kSpeechEndMarginSeconds;
      if (until > 0) w->rules.eot_from_timestamp_index = int(until / kTimestampSeconds);
    }
    const UninitVector<float> encoded =
        ctx_.encoder.encode(audio::window_features(mel, seek, w->frames).data(), ctx_.pool, nullptr,
                            nullptr, interrupt_);
    ctx_.decoder.begin(w->state, encoded.data(), ctx_.encoder.weights().n_ctx, search_rows(o_),
                       ctx_.pool);
    if (s.out.info.language.empty()) {  // detected on the recording's first window
      DetectedLanguage d =
          rank_languages(decoding::language_probabilities(ctx_.decoder, w->state, sp_, ctx_.pool));
      s.out.info.language = d.code;
      s.out.info.language_probability = d.probability;
      s.out.info.language_probabilities = std::move(d.ranked);
    }
    if (s.sot.empty()) {
      // Every window's prompt: the initial prompt as its previous text, the
      // hotwords, the sot sequence; the first window's as the sequential
      // mode's (the prefix forced, without the hotwords), the others' as a
      // later window's.
      s.sot = sot_sequence(sp_, s.out.info.language, o_.task);
      const int n_ctx = ctx_.decoder.n_ctx();
      const PromptText text = prompt_text(ctx_.tokenizer, o_, n_ctx);
      s.first_prompt =
          window_prompt(text, text.initial, s.sot, sp_, o_.without_timestamps, 0, n_ctx);
      s.prompt =
          window_prompt(text, text.initial, s.sot, sp_, o_.without_timestamps, kChunkFrames, n_ctx);
      if (s.callbacks->on_info) s.callbacks->on_info(s.out.info);
    }
    return w;
  }

  // Stage: every window of the round up the temperature ladder, one
  // temperature at a time, the windows that still need a hotter one
  // batched again.
  void decode(std::vector<std::unique_ptr<ChunkWindow>>& windows) {
    auto text = [&](const std::vector<int>& tokens) { return trim(ctx_.tokenizer.decode(tokens)); };
    for (size_t attempt = 0; attempt < o_.temperatures.size(); ++attempt) {
      const float temperature = o_.temperatures[attempt];
      std::vector<decoding::Search*> live;
      for (std::unique_ptr<ChunkWindow>& w : windows) {
        if (w->decided) continue;
        const Source& s = sources_[w->source];
        const WindowPrompt& prompt = w->first ? s.first_prompt : s.prompt;
        const decoding::SearchOptions so = attempt_options(
            o_, prompt, ctx_.decoder.n_ctx(), w->chunk_frame + w->seek, temperature, int(attempt));
        ctx_.decoder.restart(w->state, search_rows(o_));
        w->search = std::make_unique<decoding::Search>(ctx_.decoder, w->state, w->rules,
                                                       prompt.tokens, prompt.sot_index, so);
        live.push_back(w->search.get());
      }
      if (live.empty()) return;
      decoding::run_searches(ctx_.decoder, live, ctx_.pool, interrupt_, ctx_.batcher);
      for (std::unique_ptr<ChunkWindow>& w : windows) {
        if (w->decided) continue;
        Attempt a;
        a.result = w->search->result();
        a.temperature = temperature;
        a.compression_ratio = compression_ratio(text(a.result.tokens));
        if (!needs_fallback(a, o_)) {
          w->chosen = std::move(a);
          w->decided = true;
        } else {
          w->attempts.push_back(std::move(a));
        }
      }
    }
    for (std::unique_ptr<ChunkWindow>& w : windows)
      if (!w->decided) w->chosen = best_of_failed(w->attempts, o_);
  }

  // Stage: a window's segments and words; returns where in the chunk the
  // next window starts: the sequential loop's rule, but in a VAD chunk its
  // end when less than kSpeechEndMarginSeconds of speech would be left, and
  // then an unfinished last segment is kept rather than heard again.
  int64_t cut_window(ChunkWindow& w) {
    const int64_t end = w.seek + w.frames;
    if (decoding::ends_in_loop(w.chosen.result.tokens, o_.stop_loops_after))
      ++sources_[w.source].out.info.windows_ended_in_loop;
    if (no_speech(w.chosen.result, o_)) return end;
    auto little_left = [&](int64_t at) {
      return o_.vad_filter && double(w.speech_end - at) * kFrameSeconds < kSpeechEndMarginSeconds;
    };
    const std::vector<int>& tokens = w.chosen.result.tokens;
    const std::vector<float>& logprobs = w.chosen.result.token_logprobs;
    WindowCut cut = split_segments(tokens, logprobs, sp_.timestamp_begin, w.seek, w.frames);
    if (cut.next_seek < end && little_left(cut.next_seek))
      cut = split_segments(tokens, logprobs, sp_.timestamp_begin, w.seek, w.frames, true);
    if (o_.word_timestamps) {
      const Source& s = sources_[w.source];
      const double time_offset = double(w.seek) * kFrameSeconds;
      std::vector<int> text;
      for (const WindowSegment& seg : cut.segments)
        for (int t : seg.tokens)
          if (t < sp_.eot) text.push_back(t);
      add_word_timestamps(
          cut.segments,
          find_alignment(ctx_.decoder, w.state, ctx_.pool, ctx_.tokenizer, ctx_.alignment_heads,
                         s.sot, s.out.info.language, text, int(w.frames)),
          sp_.eot, time_offset, o_, time_offset);
      const double last_word_end = last_end(cut.segments);
      if (!cut.single_timestamp_ending && last_word_end > time_offset)
        cut.next_seek = int64_t(std::nearbyint(last_word_end * kFramesPerSecond));
    }
    w.segments = std::move(cut.segments);
    if (cut.next_seek <= w.seek || little_left(cut.next_seek)) return end;  // never in place
    return cut.next_seek;
  }

  // Stage: a window's segments on its recording's timeline.
  void emit(ChunkWindow& w, const AudioChunk& chunk) {
    if (w.segments.empty()) return;
    Source& s = sources_[w.source];
    const double offset = double(w.chunk_frame) * kFrameSeconds;
    const double chunk_seconds = double(chunk.end - chunk.start) / kSampleRate;
    for (Segment& seg : finish_segments(std::move(w.segments), ctx_.tokenizer, chunk_seconds,
                                        w.seek, w.chosen, s.last_id)) {
      seg.seek += int(w.chunk_frame);
      seg.start += offset;
      seg.end += offset;
      for (Word& word : seg.words) {
        word.start += offset;
        word.end += offset;
      }
      if (o_.word_timestamps && o_.word_starts_at_speech)
        vad::start_words_at_speech(seg, s.probabilities);
      s.out.text += seg.text;
      if (s.callbacks->on_segment) s.callbacks->on_segment(seg);
      s.out.segments.push_back(std::move(seg));
    }
  }

  const TranscribeContext& ctx_;
  const text::SpecialTokens& sp_;
  const TranscribeOptions& o_;
  const decoding::LogitRules rules_;
  std::vector<Source> sources_;
  std::vector<SourceChunk> chunks_;      // every recording's, in order
  std::vector<ChunkProgress> progress_;  // one per chunk
  const Interrupt interrupt_{[this] { return all_interrupted(); }};
};

}  // namespace

std::vector<Transcription> transcribe_batched(
    const TranscribeContext& ctx, const std::vector<const std::vector<float>*>& recordings,
    const TranscribeOptions& o, const std::vector<Callbacks>& callbacks) {
  return Batched(ctx, recordings, o, callbacks).run();
}

}  // namespace amanuensis
