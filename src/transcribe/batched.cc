#include "transcribe/batched.h"

#include <algorithm>
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

// One chunk as a window: its decoder state (cross-attention K/V from its
// encoding), the attempts of its temperature ladder, the one kept.
struct ChunkWindow {
  AudioChunk chunk;
  int64_t frames = 0;  // content frames
  DecoderState state;
  std::unique_ptr<decoding::Search> search;
  std::vector<Attempt> attempts;
  Attempt chosen;
  bool decided = false;
  int64_t seek() const { return chunk.start / kHop; }  // on the original timeline
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
      std::vector<ChunkWindow> group(end - first);
      for (size_t i = 0; i < group.size(); ++i) encode(group[i], chunks[first + i]);
      if (first == 0) start();
      decode(group);
      for (ChunkWindow& w : group) emit(w);
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

  // Features and encoding of one chunk, into its decoder state.
  void encode(ChunkWindow& w, const AudioChunk& chunk) {
    w.chunk = chunk;
    const std::vector<float> audio(samples_.begin() + chunk.start, samples_.begin() + chunk.end);
    w.frames = int64_t(audio.size()) / kHop;
    const audio::LogMel mel =
        audio::log_mel_spectrogram(audio, ctx_.encoder.weights().n_mels, w.frames, &ctx_.pool);
    const UninitVector<float> encoded =
        ctx_.encoder.encode(audio::window_features(mel, 0, w.frames).data(), ctx_.pool);
    ctx_.decoder.begin(w.state, encoded.data(), ctx_.encoder.weights().n_ctx, search_rows(o_),
                       ctx_.pool);
    if (out_.info.language.empty()) {  // detected on the first chunk
      DetectedLanguage d =
          rank_languages(decoding::language_probabilities(ctx_.decoder, w.state, sp_, ctx_.pool));
      out_.info.language = d.code;
      out_.info.language_probability = d.probability;
      out_.info.language_probabilities = std::move(d.ranked);
    }
  }

  // Once the language is known: the rules and the one prompt of every chunk
  // (the initial prompt as its previous text, the prefix, the hotwords).
  void start() {
    sot_ = sot_sequence(sp_, out_.info.language, o_.task);
    rules_ = logit_rules(ctx_.tokenizer, o_);
    const int n_ctx = ctx_.decoder.n_ctx();
    const PromptText text = prompt_text(ctx_.tokenizer, o_, n_ctx);
    prompt_ = window_prompt(text, text.initial, sot_, sp_, o_.without_timestamps, 0, n_ctx);
  }

  // Stage: every chunk of the group up the temperature ladder, one
  // temperature a round, the chunks that still need a hotter one batched again.
  void decode(std::vector<ChunkWindow>& group) {
    auto text = [&](const std::vector<int>& tokens) { return trim(ctx_.tokenizer.decode(tokens)); };
    for (size_t attempt = 0; attempt < o_.temperatures.size(); ++attempt) {
      const float temperature = o_.temperatures[attempt];
      std::vector<decoding::Search*> live;
      for (ChunkWindow& w : group) {
        if (w.decided) continue;
        const decoding::SearchOptions so = attempt_options(
            o_, prompt_.tokens.size(), ctx_.decoder.n_ctx(), w.seek(), temperature, int(attempt));
        ctx_.decoder.restart(w.state, search_rows(o_));
        w.search = std::make_unique<decoding::Search>(ctx_.decoder, w.state, rules_, prompt_.tokens,
                                                      prompt_.sot_index, so);
        live.push_back(w.search.get());
      }
      if (live.empty()) return;
      decoding::run_searches(ctx_.decoder, live, ctx_.pool);
      for (ChunkWindow& w : group) {
        if (w.decided) continue;
        Attempt a;
        a.result = w.search->result();
        a.temperature = temperature;
        a.compression_ratio = compression_ratio(text(a.result.tokens));
        if (!needs_fallback(a, o_)) {
          w.chosen = std::move(a);
          w.decided = true;
        } else {
          w.attempts.push_back(std::move(a));
        }
      }
    }
    for (ChunkWindow& w : group)
      if (!w.decided) w.chosen = best_of_failed(w.attempts, o_);
  }

  // Stage: a chunk's segments (and words) on the original timeline.
  void emit(ChunkWindow& w) {
    if (no_speech(w.chosen.result, o_)) return;
    WindowCut cut = split_segments(w.chosen.result.tokens, sp_.timestamp_begin, 0, w.frames);
    if (o_.word_timestamps) {
      std::vector<int> text;
      for (const WindowSegment& s : cut.segments)
        for (int t : s.tokens)
          if (t < sp_.eot) text.push_back(t);
      add_word_timestamps(
          cut.segments,
          find_alignment(ctx_.decoder, w.state, ctx_.pool, ctx_.tokenizer, ctx_.alignment_heads,
                         sot_, out_.info.language, text, int(w.frames)),
          sp_.eot, 0.0, o_, 0.0);
    }
    const double offset = double(w.seek()) * kFrameSeconds;
    for (Segment& s : finish_segments(std::move(cut.segments), ctx_.tokenizer,
                                      double(w.frames) * kFrameSeconds, 0, w.chosen, last_id_)) {
      s.seek = int(w.seek());
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
