#include "transcribe/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "audio/mel.h"
#include "decoding/loops.h"
#include "decoding/search.h"
#include "transcribe/batched.h"
#include "transcribe/emit.h"
#include "transcribe/fallback.h"
#include "transcribe/language.h"
#include "transcribe/options.h"
#include "transcribe/prompt.h"
#include "transcribe/segments.h"
#include "transcribe/vad_stage.h"
#include "transcribe/word_timing.h"
#include "util/interrupt.h"
#include "util/uninit_vector.h"
#include "util/whisper_geometry.h"

namespace amanuensis {
namespace {

// The encoder output of the current window, and the decoder's cross-attention
// K/V made from it: made once a window, whether the window is decoded once or
// detected, decoded and decoded again.
class WindowEncoding {
 public:
  WindowEncoding(const TranscribeContext& ctx, const audio::LogMel& mel, const Interrupt& interrupt)
      : ctx_(ctx), mel_(mel), interrupt_(interrupt) {}

  // The window of `frames` frames at `seek`, padded with zeros to 30 s as
  // faster-whisper pads a short one.
  void encode(int64_t seek, int64_t frames) {
    if (encoded_seek_ == seek) return;
    encoded_ = ctx_.encoder.encode(audio::window_features(mel_, seek, frames).data(), ctx_.pool,
                                   nullptr, nullptr, interrupt_);
    encoded_seek_ = seek;
  }

  void begin_decoder(int max_rows) {
    if (begun_seek_ == encoded_seek_) return ctx_.decoder.restart(ctx_.state, max_rows);
    ctx_.decoder.begin(ctx_.state, encoded_.data(), ctx_.encoder.weights().n_ctx, max_rows,
                       ctx_.pool);
    begun_seek_ = encoded_seek_;
  }

 private:
  const TranscribeContext& ctx_;
  const audio::LogMel& mel_;
  const Interrupt& interrupt_;
  UninitVector<float> encoded_;
  int64_t encoded_seek_ = -1, begun_seek_ = -1;
};

// One transcription's pass over its 30 s windows.
class LongForm {
 public:
  LongForm(const TranscribeContext& ctx, const std::vector<float>& samples,
           const TranscribeOptions& o, const Callbacks& cb)
      : ctx_(ctx),
        sp_(ctx.tokenizer.special()),
        samples_(samples),
        o_(o),
        cb_(cb),
        // faster-whisper's features: frames [0, n / 160] of the padded audio;
        // the last of them (mostly padding) is not content.
        content_frames_(int64_t(samples.size()) / kHop),
        mel_(audio::log_mel_spectrogram(samples, ctx.encoder.weights().n_mels, content_frames_,
                                        &ctx.pool)),
        interrupt_(cb.interrupt),
        window_(ctx, mel_, interrupt_) {}

  Transcription run() {
    out_.info.duration = double(samples_.size()) / kSampleRate;
    const std::string language = requested_language(o_);
    out_.info.language = language.empty() && !sp_.multilingual ? "en" : language;
    out_.info.language_probability = language.empty() && sp_.multilingual ? 0.0f : 1.0f;
    if (content_frames_ == 0) {  // under 10 ms: nothing to hear
      if (out_.info.language.empty()) out_.info.language = "en";
      return std::move(out_);
    }
    try {
      windows();
    } catch (const Interrupted&) {  // Callbacks::interrupt: what was finished stays
      out_.aborted = true;
    }
    return std::move(out_);
  }

 private:
  void windows() {
    if (out_.info.language.empty()) detect_language();
    out_.info.duration_after_vad = out_.info.duration;
    if (cb_.on_info) cb_.on_info(out_.info);
    sot_ = sot_sequence(sp_, out_.info.language, o_.task);
    rules_ = logit_rules(ctx_.tokenizer, o_);
    text_ = prompt_text(ctx_.tokenizer, o_, ctx_.decoder.n_ctx());
    all_tokens_ = text_.initial;

    int64_t seek = 0;
    while (seek < content_frames_) {
      if (cb_.should_abort && cb_.should_abort()) {
        out_.aborted = true;
        break;
      }
      seek = transcribe_window(seek);
    }
  }

  // Stage: language detection on the first window with sound, the first
  // one decoded (Whisper names a language for digital silence too: "cy").
  // Nothing but silence: "en", as the batched mode says, at probability 0.
  void detect_language() {
    int64_t seek = 0;
    while (seek < content_frames_ && silent_window(seek)) seek += kChunkFrames;
    if (seek >= content_frames_) {
      out_.info.language = "en";
      out_.info.language_probability = 0.0f;
      return;
    }
    window_.encode(seek, std::min<int64_t>(kChunkFrames, content_frames_ - seek));
    window_.begin_decoder(1);
    DetectedLanguage d = rank_languages(
        decoding::language_probabilities(ctx_.decoder, ctx_.state, sp_, ctx_.pool));
    out_.info.language = d.code;
    out_.info.language_probability = d.probability;
    out_.info.language_probabilities = std::move(d.ranked);
  }

  // Whether the window at `seek` is digital silence (not decoded).
  bool silent_window(int64_t seek) const {
    const int64_t frames = std::min<int64_t>(kChunkFrames, content_frames_ - seek);
    const int64_t first = seek * kHop;
    return is_silent(samples_.data() + first,
                     size_t(std::min<int64_t>(frames * kHop, int64_t(samples_.size()) - first)));
  }

  // The window at `seek`, through every stage; returns where the next starts.
  int64_t transcribe_window(int64_t seek) {
    const int64_t frames = std::min<int64_t>(kChunkFrames, content_frames_ - seek);
    if (silent_window(seek)) return progress(seek + frames);
    window_.encode(seek, frames);
    const std::vector<int> previous(all_tokens_.begin() + prompt_reset_since_, all_tokens_.end());
    const WindowPrompt prompt = window_prompt(text_, previous, sot_, sp_, o_.without_timestamps,
                                              seek, ctx_.decoder.n_ctx());
    const Attempt chosen = decode(seek, prompt);
    if (decoding::ends_in_loop(chosen.result.tokens, o_.stop_loops_after))
      ++out_.info.windows_ended_in_loop;
    if (no_speech(chosen.result, o_)) return progress(seek + frames);

    WindowCut cut = split_segments(chosen.result.tokens, chosen.result.token_logprobs,
                                   sp_.timestamp_begin, seek, frames);
    if (o_.word_timestamps && !time_words(cut, seek, frames)) return cut.next_seek;
    const int64_t next = cut.next_seek > seek ? cut.next_seek : seek + frames;  // never loop in place
    emit(std::move(cut.segments), seek, chosen);
    return progress(next);
  }

  // Stage: decode with temperature fallback.
  Attempt decode(int64_t seek, const WindowPrompt& prompt) {
    auto search = [&](float temperature, int attempt) {
      const decoding::SearchOptions so =
          attempt_options(o_, prompt, ctx_.decoder.n_ctx(), seek, temperature, attempt);
      window_.begin_decoder(search_rows(o_));
      decoding::LogitRules rules = rules_;
      // Never past the window's audio: the text could not reach it.
      const double until =
          std::min(
              double(o_.min_text_end),
              double(std::min<int64_t>(seek + kChunkFrames, content_frames_)) * kFrameSeconds) -
          double(seek) * kFrameSeconds;
      if (until > 0) rules.eot_from_timestamp_index = int(until / kTimestampSeconds);
      return decoding::search(ctx_.decoder, ctx_.state, rules, prompt.tokens, prompt.sot_index, so,
                              ctx_.pool, interrupt_, ctx_.batcher);
    };
    auto text = [&](const std::vector<int>& tokens) { return trim(ctx_.tokenizer.decode(tokens)); };
    return decode_with_fallback(o_, search, text);
  }

  // Stage: word timings, and the seek they imply; the hallucination skip.
  // False when the whole window is dropped (cut.next_seek says where to go).
  bool time_words(WindowCut& cut, int64_t seek, int64_t frames) {
    const double time_offset = double(seek) * kFrameSeconds;
    std::vector<int> text;
    for (const WindowSegment& s : cut.segments)
      for (int t : s.tokens)
        if (t < sp_.eot) text.push_back(t);
    add_word_timestamps(cut.segments,
                        find_alignment(ctx_.decoder, ctx_.state, ctx_.pool, ctx_.tokenizer,
                                       ctx_.alignment_heads, sot_, out_.info.language, text,
                                       int(frames)),
                        sp_.eot, time_offset, o_, last_speech_);
    // The next window starts after the last word, not at the last timestamp.
    const double last_word_end = last_end(cut.segments);
    if (!cut.single_timestamp_ending && last_word_end > time_offset)
      cut.next_seek = int64_t(std::nearbyint(last_word_end * kFramesPerSecond));
    if (!std::isnan(o_.hallucination_silence_threshold)) {
      const std::optional<HallucinationSkip> skip =
          skip_hallucinations(cut.segments, o_.hallucination_silence_threshold, seek, frames,
                              content_frames_, last_speech_);
      if (skip) cut.next_seek = skip->seek;
      if (skip && skip->whole_window) return false;
    }
    const double end = last_end(cut.segments);
    if (!std::isnan(end)) last_speech_ = end;
    return true;
  }

  // Stage: emit the window's segments; they become the next window's prompt.
  void emit(std::vector<WindowSegment> pieces, int64_t seek, const Attempt& chosen) {
    for (Segment& s : finish_segments(std::move(pieces), ctx_.tokenizer, out_.info.duration, seek,
                                      chosen, last_id_)) {
      all_tokens_.insert(all_tokens_.end(), s.tokens.begin(), s.tokens.end());
      out_.text += s.text;
      if (cb_.on_segment) cb_.on_segment(s);
      out_.segments.push_back(std::move(s));
    }
    if (!o_.condition_on_previous_text || chosen.temperature > o_.prompt_reset_on_temperature)
      prompt_reset_since_ = all_tokens_.size();
  }

  int64_t progress(int64_t seek) {
    const double total = double(content_frames_) * kFrameSeconds;
    if (cb_.on_progress) cb_.on_progress(std::min<double>(double(seek) * kFrameSeconds, total), total);
    return seek;
  }

  const TranscribeContext& ctx_;
  const text::SpecialTokens& sp_;
  const std::vector<float>& samples_;
  const TranscribeOptions& o_;
  const Callbacks& cb_;
  const int64_t content_frames_;
  const audio::LogMel mel_;
  const Interrupt interrupt_;
  WindowEncoding window_;
  std::vector<int> sot_;
  decoding::LogitRules rules_;
  PromptText text_;
  Transcription out_;
  std::vector<int> all_tokens_;    // the text so far, the initial prompt first
  size_t prompt_reset_since_ = 0;  // all_tokens_ before this do not prompt
  int last_id_ = 0;
  double last_speech_ = 0;  // end of the last word heard, for word timings
};

Transcription long_form(const TranscribeContext& ctx, const std::vector<float>& samples,
                        const TranscribeOptions& o, const Callbacks& cb) {
  return LongForm(ctx, samples, o, cb).run();
}

// Samples from a caller of the library (the decoders never make these):
// a NaN or infinity would turn every feature of its window into NaN.
void check_samples(const std::vector<float>& samples) {
  const auto bad =
      std::find_if(samples.begin(), samples.end(), [](float x) { return !std::isfinite(x); });
  if (bad != samples.end())
    throw Error(
        "audio: sample " + std::to_string(bad - samples.begin()) + " is not a finite number",
        ErrorKind::kBadInput);
}

}  // namespace

Transcription transcribe(const TranscribeContext& ctx, const std::vector<float>& samples,
                         const TranscribeOptions& o, const Callbacks& cb) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o, {ctx.tokenizer.special(), ctx.vad != nullptr});
  check_samples(samples);
  Transcription t =
      o.batch_size > 1 ? std::move(transcribe_batched(ctx, {&samples}, o, {cb})[0])
      : uses_vad(o)
          ? transcribe_with_vad(*ctx.vad, ctx.pool, samples, o, cb,
                                [&](const std::vector<float>& heard, const Callbacks& inner) {
                                  return long_form(ctx, heard, o, inner);
                                })
          : long_form(ctx, samples, o, cb);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

std::vector<Transcription> transcribe(const TranscribeContext& ctx,
                                      const std::vector<std::vector<float>>& recordings,
                                      const TranscribeOptions& o,
                                      const std::vector<Callbacks>& callbacks) {
  if (!callbacks.empty() && callbacks.size() != recordings.size())
    throw Error("transcribe: give one Callbacks per recording, or none", ErrorKind::kBadInput);
  static const Callbacks kNone;
  auto callbacks_of = [&](size_t i) -> const Callbacks& {
    return callbacks.empty() ? kNone : callbacks[i];
  };
  if (o.batch_size <= 1 || recordings.size() <= 1) {  // one at a time: nothing to share
    std::vector<Transcription> out;
    for (size_t i = 0; i < recordings.size(); ++i)
      out.push_back(transcribe(ctx, recordings[i], o, callbacks_of(i)));
    return out;
  }
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o, {ctx.tokenizer.special(), ctx.vad != nullptr});
  std::vector<const std::vector<float>*> pointers;
  for (const std::vector<float>& r : recordings) {
    check_samples(r);
    pointers.push_back(&r);
  }
  std::vector<Transcription> out = transcribe_batched(ctx, pointers, o, callbacks);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (Transcription& t : out) t.seconds = seconds;  // the batch's wall time
  return out;
}

}  // namespace amanuensis
