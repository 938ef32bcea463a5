"""faster-whisper 1.2's API, argument for argument: every public callable has
faster-whisper's parameters in the same order with the same defaults, and the
result types have its fields."""
import dataclasses
import inspect

import faster_whisper
import faster_whisper.transcribe as fw_transcribe
import faster_whisper.vad as fw_vad
import pytest

import amanuensis

CALLABLES = [
    ("WhisperModel.__init__", lambda m: m.WhisperModel.__init__),
    ("WhisperModel.transcribe", lambda m: m.WhisperModel.transcribe),
    ("WhisperModel.detect_language", lambda m: m.WhisperModel.detect_language),
    ("BatchedInferencePipeline.__init__", lambda m: m.BatchedInferencePipeline.__init__),
    ("BatchedInferencePipeline.transcribe", lambda m: m.BatchedInferencePipeline.transcribe),
    ("decode_audio", lambda m: m.decode_audio),
    ("download_model", lambda m: m.download_model),
    ("available_models", lambda m: m.available_models),
    ("format_timestamp", lambda m: m.format_timestamp),
]


def parameters(f):
    return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]


@pytest.mark.parametrize("name,get", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_same_parameters_order_and_defaults(name, get):
    assert parameters(get(amanuensis)) == parameters(get(faster_whisper))


@pytest.mark.parametrize("ours,theirs", [
    (amanuensis.Segment, fw_transcribe.Segment),
    (amanuensis.Word, fw_transcribe.Word),
    (amanuensis.TranscriptionInfo, fw_transcribe.TranscriptionInfo),
    (amanuensis.TranscriptionOptions, fw_transcribe.TranscriptionOptions),
    (amanuensis.VadOptions, fw_vad.VadOptions),
], ids=lambda c: c.__name__)
def test_same_result_fields(ours, theirs):
    def fields(c):
        return [(f.name, f.default) for f in dataclasses.fields(c)]
    assert fields(ours) == fields(theirs)


def test_every_public_name_of_faster_whisper():
    for name in faster_whisper.__all__:
        assert hasattr(amanuensis, name), name
    assert set(faster_whisper.available_models()) == set(amanuensis.available_models())


@pytest.mark.parametrize("args", [(0.0,), (1.2344,), (61.5,), (3725.0125, True), (9.5, False, ",")])
def test_format_timestamp(args):
    assert amanuensis.format_timestamp(*args) == faster_whisper.format_timestamp(*args)


def test_model_attributes(tiny):
    assert tiny.supported_languages == ["en"]  # English-only, as faster-whisper says it
    assert tiny.feature_extractor.sampling_rate == 16000
    assert tiny.feature_extractor.n_samples == 480000
    assert tiny.model.is_multilingual is False
    assert tiny.frames_per_second == 100 and tiny.tokens_per_second == 50


def test_multilingual_languages(base_int8):
    assert base_int8.model.is_multilingual
    assert len(base_int8.supported_languages) == 99 and "de" in base_int8.supported_languages
