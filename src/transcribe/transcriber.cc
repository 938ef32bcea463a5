#include "transcribe/transcriber.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "audio/mel.h"
#include "decoding/search.h"
#include "transcribe/word_timing.h"

namespace amanuensis {
namespace {

constexpr double kFrameSeconds = 0.01;      // one mel frame (hop 160 at 16 kHz)
constexpr double kTimestampSeconds = 0.02;  // one timestamp token step
constexpr int kFramesPerTimestamp = 2;      // mel frames per timestamp step (the encoder's stride)
// A window whose loudest sample is below this (-70 dBFS) holds no sound to
// transcribe. Whisper, given digital silence, still says " you" with
// P(no speech) 0.94 and an average log-probability above -1 (faster-whisper
// prints it too); we do not decode such windows at all.
constexpr float kSilentPeak = 3.16e-4f;

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n\r\f\v");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r\f\v") - b + 1);
}

void check_values(const TranscribeOptions& o) {
  auto bad = [](const std::string& what) { throw Error("invalid option: " + what); };
  if (o.task != "transcribe" && o.task != "translate")
    bad("task '" + o.task + "' (use transcribe or translate)");
  if (o.beam_size < 1 || o.beam_size > 16) bad("beam size must be 1 to 16");
  if (o.best_of < 1 || o.best_of > 16) bad("best_of must be 1 to 16");
  if (!(o.patience > 0.0f) || o.patience > 16.0f) bad("patience must be in (0, 16]");
  if (!std::isfinite(o.length_penalty) || o.length_penalty < 0) bad("length penalty must be >= 0");
  if (o.temperatures.empty()) bad("give at least one temperature");
  for (float t : o.temperatures)
    if (!(t >= 0.0f && t <= 10.0f)) bad("temperatures must be between 0 and 10");
  if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty))
    bad("repetition penalty must be > 0");
  if (o.no_repeat_ngram_size < 0 || o.no_repeat_ngram_size > 64)
    bad("no-repeat n-gram size must be 0 to 64");
  if (!(o.max_initial_timestamp >= 0.0f) || o.max_initial_timestamp > 30.0f)
    bad("max initial timestamp must be 0 to 30 s");
  if (o.max_new_tokens < 0) bad("max new tokens must be >= 0");
  if (!std::isnan(o.hallucination_silence_threshold) &&
      !(o.hallucination_silence_threshold > 0 && o.hallucination_silence_threshold <= 3600))
    bad("hallucination silence threshold must be a positive number of seconds");
  if (!std::isnan(o.hallucination_silence_threshold) && !o.word_timestamps)
    bad("the hallucination silence threshold needs word timestamps");
  if (std::isinf(o.log_prob_threshold) || std::isinf(o.no_speech_threshold) ||
      std::isnan(o.compression_ratio_threshold) || std::isnan(o.prompt_reset_on_temperature))
    bad("thresholds must be finite (NaN turns the log-prob and no-speech ones off)");
  for (int t : o.suppress_tokens)
    if (t < -1) bad("suppressed token " + std::to_string(t) + " is not a token id");
}

// The features of the window at `seek`: `size` frames of `mel`, then 0.0 to
// 3000 frames, as faster-whisper pads a short window.
std::vector<float> window(const audio::LogMel& mel, int64_t seek, int64_t size) {
  std::vector<float> w(size_t(mel.n_mels) * audio::kChunkFrames, 0.0f);
  for (int c = 0; c < mel.n_mels; ++c)
    std::copy_n(mel.data.begin() + c * mel.frames + seek, size,
                w.begin() + c * audio::kChunkFrames);
  return w;
}

// The end of the last word of the last segment that has words, else the
// last segment's end (faster-whisper's get_end); NaN without segments.
double last_end(const std::vector<WindowSegment>& segments) {
  for (auto s = segments.rbegin(); s != segments.rend(); ++s)
    if (!s->words.empty()) return s->words.back().end;
  return segments.empty() ? NAN : segments.back().end;
}

struct Attempt {
  decoding::SearchResult result;
  double compression_ratio = 0;
  float temperature = 0;
};

}  // namespace

void check_options(const text::SpecialTokens& sp, const TranscribeOptions& o) {
  check_values(o);
  const std::string language = o.language == "auto" ? "" : o.language;
  if (!language.empty()) {
    const int index = text::language_index(language);
    if (index < 0 || index >= sp.n_languages)
      throw Error("unknown language code '" + language + "'");
    if (!sp.multilingual && language != "en")
      throw Error("this model is English-only; it cannot transcribe language '" + language + "'");
  }
  if (!sp.multilingual && o.task == "translate")
    throw Error("this model is English-only; it cannot translate");
  for (int t : o.suppress_tokens)
    if (t >= sp.n_vocab)
      throw Error("invalid option: suppressed token " + std::to_string(t) +
                  " is not in the vocabulary");
}

double compression_ratio(const std::string& text) {
  if (text.empty()) return 0.0;
  uLongf size = compressBound(uLong(text.size()));
  std::vector<Bytef> out(size);
  if (compress(out.data(), &size, reinterpret_cast<const Bytef*>(text.data()),
               uLong(text.size())) != Z_OK)
    throw Error("zlib could not compress a transcript");
  return double(text.size()) / double(size);
}

Transcription transcribe_samples(const TranscribeContext& ctx, const std::vector<float>& samples,
                                 const TranscribeOptions& o, const Callbacks& cb) {
  const auto t0 = std::chrono::steady_clock::now();
  const text::Tokenizer& tok = ctx.tokenizer;
  const text::SpecialTokens& sp = tok.special();
  check_options(sp, o);
  const Encoder& encoder = ctx.encoder;
  const Decoder& decoder = ctx.decoder;
  Transcription out;
  out.info.duration = double(samples.size()) / audio::kSampleRate;

  const std::string language = o.language == "auto" ? "" : o.language;

  // faster-whisper's features: frames [0, n / 160] of the padded audio; the
  // last of them (mostly padding) is not content.
  const int64_t content_frames = int64_t(samples.size()) / audio::kHop;
  const double content_seconds = double(content_frames) * kFrameSeconds;
  out.info.language = language.empty() && !sp.multilingual ? "en" : language;
  out.info.language_probability = language.empty() && sp.multilingual ? 0.0f : 1.0f;
  if (content_frames == 0) {  // under 10 ms: nothing to hear
    if (out.info.language.empty()) out.info.language = "en";
    return out;
  }
  const int n_mels = encoder.weights().n_mels;
  const audio::LogMel mel = audio::log_mel_spectrogram(samples, n_mels, content_frames, &ctx.pool);
  const int rows = std::max(o.beam_size, o.best_of);

  std::vector<float> encoded;
  int64_t encoded_seek = -1;
  auto encode_at = [&](int64_t seek, int64_t size) {
    if (encoded_seek == seek) return;
    const std::vector<float> w = window(mel, seek, size);
    encoded = encoder.encode(w.data(), ctx.pool);
    encoded_seek = seek;
  };
  // The decoder's cross-attention K/V follow the encoder output: made once a
  // window, whether it is decoded once or detected, decoded and decoded again.
  int64_t begun_seek = -1;
  auto begin_decoder = [&](int max_rows) {
    if (begun_seek == encoded_seek) return decoder.restart(ctx.state, max_rows);
    decoder.begin(ctx.state, encoded.data(), encoder.weights().n_ctx, max_rows, ctx.pool);
    begun_seek = encoded_seek;
  };

  if (out.info.language.empty()) {  // detect on the first window
    encode_at(0, std::min<int64_t>(audio::kChunkFrames, content_frames));
    begin_decoder(1);
    const std::vector<float> p = decoding::language_probabilities(decoder, ctx.state, sp, ctx.pool);
    std::vector<int> order(p.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    for (int i : order)
      out.info.language_probabilities.emplace_back(text::language_codes()[i], p[i]);
    out.info.language = text::language_codes()[order[0]];
    out.info.language_probability = p[order[0]];
  }

  std::vector<int> sot_sequence = {sp.sot};
  if (sp.multilingual) {
    sot_sequence.push_back(sp.language(text::language_index(out.info.language)));
    sot_sequence.push_back(o.task == "translate" ? sp.translate : sp.transcribe);
  }

  decoding::LogitRules rules;
  rules.special = sp;
  if (o.suppress_tokens.size() == 1 && o.suppress_tokens[0] == -1) {
    rules.suppress = decoding::default_suppressed_tokens(tok);
  } else {
    for (int t : o.suppress_tokens) {
      if (t == -1) {
        const std::vector<int> d = decoding::default_suppressed_tokens(tok);
        rules.suppress.insert(rules.suppress.end(), d.begin(), d.end());
      } else {
        rules.suppress.push_back(t);
      }
    }
    for (int t : {sp.transcribe, sp.translate, sp.sot, sp.startofprev, sp.startoflm, sp.nospeech})
      rules.suppress.push_back(t);
  }
  if (o.suppress_blank) rules.suppress_begin = {tok.encode(" ").at(0), sp.eot};
  rules.timestamps = !o.without_timestamps;
  rules.max_initial_timestamp_index = int(std::lround(o.max_initial_timestamp / kTimestampSeconds));
  rules.repetition_penalty = o.repetition_penalty;
  rules.no_repeat_ngram_size = o.no_repeat_ngram_size;

  const int max_length = decoder.n_ctx();
  const int half = max_length / 2;
  auto cap = [&](std::vector<int> t) {  // prompts and prefixes get half the context
    if (int(t.size()) >= half) t.resize(size_t(half - 1));
    return t;
  };
  std::vector<int> all_tokens;
  if (!trim(o.initial_prompt).empty()) all_tokens = tok.encode(" " + trim(o.initial_prompt));
  const std::vector<int> hotwords =
      trim(o.hotwords).empty() ? std::vector<int>{} : cap(tok.encode(" " + trim(o.hotwords)));
  const std::vector<int> prefix =
      trim(o.prefix).empty() ? std::vector<int>{} : cap(tok.encode(" " + trim(o.prefix)));
  size_t prompt_reset_since = 0;

  int64_t seek = 0;
  int next_id = 0;
  double last_speech = 0;  // end of the last word heard, for word timings
  while (seek < content_frames) {
    if (cb.should_abort && cb.should_abort()) {
      out.aborted = true;
      break;
    }
    const double time_offset = double(seek) * kFrameSeconds;
    const int64_t segment_size = std::min<int64_t>(audio::kChunkFrames, content_frames - seek);
    const double segment_duration = double(segment_size) * kFrameSeconds;
    const auto window_audio = samples.begin() + seek * audio::kHop;
    if (std::all_of(window_audio,
                    window_audio + std::min<int64_t>(segment_size * audio::kHop,
                                                     int64_t(samples.size()) - seek * audio::kHop),
                    [](float x) { return std::fabs(x) < kSilentPeak; })) {
      seek += segment_size;
      if (cb.on_progress)
        cb.on_progress(std::min<double>(double(seek) * kFrameSeconds, content_seconds),
                       content_seconds);
      continue;
    }
    encode_at(seek, segment_size);

    // The prompt: previous text (and hotwords), the task, the prefix.
    std::vector<int> prompt;
    const std::vector<int> previous(all_tokens.begin() + prompt_reset_since, all_tokens.end());
    const bool use_hotwords = !hotwords.empty() && (prefix.empty() || seek > 0);
    if (!previous.empty() || use_hotwords) {
      prompt.push_back(sp.startofprev);
      if (use_hotwords) prompt.insert(prompt.end(), hotwords.begin(), hotwords.end());
      const size_t keep = std::min(previous.size(), size_t(half - 1));
      prompt.insert(prompt.end(), previous.end() - keep, previous.end());
    }
    const int sot_index = int(prompt.size());
    prompt.insert(prompt.end(), sot_sequence.begin(), sot_sequence.end());
    if (o.without_timestamps) prompt.push_back(sp.notimestamps);
    if (seek == 0 && !prefix.empty()) {
      if (!o.without_timestamps) prompt.push_back(sp.timestamp_begin);
      prompt.insert(prompt.end(), prefix.begin(), prefix.end());
    }
    decoding::SearchOptions so;
    so.beam_size = o.beam_size;
    so.patience = o.patience;
    so.length_penalty = o.length_penalty;
    so.best_of = o.best_of;
    so.max_length = o.max_new_tokens > 0
                        ? std::min(max_length, int(prompt.size()) + o.max_new_tokens)
                        : max_length;
    if (int(prompt.size()) >= so.max_length)
      throw Error("the prompt (" + std::to_string(prompt.size()) +
                  " tokens) leaves no room to decode in the text context of " +
                  std::to_string(max_length));

    // Temperature fallback: decode again, hotter, while the text repeats
    // itself or the model is unsure (but not when it says there is no speech).
    std::vector<Attempt> attempts;
    Attempt chosen;
    bool settled = false;
    for (float temperature : o.temperatures) {
      so.temperature = temperature;
      so.seed = o.seed ^ (uint64_t(seek) * 0x9E3779B97F4A7C15ULL) ^ uint64_t(attempts.size());
      begin_decoder(rows);
      Attempt a;
      a.result = decoding::search(decoder, ctx.state, rules, prompt, sot_index, so, ctx.pool);
      a.temperature = temperature;
      a.compression_ratio = compression_ratio(trim(tok.decode(a.result.tokens)));
      attempts.push_back(a);
      bool fallback = false;
      if (o.compression_ratio_threshold > 0 && a.compression_ratio > o.compression_ratio_threshold)
        fallback = true;
      if (!std::isnan(o.log_prob_threshold) && a.result.avg_logprob < o.log_prob_threshold)
        fallback = true;
      if (!std::isnan(o.no_speech_threshold) && a.result.no_speech_prob > o.no_speech_threshold &&
          !std::isnan(o.log_prob_threshold) && a.result.avg_logprob < o.log_prob_threshold)
        fallback = false;  // silence: no temperature will help
      if (!fallback) {
        chosen = a;
        settled = true;
        break;
      }
    }
    if (!settled) {  // every temperature failed: the likeliest of those that did not repeat
      const Attempt* best = nullptr;
      for (const Attempt& a : attempts) {
        const bool ok = !(o.compression_ratio_threshold > 0 &&
                          a.compression_ratio > o.compression_ratio_threshold);
        if (ok && (!best || a.result.avg_logprob > best->result.avg_logprob)) best = &a;
      }
      if (!best)
        for (const Attempt& a : attempts)
          if (!best || a.result.avg_logprob > best->result.avg_logprob) best = &a;
      chosen = *best;
      chosen.temperature = o.temperatures.back();
    }
    const decoding::SearchResult& r = chosen.result;

    if (!std::isnan(o.no_speech_threshold) && r.no_speech_prob > o.no_speech_threshold &&
        !(!std::isnan(o.log_prob_threshold) && r.avg_logprob > o.log_prob_threshold)) {
      seek += segment_size;  // silence: skip the window
      if (cb.on_progress)
        cb.on_progress(std::min<double>(double(seek) * kFrameSeconds, content_seconds),
                       content_seconds);
      continue;
    }

    // Cut the tokens into segments at each pair of consecutive timestamps.
    const std::vector<int>& tokens = r.tokens;
    const int ts = sp.timestamp_begin;
    const int64_t previous_seek = seek;
    std::vector<WindowSegment> pieces;
    const size_t n = tokens.size();
    const bool single_timestamp_ending = n >= 2 && tokens[n - 2] < ts && tokens[n - 1] >= ts;
    std::vector<size_t> slices;
    for (size_t i = 1; i < n; ++i)
      if (tokens[i] >= ts && tokens[i - 1] >= ts) slices.push_back(i);
    if (!slices.empty()) {
      if (single_timestamp_ending) slices.push_back(n);
      size_t last = 0;
      for (size_t cut : slices) {
        std::vector<int> part(tokens.begin() + last, tokens.begin() + cut);
        pieces.push_back({time_offset + (part.front() - ts) * kTimestampSeconds,
                          time_offset + (part.back() - ts) * kTimestampSeconds,
                          part,
                          {}});
        last = cut;
      }
      if (single_timestamp_ending)
        seek += segment_size;  // no speech after the last timestamp
      else  // the last segment is unfinished: start the next window at its beginning
        seek += int64_t(tokens[last - 1] - ts) * kFramesPerTimestamp;
    } else {
      double duration = segment_duration;
      int last_ts = -1;
      for (int t : tokens)
        if (t >= ts) last_ts = t;
      if (last_ts >= 0 && last_ts != ts) duration = (last_ts - ts) * kTimestampSeconds;
      pieces.push_back({time_offset, time_offset + duration, tokens, {}});
      seek += segment_size;
    }

    if (o.word_timestamps) {
      std::vector<int> text;
      for (const WindowSegment& p : pieces)
        for (int t : p.tokens)
          if (t < sp.eot) text.push_back(t);
      add_word_timestamps(pieces,
                          find_alignment(decoder, ctx.state, ctx.pool, tok, ctx.alignment_heads,
                                         sot_sequence, out.info.language, text, int(segment_size)),
                          sp.eot, time_offset, o, last_speech);
      // The next window starts after the last word, not at the last timestamp.
      const double last_word_end = last_end(pieces);
      if (!single_timestamp_ending && last_word_end > time_offset)
        seek = int64_t(std::nearbyint(last_word_end * 100.0));  // frames per second
      if (!std::isnan(o.hallucination_silence_threshold)) {
        const std::optional<HallucinationSkip> skip =
            skip_hallucinations(pieces, o.hallucination_silence_threshold, previous_seek,
                                segment_size, content_frames, last_speech);
        if (skip) seek = skip->seek;
        if (skip && skip->whole_window) continue;
      }
      const double end = last_end(pieces);
      if (!std::isnan(end)) last_speech = end;
    }

    if (seek <= previous_seek) seek = previous_seek + segment_size;  // never loop in place

    for (WindowSegment& p : pieces) {
      // Whisper may place a timestamp past the end of the audio (a short
      // clip's window is mostly padding): a segment ends with the audio.
      p.end = std::min(p.end, out.info.duration);
      p.start = std::min(p.start, p.end);
      for (Word& w : p.words) {
        w.end = std::min(w.end, out.info.duration);
        w.start = std::min(w.start, w.end);
      }
      Segment s;
      s.text = tok.decode(p.tokens);
      if (p.start == p.end || trim(s.text).empty()) continue;
      all_tokens.insert(all_tokens.end(), p.tokens.begin(), p.tokens.end());
      s.id = ++next_id;
      s.seek = int(previous_seek);
      s.start = p.start;
      s.end = p.end;
      s.tokens = std::move(p.tokens);
      s.temperature = chosen.temperature;
      s.avg_logprob = r.avg_logprob;
      s.compression_ratio = chosen.compression_ratio;
      s.no_speech_prob = r.no_speech_prob;
      s.words = std::move(p.words);
      out.text += s.text;
      if (cb.on_segment) cb.on_segment(s);
      out.segments.push_back(std::move(s));
    }
    if (!o.condition_on_previous_text || chosen.temperature > o.prompt_reset_on_temperature)
      prompt_reset_since = all_tokens.size();
    if (cb.on_progress)
      cb.on_progress(std::min<double>(double(seek) * kFrameSeconds, content_seconds),
                     content_seconds);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace amanuensis
