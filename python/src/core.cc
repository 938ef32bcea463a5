// amanuensis._core: the public C++ API (include/amanuensis/amanuensis.h) as
// it is, for the package's faster-whisper layer (python/amanuensis/) to build
// on. Loading, decoding and transcribing run with the GIL released, so one
// model serves several Python threads at once; callbacks take the GIL back
// (nanobind's std::function caster does).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <utility>

#include "amanuensis/amanuensis.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

namespace am = amanuensis;

// Python's exception types, one per ErrorKind (the package re-exports them).
struct ErrorTypes {
  nb::object base, bad_input, unsupported, bad_model, resource_limit;
  nb::handle of(am::ErrorKind kind) const {
    switch (kind) {
      case am::ErrorKind::kBadInput:
        return bad_input;
      case am::ErrorKind::kUnsupported:
        return unsupported;
      case am::ErrorKind::kBadModel:
        return bad_model;
      case am::ErrorKind::kResourceLimit:
        return resource_limit;
      case am::ErrorKind::kInternal:
        break;
    }
    return base;
  }
};
ErrorTypes* error_types = nullptr;  // made once, at import; never freed (as Python's own types)

nb::object new_error_type(nb::module_& m, const char* name, nb::handle bases, const char* doc) {
  nb::object type = nb::steal(PyErr_NewExceptionWithDoc(
      (std::string("amanuensis._core.") + name).c_str(), doc, bases.ptr(), nullptr));
  if (!type) throw nb::python_error();
  m.attr(name) = type;
  return type;
}

using Audio = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Samples = nb::ndarray<nb::numpy, float, nb::ndim<1>>;

// A numpy array that owns the engine's samples: no copy.
Samples to_numpy(std::vector<float>&& samples) {
  auto* owned = new std::vector<float>(std::move(samples));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  return Samples(owned->data(), {owned->size()}, owner);
}

// The model and its sessions, as Python holds them.
struct PyModel {
  std::shared_ptr<const am::Model> model;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "amanuensis's C++ engine; use the amanuensis package above it";

  nb::object base = new_error_type(m, "Error", PyExc_Exception,
                                   "An error of the amanuensis engine; .option names the option "
                                   "at fault, or is empty");
  base.attr("option") = "";  // errors raised from Python name no option
  auto bases = [&](PyObject* builtin) { return nb::make_tuple(base, nb::handle(builtin)); };
  error_types = new ErrorTypes{
      base,
      new_error_type(m, "InvalidInputError", bases(PyExc_ValueError),
                     "Options, audio or arguments that cannot be used"),
      new_error_type(m, "UnsupportedError", bases(PyExc_NotImplementedError),
                     "Valid, but not by this model or CPU"),
      new_error_type(m, "ModelError", bases(PyExc_ValueError),
                     "A model file that is missing, corrupt or inconsistent"),
      new_error_type(m, "ResourceLimitError", bases(PyExc_MemoryError),
                     "Too large, too long, or out of memory"),
  };
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const am::Error& e) {
      const nb::handle type = error_types->of(e.kind());
      nb::object error = type(e.what());
      error.attr("option") = e.option();
      PyErr_SetObject(type.ptr(), error.ptr());
    }
  });

  nb::class_<am::VadOptions>(m, "VadOptions")
      .def(nb::init<>())
      .def_rw("threshold", &am::VadOptions::threshold)
      .def_rw("neg_threshold", &am::VadOptions::neg_threshold)
      .def_rw("min_speech_duration_ms", &am::VadOptions::min_speech_duration_ms)
      .def_rw("max_speech_duration_s", &am::VadOptions::max_speech_duration_s)
      .def_rw("min_silence_duration_ms", &am::VadOptions::min_silence_duration_ms)
      .def_rw("speech_pad_ms", &am::VadOptions::speech_pad_ms);

  using O = am::TranscribeOptions;
  nb::class_<O>(m, "TranscribeOptions")
      .def(nb::init<>())
      .def_rw("language", &O::language)
      .def_prop_rw(
          "task", [](const O& o) { return std::string(am::to_string(o.task)); },
          [](O& o, const std::string& name) { o.task = am::parse_task(name); })
      .def_rw("beam_size", &O::beam_size)
      .def_rw("patience", &O::patience)
      .def_rw("length_penalty", &O::length_penalty)
      .def_rw("best_of", &O::best_of)
      .def_rw("temperatures", &O::temperatures)
      .def_rw("compression_ratio_threshold", &O::compression_ratio_threshold)
      .def_rw("log_prob_threshold", &O::log_prob_threshold)
      .def_rw("no_speech_threshold", &O::no_speech_threshold)
      .def_rw("condition_on_previous_text", &O::condition_on_previous_text)
      .def_rw("prompt_reset_on_temperature", &O::prompt_reset_on_temperature)
      .def_rw("initial_prompt", &O::initial_prompt)
      .def_rw("prefix", &O::prefix)
      .def_rw("hotwords", &O::hotwords)
      .def_rw("suppress_blank", &O::suppress_blank)
      .def_rw("suppress_tokens", &O::suppress_tokens)
      .def_rw("without_timestamps", &O::without_timestamps)
      .def_rw("max_initial_timestamp", &O::max_initial_timestamp)
      .def_rw("min_text_end", &O::min_text_end)
      .def_rw("repetition_penalty", &O::repetition_penalty)
      .def_rw("no_repeat_ngram_size", &O::no_repeat_ngram_size)
      .def_rw("max_new_tokens", &O::max_new_tokens)
      .def_rw("seed", &O::seed)
      .def_rw("word_timestamps", &O::word_timestamps)
      .def_rw("prepend_punctuations", &O::prepend_punctuations)
      .def_rw("append_punctuations", &O::append_punctuations)
      .def_rw("word_starts_at_speech", &O::word_starts_at_speech)
      .def_rw("hallucination_silence_threshold", &O::hallucination_silence_threshold)
      .def_rw("vad_filter", &O::vad_filter)
      .def_rw("vad", &O::vad)
      .def_rw("batch_size", &O::batch_size);

  nb::class_<am::Word>(m, "Word")
      .def_ro("start", &am::Word::start)
      .def_ro("end", &am::Word::end)
      .def_ro("word", &am::Word::word)
      .def_ro("probability", &am::Word::probability);
  using S = am::Segment;
  nb::class_<S>(m, "Segment")
      .def_ro("id", &S::id)
      .def_ro("seek", &S::seek)
      .def_ro("start", &S::start)
      .def_ro("end", &S::end)
      .def_ro("text", &S::text)
      .def_ro("tokens", &S::tokens)
      .def_ro("token_logprobs", &S::token_logprobs)
      .def_ro("avg_logprob", &S::avg_logprob)
      .def_ro("compression_ratio", &S::compression_ratio)
      .def_ro("no_speech_prob", &S::no_speech_prob)
      .def_ro("temperature", &S::temperature)
      .def_ro("words", &S::words);
  using I = am::TranscriptionInfo;
  nb::class_<I>(m, "TranscriptionInfo")
      .def_ro("language", &I::language)
      .def_ro("language_probability", &I::language_probability)
      .def_ro("language_probabilities", &I::language_probabilities)
      .def_ro("duration", &I::duration)
      .def_ro("duration_after_vad", &I::duration_after_vad);
  using T = am::Transcription;
  nb::class_<T>(m, "Transcription")
      .def_ro("segments", &T::segments)
      .def_ro("info", &T::info)
      .def_ro("text", &T::text)
      .def_ro("seconds", &T::seconds)
      .def_ro("aborted", &T::aborted);

  nb::class_<PyModel>(m, "Model")
      .def(
          "__init__",
          [](PyModel* self, const std::string& path, const std::string& precision,
             const std::string& backend, const std::string& vad_model) {
            am::ModelOptions options;
            options.precision = am::parse_precision(precision);
            options.backend = am::parse_backend(backend);
            options.vad_model = vad_model;
            std::shared_ptr<const am::Model> model;
            {
              nb::gil_scoped_release release;
              model = am::Model::load(path, options);
            }
            new (self) PyModel{std::move(model)};
          },
          "path"_a, "precision"_a = "int8", "backend"_a = "auto", "vad_model"_a = "")
      .def_prop_ro("multilingual", [](const PyModel& m) { return m.model->multilingual(); })
      .def_prop_ro("languages", [](const PyModel& m) { return m.model->languages(); })
      .def_prop_ro("format", [](const PyModel& m) { return m.model->format(); })
      .def_prop_ro(
          "precision",
          [](const PyModel& m) { return std::string(am::to_string(m.model->precision())); })
      .def_prop_ro("backend",
                   [](const PyModel& m) { return std::string(am::to_string(m.model->backend())); })
      .def_prop_ro("n_mels", [](const PyModel& m) { return m.model->n_mels(); })
      .def(
          "token_bytes",
          [](const PyModel& m, int id) {
            const std::string b = m.model->token_bytes(id);
            return nb::bytes(b.data(), b.size());
          },
          "id"_a, "A text token's bytes, or a special token's name")
      .def(
          "check", [](const PyModel& m, const O& options) { m.model->check(options); }, "options"_a,
          "Raises the engine's error naming the option if this model cannot honour them");

  nb::class_<am::Session>(m, "Session")
      .def(
          "__init__",
          [](am::Session* self, const PyModel& model, int threads) {
            new (self) am::Session(model.model, threads);
          },
          "model"_a, "threads"_a = 0)
      .def(
          "transcribe",
          [](am::Session& session, Audio audio, const O& options,
             std::function<void(const S&)> on_segment, std::function<void(const I&)> on_info,
             std::function<void(double, double)> on_progress, std::function<bool()> should_abort) {
            am::Callbacks callbacks{std::move(on_segment), std::move(on_info),
                                    std::move(on_progress), std::move(should_abort)};
            const std::vector<float> samples(audio.data(), audio.data() + audio.size());
            nb::gil_scoped_release release;
            return session.transcribe(samples, options, callbacks);
          },
          "audio"_a, "options"_a, "on_segment"_a.none() = nb::none(),
          "on_info"_a.none() = nb::none(), "on_progress"_a.none() = nb::none(),
          "should_abort"_a.none() = nb::none(),
          "16 kHz mono float32 samples -> Transcription; the callbacks run on this thread");

  m.def(
      "load_audio",
      [](const std::string& path) {
        std::vector<float> samples;
        {
          nb::gil_scoped_release release;
          samples = am::load_audio(path);
        }
        return to_numpy(std::move(samples));
      },
      "path"_a, "Any audio or video file -> 16 kHz mono float32 samples");
  m.def(
      "decode_audio",
      [](nb::bytes bytes, const std::string& name) {
        std::vector<float> samples;
        {
          nb::gil_scoped_release release;
          samples = am::decode_audio(bytes.c_str(), bytes.size(), name);
        }
        return to_numpy(std::move(samples));
      },
      "data"_a, "name"_a, "An audio file's bytes -> 16 kHz mono float32 samples");
  m.def("model_cache_dir", &am::model_cache_dir);
  m.def("language_name", &am::language_name, "code"_a);
}
