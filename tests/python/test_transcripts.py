"""Transcripts through Python against independent references and the CLI:
float32 gives faster-whisper float32's text and segment times (up to the
first sampled window); int8 gives the CLI's JSON (segments, tokens, figures,
words) byte for byte, in the sequential and the batched mode; every kind of
audio argument gives the same result."""
import io

import numpy as np
import pytest
from faster_whisper import WhisperModel as FwModel

import amanuensis
from conftest import JFK, LONG, MODELS, cli_json, dev_clips


def as_cli(segments, info, words=False):
    """Our Python results in the CLI's JSON terms."""
    out = []
    for s in segments:
        d = {"id": s.id, "seek": s.seek, "start": s.start, "end": s.end, "text": s.text,
             "tokens": s.tokens, "temperature": s.temperature, "avg_logprob": s.avg_logprob,
             "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
        if words:
            d["words"] = [{"start": w.start, "end": w.end, "word": w.word,
                           "probability": w.probability} for w in s.words]
        out.append(d)
    return out, info.language


def same_as_cli(ours, cli, words=False):
    segments, language = ours
    assert language == cli["language"]
    assert len(segments) == len(cli["segments"])
    for got, want in zip(segments, cli["segments"]):
        for key, value in got.items():
            if key == "words":
                assert len(value) == len(want["words"])
                for w, v in zip(value, want["words"]):
                    assert w["word"] == v["word"]
                    assert w["start"] == pytest.approx(v["start"], abs=5e-4)
                    assert w["end"] == pytest.approx(v["end"], abs=5e-4)
                    assert w["probability"] == pytest.approx(v["probability"], rel=1e-4)
            elif isinstance(value, float):  # the JSON rounds what it prints
                assert value == pytest.approx(want[key], rel=1e-4, abs=5e-4), key
            else:
                assert value == want[key], key


@pytest.mark.parametrize("clip", [JFK] + dev_clips()[::4], ids=lambda p: p.name)
def test_int8_equals_the_cli(base_int8, clip):
    segments, info = base_int8.transcribe(str(clip))
    same_as_cli(as_cli(segments, info), cli_json(clip, "--threads", "2"))


def test_int8_word_timestamps_and_vad_equal_the_cli(base_int8):
    clip = JFK
    segments, info = base_int8.transcribe(str(clip), word_timestamps=True, vad_filter=True,
                                          vad_parameters=dict(min_silence_duration_ms=500))
    cli = cli_json(clip, "--threads", "2", "--word-timestamps", "--word-starts", "attention",
                   "--vad", "--vad-min-silence-ms", "500")
    same_as_cli(as_cli(segments, info, words=True), cli, words=True)
    assert info.duration_after_vad < info.duration


def test_batched_pipeline_equals_the_cli_batched_mode(base_int8):
    # faster-whisper's batched defaults: VAD on, cut at 160 ms silences, no timestamps.
    pipeline = amanuensis.BatchedInferencePipeline(base_int8)
    segments, info = pipeline.transcribe(str(LONG), batch_size=8)
    cli = cli_json(LONG, "--threads", "2", "--batch-size", "8", "--vad", "--vad-min-silence-ms",
                   "160", "--without-timestamps")
    same_as_cli(as_cli(segments, info), cli)
    segments, info = pipeline.transcribe(str(LONG), batch_size=3, without_timestamps=False,
                                         vad_parameters={"min_silence_duration_ms": 500})
    cli = cli_json(LONG, "--threads", "2", "--batch-size", "3", "--vad",
                   "--vad-min-silence-ms", "500")
    same_as_cli(as_cli(segments, info), cli)


def test_batched_prefix_starts_the_first_chunk_only(base_int8):
    """The prefix begins the recording's text and nowhere else: chunks are
    independent, so every other chunk's segments are those of the run
    without it (faster-whisper 1.2.1's batched pipeline ignores the prefix)."""
    pipeline = amanuensis.BatchedInferencePipeline(base_int8)
    plain = list(pipeline.transcribe(str(LONG), batch_size=8)[0])
    prefixed = list(pipeline.transcribe(str(LONG), batch_size=8, prefix="Printing, it is")[0])
    assert prefixed[0].text.startswith(" Printing, it is")
    assert not plain[0].text.startswith(" Printing, it is")
    later = [(s.start, s.text, s.tokens) for s in plain if s.start >= plain[1].start]
    assert [(s.start, s.text, s.tokens) for s in prefixed if s.start >= plain[1].start] == later
    assert sum(" Printing, it is" in s.text for s in prefixed) == 1


def test_audio_as_path_file_object_and_samples_is_the_same(tiny):
    def texts(audio):
        segments, _ = tiny.transcribe(audio, beam_size=1)
        return [(s.text, s.start, s.end, s.tokens) for s in segments]
    by_path = texts(str(JFK))
    with open(JFK, "rb") as f:
        assert texts(f) == by_path
    assert texts(io.BytesIO(JFK.read_bytes())) == by_path
    samples = amanuensis.decode_audio(str(JFK))
    assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) == 176000
    assert texts(samples) == by_path
    assert texts(samples.astype(np.float64)) == by_path


def fp32_clips():
    """Every clip not in English and every fifth English one: all 34 take CI
    3.5 minutes (and all agreed when this was written)."""
    english = [p for p in dev_clips() if p.name.startswith("en_")]
    return [JFK] + [p for p in dev_clips() if not p.name.startswith("en_")] + english[::5]


@pytest.mark.parametrize("clip", fp32_clips(), ids=lambda p: p.name)
def test_float32_equals_faster_whisper_float32(fp32_models, clip):
    ours, theirs = fp32_models
    segments, info = ours.transcribe(str(clip))
    reference, reference_info = theirs.transcribe(str(clip))
    assert info.language == reference_info.language
    # One difference, by design: a timestamp that Whisper puts past the end of
    # the audio (a short clip's window is mostly padding) ends with the audio.
    end = reference_info.duration
    ours_, theirs_ = greedy_part(segments), greedy_part(reference)
    assert [(s.text, s.start, s.end) for s in ours_[0]] == \
           [(s.text, min(s.start, end), min(s.end, end)) for s in theirs_[0]]
    assert ours_[1] == theirs_[1]


# faster-whisper's prefix (CTranslate2 forces <|0.00|> and its tokens as the
# start of the first window's result: in its text, its length and segments,
# not its log-probability) and CTranslate2's length limit (half the text
# context, or what fits after the prompt), checked where a window runs to it:
# eot suppressed.
PREFIX_AND_LIMIT = [
    ("base", dict(prefix="And so my")),
    ("base", dict(prefix="And so my", beam_size=1, word_timestamps=True)),
    ("base", dict(prefix="and so my", without_timestamps=True)),
    ("tiny.en", dict(prefix="And so my")),
    ("tiny.en", dict(suppress_tokens=[-1, 50256], temperature=0, without_timestamps=True)),
    ("tiny.en", dict(suppress_tokens=[-1, 50256], temperature=0,
                     initial_prompt=" ".join(["hello world"] * 150))),
]


@pytest.mark.parametrize("name,options", PREFIX_AND_LIMIT,
                         ids=[f"{n}-{'-'.join(o)}" for n, o in PREFIX_AND_LIMIT])
def test_float32_prefix_and_length_limit_equal_faster_whisper(fp32_pairs, name, options):
    ours, theirs = fp32_pairs[name]
    got = list(ours.transcribe(str(JFK), **options)[0])
    want = list(theirs.transcribe(str(JFK), **options)[0])
    assert [(s.tokens, s.text, s.start, s.end) for s in got] == \
           [(s.tokens, s.text, round(s.start, 3), round(s.end, 3)) for s in want]
    assert [s.avg_logprob for s in got] == pytest.approx([s.avg_logprob for s in want], abs=1e-3)
    if "prefix" in options:
        assert got[0].text.startswith(" " + options["prefix"])
    else:
        assert sum(len(s.tokens) for s in got) == 224  # the limit, not the context's 448
    words = lambda segments: [(w.word, w.start, w.end) for s in segments for w in s.words or []]
    assert words(got) == words(want)


@pytest.fixture(scope="module")
def fp32_pairs():
    return {name: (amanuensis.WhisperModel(name, compute_type="float32", cpu_threads=2),
                   FwModel(str(MODELS / name), device="cpu", compute_type="float32",
                           cpu_threads=2))
            for name in ("base", "tiny.en")}


def greedy_part(segments):
    """(the segments before the first sampled window, where that window starts).
    A window that falls back to temperature > 0 holds random samples, drawn
    by faster-whisper from CTranslate2's generator (not seeded by it, not
    ours), and every later window is conditioned on them: the comparison ends
    there, but both sides must have fallen back at the same place (that
    decision comes from the window's greedy pass)."""
    segments = list(segments)
    for i, s in enumerate(segments):
        if s.temperature > 0:
            return segments[:i], s.seek
    return segments, None


@pytest.fixture(scope="module")
def fp32_models():
    return (amanuensis.WhisperModel("base", compute_type="float32", cpu_threads=2),
            FwModel(str(MODELS / "base"), device="cpu", compute_type="float32", cpu_threads=2))


def test_detect_language(base_int8):
    clip = next(p for p in dev_clips() if p.name.startswith("de_"))
    language, probability, ranked = base_int8.detect_language(amanuensis.decode_audio(str(clip)))
    assert language == "de" and 0.5 < probability <= 1.0
    assert ranked[0] == (language, probability) and len(ranked) == 99
    _, info = base_int8.transcribe(str(clip))
    assert (info.language, info.language_probability) == (language, probability)
    assert info.all_language_probs == ranked


def test_info_describes_the_run(base_int8):
    segments, info = base_int8.transcribe(str(JFK), language="en", temperature=0.0,
                                          log_prob_threshold=None)
    list(segments)
    assert info.language == "en" and info.language_probability == 1.0
    assert info.all_language_probs is None  # given, not detected (as faster-whisper)
    assert info.duration == pytest.approx(11.0)
    assert info.transcription_options.temperatures == [0.0]
    assert info.transcription_options.log_prob_threshold is None
    assert info.vad_options is None  # no VAD, no options given: as faster-whisper
    segments, info = base_int8.transcribe(str(JFK), vad_filter=True,
                                          vad_parameters={"min_silence_duration_ms": 500})
    assert {s.temperature for s in segments} == {0.0}
    assert info.vad_options == amanuensis.VadOptions(min_silence_duration_ms=500)
    assert info.transcription_options.temperatures == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_temperatures_are_the_callers_values(tiny):
    # The engine samples at float32's 0.2 (0.20000000298...); the segment says 0.2.
    segments, info = tiny.transcribe(str(JFK), temperature=0.2, best_of=2)
    segments = list(segments)
    assert segments and [s.temperature for s in segments] == [0.2] * len(segments)
    assert info.transcription_options.temperatures == [0.2]
