// The public API over the engine's parts: a Model owns the immutable encoder,
// decoder and vocabulary; a Session owns a thread pool and the decoder's
// caches.
#include "amanuensis/amanuensis.h"

#include <cstdlib>
#include <thread>

#include "api/model_vad.h"
#include "audio/decode.h"
#include "model/checkpoint.h"
#include "text/tokenizer.h"
#include "transcribe/options.h"
#include "transcribe/pipeline.h"
#include "util/scratch.h"
#include "vad/silero_vad.h"

namespace amanuensis {
namespace {

// Runs f, giving the engine's own exceptions the kind of error they are.
template <typename F>
auto translate_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const ModelError& e) {
    throw Error(e.what(), ErrorKind::kBadModel);
  } catch (const text::TokenizerError& e) {
    throw Error(e.what(), ErrorKind::kBadModel);
  } catch (const audio::AudioTooLong& e) {
    throw Error(e.what(), ErrorKind::kResourceLimit);
  } catch (const audio::AudioError& e) {
    throw Error(e.what(), ErrorKind::kBadInput);
  } catch (const std::bad_alloc&) {
    throw Error("out of memory", ErrorKind::kResourceLimit);
  } catch (const std::invalid_argument& e) {
    throw Error(e.what(), ErrorKind::kBadInput);
  } catch (const std::exception& e) {
    throw Error(e.what(), ErrorKind::kInternal);
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
    const Precision precision = options.precision;
    const Backend backend = options.backend;
    resolve_backend(backend);  // refuse an instruction set this CPU lacks before loading
    // The VAD first: a bad path fails in milliseconds, not after the model loads.
    auto vad = options.vad_model.empty()
                   ? nullptr
                   : std::make_unique<const vad::SileroVad>(options.vad_model, backend);
    auto impl = std::make_unique<Impl>(CheckpointReader(path), precision, backend);
    impl->vad = std::move(vad);
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
  });
}

const vad::SileroVad* model_vad(const Model& model) { return model.impl().vad.get(); }

bool Model::multilingual() const { return impl_->tokenizer->special().multilingual; }
std::vector<std::string> Model::languages() const {
  const std::vector<std::string>& all = text::language_codes();
  return {all.begin(), all.begin() + impl_->tokenizer->special().n_languages};
}
std::string Model::format() const { return impl_->format; }
Precision Model::precision() const { return impl_->precision; }
Backend Model::backend() const { return impl_->backend; }
int Model::n_mels() const { return impl_->encoder.weights().n_mels; }
bool Model::has_vad() const { return impl_->vad != nullptr; }
std::string Model::token_bytes(int id) const {
  const int n = impl_->tokenizer->n_vocab();
  if (id < 0 || id >= n)
    throw Error(
        "token " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(n) + ")",
        ErrorKind::kBadInput);
  return impl_->tokenizer->token_bytes(id);
}
bool Model::is_text_token(int id) const { return id >= 0 && id < impl_->tokenizer->special().eot; }
void Model::check(const TranscribeOptions& options) const {
  translate_errors([&] {
    check_options(options, {impl_->tokenizer->special(), impl_->vad != nullptr});
  });
}

namespace {
int checked_threads(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > 256) throw Error("session: " + std::to_string(threads) + " threads is absurd");
  return threads;
}
}  // namespace

struct SessionGroup::Impl {
  Impl(std::shared_ptr<const Model> m, int threads)
      : model(std::move(m)), pool(threads), batcher(model->impl().decoder, pool) {}
  std::shared_ptr<const Model> model;
  ThreadPool pool;  // of the steps that hold several Sessions' rows
  decoding::StepBatcher batcher;
};

SessionGroup::SessionGroup(std::shared_ptr<const Model> model, int threads) {
  if (!model) throw Error("session group: no model");
  impl_ = std::make_unique<Impl>(std::move(model), checked_threads(threads));
}
SessionGroup::~SessionGroup() = default;
const std::shared_ptr<const Model>& SessionGroup::model() const { return impl_->model; }
SessionGroup::Load SessionGroup::load() const {
  const decoding::StepBatcher::Load l = impl_->batcher.load();
  return {l.members, l.last_rows, l.steps, l.rows, l.shared};
}

// A Session's threads and decoder state; its group's batcher, or none.
struct Session::State {
  State(int threads, decoding::StepBatcher* batcher) : pool(threads), batcher(batcher) {}
  ScratchPool scratch;  // first: destroyed last, after every buffer drawn from it
  ThreadPool pool;
  decoding::StepBatcher* batcher;
  DecoderState decoder;
};

Session::Session(std::shared_ptr<const Model> model, int threads) : model_(std::move(model)) {
  if (!model_) throw Error("session: no model");
  state_ = std::make_unique<State>(checked_threads(threads), nullptr);
}
Session::Session(std::shared_ptr<SessionGroup> group, int threads) : group_(std::move(group)) {
  if (!group_) throw Error("session: no group");
  model_ = group_->model();
  state_ = std::make_unique<State>(checked_threads(threads), &group_->impl().batcher);
}
Session::~Session() = default;

// Runs `work(context)` on a session's pool, decoder state and scratch pool,
// with the engine's exceptions as Error.
template <typename Work>
auto in_session(const Model::Impl& m, ScratchPool& scratch_pool, ThreadPool& pool,
                DecoderState& decoder, decoding::StepBatcher* batcher, Work&& work) {
  return translate_errors([&] {
    const ScratchScope scratch(scratch_pool);
    const TranscribeContext ctx{m.encoder,   m.decoder, *m.tokenizer, m.alignment_heads,
                                m.vad.get(), pool,      decoder,      batcher};
    return work(ctx);
  });
}

Transcription Session::transcribe(const std::vector<float>& samples,
                                  const TranscribeOptions& options, const Callbacks& callbacks) {
  return in_session(model_->impl(), state_->scratch, state_->pool, state_->decoder, state_->batcher,
                    [&](const TranscribeContext& ctx) {
                      return amanuensis::transcribe(ctx, samples, options, callbacks);
                    });
}

std::vector<Transcription> Session::transcribe_many(
    const std::vector<std::vector<float>>& recordings, const TranscribeOptions& options,
    const std::vector<Callbacks>& callbacks) {
  return in_session(model_->impl(), state_->scratch, state_->pool, state_->decoder, state_->batcher,
                    [&](const TranscribeContext& ctx) {
                      return amanuensis::transcribe(ctx, recordings, options, callbacks);
                    });
}

std::vector<float> load_audio(const std::string& path) {
  return translate_errors([&] { return audio::load_audio_16k_mono(path); });
}

std::vector<float> decode_audio(const void* bytes, size_t size, const std::string& name) {
  return translate_errors(
      [&] { return audio::decode_audio_16k_mono(static_cast<const uint8_t*>(bytes), size, name); });
}

std::vector<float> decode_audio(const void* bytes, size_t size, const std::string& name,
                                double max_seconds) {
  return translate_errors([&] {
    if (!(max_seconds > 0 && max_seconds <= audio::kMaxSeconds))
      throw Error(
          "max_seconds must be above 0 and at most " + std::to_string(int(audio::kMaxSeconds)),
          ErrorKind::kBadInput, "max_seconds");
    return audio::decode_audio_16k_mono(static_cast<const uint8_t*>(bytes), size, name,
                                        max_seconds);
  });
}

std::string model_cache_dir() {
  const char* env = std::getenv("AMANUENSIS_MODELS");
  if (env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/amanuensis/models";
}

std::string language_name(const std::string& code) {
  const int i = text::language_index(code);
  return i < 0 ? "" : text::language_names()[i];
}

}  // namespace amanuensis
