#include "transcribe/batched.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "audio/mel.h"
#include "decoding/search.h"
#include "transcribe/emit.h"
#include "transcribe/fallback.h"
#include "transcribe/language.h"
#include "transcribe/options.h"
#include "transcribe/prompt.h"
#include "transcribe/segments.h"
#include "transcribe/vad_stage.h"
#include "transcribe/word_timing.h"
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

// The last word's end, else the last segment's (faster-whisper's get_end);
// NaN without segments.
double last_end(const std::vector<WindowSegment>& segments) {
  for (auto s = segments.rbegin(); s != segments.rend(); ++s)
    if (!s->words.empty()) return s->words.back().end;
  return segments.empty() ? NAN : segments.back().end;
}

// A 30 s window inside a chunk: the chunk's first, or the rest of it when
// the model ended its text early (as the sequential loop moves on to the
// last segment's end). Its decoder state, the attempts of its temperature
// ladder, the one kept, and what it heard.
struct ChunkWindow {
  size_t chunk = 0;         // index in the group
  int64_t chunk_frame = 0;  // the chunk's first frame on the original timeline
  int64_t seek = 0;         // frames into the chunk
  int64_t frames = 0;       // content frames from seek
  DecoderState state;
  std::unique_ptr<decoding::Search> search;
  std::vector<Attempt> attempts;
  Attempt chosen;
  bool decided = false;
  std::vector<WindowSegment> segments;  // on the chunk's timeline
};

class Batched {
 public:
  Batched(const TranscribeContext& ctx, const std::vector<float>& samples,
          const TranscribeOptions& o, const Callbacks& cb)
      : ctx_(ctx), sp_(ctx.tokenizer.special()), samples_(samples), o_(o), cb_(cb) {}

  Transcription run() {
    out_.info.duration = double(samples_.size()) / kSampleRate;
    const std::string language = requested_language(o_);
    out_.info.language = language.empty() && !sp_.multilingual ? "en" : language;
    out_.info.language_probability = language.empty() && sp_.multilingual ? 0.0f : 1.0f;
    const std::vector<AudioChunk> chunks = cut();
    int64_t heard = 0;
    for (const AudioChunk& c : chunks) heard += c.end - c.start;
    out_.info.duration_after_vad = double(heard) / kSampleRate;
    for (size_t first = 0; first < chunks.size(); first += size_t(o_.batch_size)) {
      if (cb_.should_abort && cb_.should_abort()) {
        out_.aborted = true;
        break;
      }
      const size_t end = std::min(chunks.size(), first + size_t(o_.batch_size));
      transcribe_group({chunks.begin() + first, chunks.begin() + end});
      if (cb_.on_progress)
        cb_.on_progress(double(chunks[end - 1].end) / kSampleRate, out_.info.duration);
    }
    if (out_.info.language.empty()) out_.info.language = "en";  // nothing was heard
    return std::move(out_);
  }

 private:
  // The chunks: Silero VAD's speech merged up to 30 s, or 30 s windows.
  std::vector<AudioChunk> cut() {
    const int64_t n = int64_t(samples_.size());
    if (uses_vad(o_)) probabilities_ = ctx_.vad->probabilities(samples_, ctx_.pool);
    std::vector<AudioChunk> stretches;
    if (o_.vad_filter) {
      VadOptions v = o_.vad;
      v.max_speech_duration_s = std::min(v.max_speech_duration_s, float(kChunkSeconds));
      for (const vad::SpeechChunk& c : vad::speech_timestamps(probabilities_, n, v))
        stretches.push_back({c.start, c.end});
    } else {
      stretches.push_back({0, n});
    }
    std::vector<AudioChunk> chunks;
    for (const AudioChunk& c : merge_chunks(stretches, kChunkSamples))
      if ((c.end - c.start) / kHop > 0) chunks.push_back(c);  // under 10 ms: nothing to hear
    return chunks;
  }

  // A group of chunks: their first windows decoded together, then the rest
  // of the chunks whose text ended early, together, until every chunk is
  // heard to its end; then their segments, in order.
  void transcribe_group(const std::vector<AudioChunk>& chunks) {
    std::vector<audio::LogMel> mels;
    for (const AudioChunk& c : chunks) {
      const std::vector<float> audio(samples_.begin() + c.start, samples_.begin() + c.end);
      mels.push_back(audio::log_mel_spectrogram(audio, ctx_.encoder.weights().n_mels,
                                                int64_t(audio.size()) / kHop, &ctx_.pool));
    }
    std::vector<std::vector<ChunkWindow>> heard(chunks.size());  // each chunk's windows, in order
    std::vector<std::unique_ptr<ChunkWindow>> round;
    for (size_t i = 0; i < chunks.size(); ++i) round.push_back(window(mels[i], chunks[i], i, 0));
    while (!round.empty()) {
      if (!started_) start();
      decode(round);
      std::vector<std::unique_ptr<ChunkWindow>> next;
      for (std::unique_ptr<ChunkWindow>& w : round) {
        const int64_t seek = cut_window(*w);
        const int64_t chunk_frames = mels[w->chunk].frames;
        if (seek < chunk_frames)
          next.push_back(window(mels[w->chunk], chunks[w->chunk], w->chunk, seek));
        w->search.reset();
        w->state = DecoderState{};  // its K/V are no longer needed
        heard[w->chunk].push_back(std::move(*w));
      }
      round = std::move(next);
    }
    for (size_t i = 0; i < chunks.size(); ++i)
      for (ChunkWindow& w : heard[i]) emit(w, chunks[i]);
  }

  // The window at `seek` frames into a chunk: features, encoding, decoder state.
  std::unique_ptr<ChunkWindow> window(const audio::LogMel& mel, const AudioChunk& chunk,
                                      size_t index, int64_t seek) {
    auto w = std::make_unique<ChunkWindow>();
    w->chunk = index;
    w->chunk_frame = chunk.start / kHop;
    w->seek = seek;
    w->frames = std::min<int64_t>(kChunkFrames, mel.frames - seek);
    const UninitVector<float> encoded =
        ctx_.encoder.encode(audio::window_features(mel, seek, w->frames).data(), ctx_.pool);
    ctx_.decoder.begin(w->state, encoded.data(), ctx_.encoder.weights().n_ctx, search_rows(o_),
                       ctx_.pool);
    if (out_.info.language.empty()) {  // detected on the first window
      DetectedLanguage d =
          rank_languages(decoding::language_probabilities(ctx_.decoder, w->state, sp_, ctx_.pool));
      out_.info.language = d.code;
      out_.info.language_probability = d.probability;
      out_.info.language_probabilities = std::move(d.ranked);
    }
    return w;
  }

  // Once the language is known: the rules and the one prompt of every window
  // (the initial prompt as its previous text, the prefix, the hotwords).
  void start() {
    sot_ = sot_sequence(sp_, out_.info.language, o_.task);
    rules_ = logit_rules(ctx_.tokenizer, o_);
    const int n_ctx = ctx_.decoder.n_ctx();
    const PromptText text = prompt_text(ctx_.tokenizer, o_, n_ctx);
    prompt_ = window_prompt(text, text.initial, sot_, sp_, o_.without_timestamps, 0, n_ctx);
    started_ = true;
  }

  // Stage: every window of the round up the temperature ladder, one
  // temperature a step of the ladder, the windows that still need a hotter
  // one batched again.
  void decode(std::vector<std::unique_ptr<ChunkWindow>>& windows) {
    auto text = [&](const std::vector<int>& tokens) { return trim(ctx_.tokenizer.decode(tokens)); };
    for (size_t attempt = 0; attempt < o_.temperatures.size(); ++attempt) {
      const float temperature = o_.temperatures[attempt];
      std::vector<decoding::Search*> live;
      for (std::unique_ptr<ChunkWindow>& w : windows) {
        if (w->decided) continue;
        const decoding::SearchOptions so =
            attempt_options(o_, prompt_.tokens.size(), ctx_.decoder.n_ctx(),
                            w->chunk_frame + w->seek, temperature, int(attempt));
        ctx_.decoder.restart(w->state, search_rows(o_));
        w->search = std::make_unique<decoding::Search>(ctx_.decoder, w->state, rules_,
                                                       prompt_.tokens, prompt_.sot_index, so);
        live.push_back(w->search.get());
      }
      if (live.empty()) return;
      decoding::run_searches(ctx_.decoder, live, ctx_.pool);
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
  // next window starts (the sequential loop's rule).
  int64_t cut_window(ChunkWindow& w) {
    if (no_speech(w.chosen.result, o_)) return w.seek + w.frames;
    WindowCut cut = split_segments(w.chosen.result.tokens, sp_.timestamp_begin, w.seek, w.frames);
    if (o_.word_timestamps) {
      const double time_offset = double(w.seek) * kFrameSeconds;
      std::vector<int> text;
      for (const WindowSegment& s : cut.segments)
        for (int t : s.tokens)
          if (t < sp_.eot) text.push_back(t);
      add_word_timestamps(
          cut.segments,
          find_alignment(ctx_.decoder, w.state, ctx_.pool, ctx_.tokenizer, ctx_.alignment_heads,
                         sot_, out_.info.language, text, int(w.frames)),
          sp_.eot, time_offset, o_, time_offset);
      const double last_word_end = last_end(cut.segments);
      if (!cut.single_timestamp_ending && last_word_end > time_offset)
        cut.next_seek = int64_t(std::nearbyint(last_word_end * kFramesPerSecond));
    }
    w.segments = std::move(cut.segments);
    return cut.next_seek > w.seek ? cut.next_seek : w.seek + w.frames;  // never in place
  }

  // Stage: a window's segments on the original timeline.
  void emit(ChunkWindow& w, const AudioChunk& chunk) {
    if (w.segments.empty()) return;
    const double offset = double(w.chunk_frame) * kFrameSeconds;
    const double chunk_seconds = double(chunk.end - chunk.start) / kSampleRate;
    for (Segment& s : finish_segments(std::move(w.segments), ctx_.tokenizer, chunk_seconds, w.seek,
                                      w.chosen, last_id_)) {
      s.seek += int(w.chunk_frame);
      s.start += offset;
      s.end += offset;
      for (Word& word : s.words) {
        word.start += offset;
        word.end += offset;
      }
      if (o_.word_timestamps && o_.word_starts_at_speech)
        vad::start_words_at_speech(s, probabilities_);
      out_.text += s.text;
      if (cb_.on_segment) cb_.on_segment(s);
      out_.segments.push_back(std::move(s));
    }
  }

  const TranscribeContext& ctx_;
  const text::SpecialTokens& sp_;
  const std::vector<float>& samples_;
  const TranscribeOptions& o_;
  const Callbacks& cb_;
  std::vector<float> probabilities_;  // Silero VAD's, when the options use it
  bool started_ = false;
  std::vector<int> sot_;
  decoding::LogitRules rules_;
  WindowPrompt prompt_;
  Transcription out_;
  int last_id_ = 0;
};

}  // namespace

Transcription transcribe_batched(const TranscribeContext& ctx, const std::vector<float>& samples,
                                 const TranscribeOptions& o, const Callbacks& cb) {
  return Batched(ctx, samples, o, cb).run();
}

}  // namespace amanuensis
