// The public API over the engine's parts: a Model owns the immutable encoder,
// decoder and vocabulary; a Session owns a thread pool and the decoder's
// caches.
#include "amanuensis/amanuensis.h"

#include <thread>

#include "audio/decode.h"
#include "model/checkpoint.h"
#include "transcribe/transcriber.h"
#include "vad/silero_vad.h"
#include "vad/speech_timestamps.h"

namespace amanuensis {
namespace {

// Runs f, turning the engine's own exceptions into amanuensis::Error.
template <typename F>
auto translate_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

}  // namespace

struct Model::Impl {
  // The encoder is quantized (and its float weights freed) before the
  // decoder's are read: peak memory holds one part in float32, not both.
  Impl(CheckpointReader r, Precision precision, Backend backend)
      : format(r.format()),
        precision(precision),
        backend(resolve_backend(backend)),
        encoder(r.encoder(), precision, backend),
        decoder(r.decoder(), precision, backend),
        tokenizer(r.tokenizer()),
        alignment_heads(r.alignment_heads()) {
    if (encoder.weights().d_model != decoder.d_model())
      throw ModelError(r.what() + ": encoder and decoder widths differ");
  }
  std::string format;
  Precision precision;
  Backend backend;
  Encoder encoder;
  Decoder decoder;
  std::shared_ptr<const text::Tokenizer> tokenizer;
  std::vector<std::pair<int, int>> alignment_heads;
  std::unique_ptr<const vad::SileroVad> vad;  // ModelOptions::vad_model, or none
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
  return translate_errors([&] {
    const Precision precision = parse_precision(options.precision);
    const Backend backend = parse_backend(options.backend);
    resolve_backend(backend);  // refuse an instruction set this CPU lacks before loading
    // The VAD first: a bad path fails in milliseconds, not after the model loads.
    auto vad = options.vad_model.empty()
                   ? nullptr
                   : std::make_unique<const vad::SileroVad>(options.vad_model);
    auto impl = std::make_unique<Impl>(CheckpointReader(path), precision, backend);
    impl->vad = std::move(vad);
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
  });
}

bool Model::multilingual() const { return impl_->tokenizer->special().multilingual; }
std::vector<std::string> Model::languages() const {
  const std::vector<std::string>& all = text::language_codes();
  return {all.begin(), all.begin() + impl_->tokenizer->special().n_languages};
}
std::string Model::format() const { return impl_->format; }
std::string Model::precision() const {
  return impl_->precision == Precision::kInt8 ? "int8" : "fp32";
}
std::string Model::backend() const { return backend_name(impl_->backend); }
int Model::n_mels() const { return impl_->encoder.weights().n_mels; }
void Model::check(const TranscribeOptions& options) const {
  translate_errors([&] {
    check_options(impl_->tokenizer->special(), options);
    if (options.word_timestamps && options.word_starts_at_speech && !impl_->vad)
      throw Error("word_starts_at_speech needs Silero VAD weights: set ModelOptions::vad_model");
    if (!options.vad_filter) return;
    if (!impl_->vad)
      throw Error("vad_filter needs Silero VAD weights: set ModelOptions::vad_model");
    vad::check_options(options.vad);
  });
}

struct Session::State {
  explicit State(int threads) : pool(threads) {}
  ThreadPool pool;
  DecoderState decoder;
};

Session::Session(std::shared_ptr<const Model> model, int threads) : model_(std::move(model)) {
  if (!model_) throw Error("session: no model");
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > 256) throw Error("session: " + std::to_string(threads) + " threads is absurd");
  state_ = std::make_unique<State>(threads);
}
Session::~Session() = default;

Transcription Session::transcribe(const std::vector<float>& samples,
                                  const TranscribeOptions& options, const Callbacks& callbacks) {
  return translate_errors([&] {
    const Model::Impl& m = model_->impl();
    const TranscribeContext ctx{m.encoder,    m.decoder,       *m.tokenizer,
                                state_->pool, state_->decoder, m.alignment_heads};
    const bool starts_at_speech = options.word_timestamps && options.word_starts_at_speech;
    if (!options.vad_filter && !starts_at_speech) {
      Transcription t = transcribe_samples(ctx, samples, options, callbacks);
      t.info.duration_after_vad = t.info.duration;
      return t;
    }
    // Silero VAD over the original audio, once for both uses.
    model_->check(options);
    const std::vector<float> probabilities = m.vad->probabilities(samples, state_->pool);
    // faster-whisper's vad_filter: transcribe the speech alone, joined, then
    // put every time back on the original timeline.
    std::vector<vad::SpeechChunk> speech;
    if (options.vad_filter)
      speech = vad::speech_timestamps(probabilities, int64_t(samples.size()), options.vad);
    const std::vector<float> joined =
        options.vad_filter ? vad::collect_chunks(samples, speech) : std::vector<float>{};
    const vad::TimeMap map(speech);  // no chunks: times unchanged
    auto finish = [&](Segment& s) {
      map.restore(s);
      if (starts_at_speech) vad::start_words_at_speech(s, probabilities);
    };
    Callbacks inner = callbacks;
    if (callbacks.on_segment)
      inner.on_segment = [&](const Segment& s) {
        Segment finished = s;
        finish(finished);
        callbacks.on_segment(finished);
      };
    Transcription t =
        transcribe_samples(ctx, options.vad_filter ? joined : samples, options, inner);
    for (Segment& s : t.segments) finish(s);
    t.info.duration = double(samples.size()) / vad::kSampleRate;
    t.info.duration_after_vad =
        double((options.vad_filter ? joined : samples).size()) / vad::kSampleRate;
    return t;
  });
}

std::vector<float> load_audio(const std::string& path) {
  return translate_errors([&] { return audio::load_audio_16k_mono(path); });
}

std::vector<float> decode_audio(const void* bytes, size_t size, const std::string& name) {
  return translate_errors(
      [&] { return audio::decode_audio_16k_mono(static_cast<const uint8_t*>(bytes), size, name); });
}

std::string language_name(const std::string& code) {
  const int i = text::language_index(code);
  return i < 0 ? "" : text::language_names()[i];
}

}  // namespace amanuensis
