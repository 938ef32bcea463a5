"""How the package behaves around the transcripts: segments come lazily and
stopping stops the work; one model serves several threads, each getting what
it gets alone; bad input raises the engine's one-line error (or
NotImplementedError naming an argument amanuensis does not honour), never a
crash; 30 calls do not leak."""
import ctypes
import gc
import threading

import numpy as np
import pytest

import amanuensis
import amanuensis.transcribe as package_transcribe
from conftest import JFK, LONG


@pytest.fixture
def windows_asked(monkeypatch):
    """How many times the engine asked whether to go on (once before each window)."""
    count = [0]
    original = package_transcribe._Run._should_abort

    def counting(self):
        count[0] += 1
        return original(self)
    monkeypatch.setattr(package_transcribe._Run, "_should_abort", counting)
    return count


def wait_for_workers():
    for t in threading.enumerate():
        if t.name == "amanuensis-transcribe":
            t.join(timeout=60)
            assert not t.is_alive(), "a transcription did not stop"


def test_work_happens_as_the_caller_iterates(tiny, windows_asked):
    segments, info = tiny.transcribe(str(LONG), beam_size=1)
    assert info.duration > 200
    first = next(segments)
    assert first.start == 0.0
    asked = windows_asked[0]
    assert asked <= 2  # the first window, and the wait before the second
    segments.close()  # stopping early stops the work
    wait_for_workers()
    assert windows_asked[0] <= asked + 1


def test_a_dropped_generator_stops_the_work(tiny, windows_asked):
    segments, _ = tiny.transcribe(str(LONG), beam_size=1)
    del segments
    gc.collect()
    wait_for_workers()
    assert windows_asked[0] <= 2


def test_whole_run_asks_once_a_window(tiny, windows_asked):
    segments, _ = tiny.transcribe(str(LONG), beam_size=1)
    assert len(list(segments)) > 10
    assert windows_asked[0] >= 8  # 3.8 minutes: at least 8 windows


def test_one_model_four_threads():
    """One model, four Python threads at once (num_workers=4): each thread's
    transcript is the one a lone call gives."""
    model = amanuensis.WhisperModel("tiny.en", cpu_threads=1, num_workers=4)
    clips = [str(JFK), str(LONG)]

    def run(clip):
        segments, _ = model.transcribe(clip, beam_size=1)
        return [(s.text, s.start, s.end, s.tokens, s.avg_logprob) for s in segments]
    alone = {clip: run(clip) for clip in clips}
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, run(clips[i % 2])))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    for i in range(4):
        assert results[i] == alone[clips[i % 2]], i
    assert len(model._idle_sessions) >= 2  # the two long ones overlapped, each on its own session


def test_bad_input_raises_the_engines_error(tiny, tmp_path):
    with pytest.raises(amanuensis.InvalidInputError, match="unknown language code 'xx'") as e:
        tiny.transcribe(str(JFK), language="xx")
    assert e.value.option == "language" and isinstance(e.value, ValueError)
    with pytest.raises(amanuensis.UnsupportedError, match="English-only") as e:
        tiny.transcribe(str(JFK), task="translate")
    assert e.value.option == "task" and isinstance(e.value, NotImplementedError)
    with pytest.raises(amanuensis.InvalidInputError, match="beam size"):
        tiny.transcribe(str(JFK), beam_size=0)
    with pytest.raises(amanuensis.InvalidInputError, match="temperature"):
        tiny.transcribe(str(JFK), temperature=[])
    with pytest.raises(amanuensis.InvalidInputError):
        tiny.transcribe(str(tmp_path / "missing.wav"))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    with pytest.raises(amanuensis.InvalidInputError, match="junk.wav"):
        tiny.transcribe(str(junk))
    with pytest.raises(amanuensis.InvalidInputError):
        amanuensis.decode_audio(open(junk, "rb"))
    samples = amanuensis.decode_audio(str(JFK))
    samples[100] = np.nan
    with pytest.raises(amanuensis.InvalidInputError, match="sample 100 is not a finite number"):
        list(tiny.transcribe(samples)[0])
    with pytest.raises(ValueError, match="1-D"):
        tiny.transcribe(np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="float"):
        tiny.transcribe(np.zeros(16000, np.int16))
    with pytest.raises(TypeError):
        tiny.transcribe(12345)


def test_empty_and_tiny_audio(tiny):
    for n in (0, 10, 1600):
        segments, info = tiny.transcribe(np.zeros(n, np.float32))
        assert list(segments) == [] and info.duration == n / 16000 and info.language == "en"


@pytest.mark.parametrize("kwargs,name", [
    ({"multilingual": True}, "multilingual"),
    ({"chunk_length": 20}, "chunk_length"),
    ({"clip_timestamps": [1.0, 5.0]}, "clip_timestamps"),
    ({"language_detection_segments": 2}, "language_detection_segments"),
    ({"initial_prompt": [1, 2, 3]}, "initial_prompt"),
])
def test_unsupported_arguments_are_named(tiny, kwargs, name):
    with pytest.raises(NotImplementedError, match=name):
        tiny.transcribe(str(JFK), **kwargs)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="CPU only"):
        amanuensis.WhisperModel("tiny.en", device="cuda")
    with pytest.raises(ValueError, match="compute_type"):
        amanuensis.WhisperModel("tiny.en", compute_type="int4")
    with pytest.raises(amanuensis.ModelError, match="no-such-size"):
        amanuensis.WhisperModel("no-such-size")
    with pytest.raises(amanuensis.ModelError, match="'/nonexistent': no such folder or file"):
        amanuensis.WhisperModel("/nonexistent")  # a path, not a size to fetch
    with pytest.raises(NotImplementedError, match="revision"):
        amanuensis.WhisperModel("tiny.en", revision="main")
    with pytest.raises(NotImplementedError, match="flash_attention"):
        amanuensis.WhisperModel("tiny.en", flash_attention=True)


def test_corrupt_model_folder(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\x00" * 100)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(amanuensis.ModelError):
        amanuensis.WhisperModel(str(tmp_path))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def malloc_in_use():
    """Bytes malloc has handed out and not had back, over all threads' arenas
    (glibc's mallinfo2): exact where RSS moves in steps of whole pages and
    arenas, so a few calls show a leak of a few kilobytes a call."""
    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_no_leak_over_30_calls(tiny):
    audio = amanuensis.decode_audio(str(JFK))[:32000]  # 2 s: one short window
    def call():
        segments, _ = tiny.transcribe(audio, beam_size=1, word_timestamps=True)
        return [s.text for s in segments]
    for _ in range(10):  # the caches and pools reach their size
        call()
    gc.collect()
    before, before_rss = malloc_in_use(), rss_kib()
    for _ in range(30):
        call()
    gc.collect()
    # Measured on a build without leaks: within +-3 KiB over 50 calls. A leak
    # of 4 KiB a call or more fails.
    grown, grown_rss = malloc_in_use() - before, rss_kib() - before_rss
    assert grown < 30 * 4096, f"malloc'd memory grew {grown} bytes over 30 calls"
    assert grown_rss < 8 * 1024, f"RSS grew {grown_rss} KiB over 30 calls"
    wait_for_workers()  # every run's thread ends


def in_thread(f, timeout=300):
    """f() on another thread; a hang fails the test instead of holding it."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", f()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "hung"
    return result["value"]


def test_pending_generators_do_not_hold_the_only_worker():
    """num_workers=1: a generator that is not iterated (yet) waits without
    holding the model's one worker, so the next call, a language detection
    and then the first generator all finish, on one thread."""
    model = amanuensis.WhisperModel("base", cpu_threads=2, num_workers=1)

    def program():
        first, info = model.transcribe(str(JFK), beam_size=1)
        second, _ = model.transcribe(str(LONG), beam_size=1)
        language = model.detect_language(amanuensis.decode_audio(str(JFK)))[0]
        return info.language, language, next(second).start, [s.text for s in first]
    language, detected, start, texts = in_thread(program)
    assert language == detected == "en" and start == 0.0
    assert "ask not what your country can do for you" in "".join(texts)
