#!/usr/bin/env python3
"""`amanuensis stream` end to end with tiny.en: a file, the same audio as raw
s16le and f32le on stdin (the same text, since the events do not depend on
how the audio arrives), JSON events that add up to the text, real-time pace,
empty input, and a one-line error with a non-zero exit on bad input."""
import argparse
import json
import os
import subprocess
import sys
import time
import wave

import numpy as np
from testdata import JFK, MODELS, SPEECH
from checks import check, finish


def run(exe, model, *args, stdin=b"", timeout=120):
    return subprocess.run([exe, "stream", *args, "--model", model, "--threads", "2"], input=stdin,
                          capture_output=True, timeout=timeout)


def pcm16(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = os.path.abspath(ap.parse_args().amanuensis)
    model = str(MODELS / "tiny.en")  # scripts/setup.sh fetches it
    if not os.path.isdir(model):
        check("tiny.en is fetched (python3 scripts/fetch_models.py tiny.en)", False, model)
        return finish("stream_cli_test")

    r = run(exe, model, str(JFK))
    text = r.stdout.decode()
    check("file: exit 0, one line of text", r.returncode == 0 and text.count("\n") == 1, r)
    check("file: the speech", "ask not what your country can do for you" in text.lower()
          .replace(",", "").replace(".", ""), text)
    raw = pcm16(JFK)
    r = run(exe, model, "-", stdin=raw)
    check("stdin s16le: the file's text", r.returncode == 0 and r.stdout.decode() == text, r)
    f32 = (np.frombuffer(raw, "<i2").astype(np.float32) / 32768).astype("<f4").tobytes()
    r = run(exe, model, "--format", "f32le", "--chunk-ms", "37", stdin=f32)
    check("stdin f32le, other chunks: the file's text", r.returncode == 0 and
          r.stdout.decode() == text, r)

    r = run(exe, model, str(JFK), "--jsonl")
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    commits = "".join(w["word"] for e in events if e["type"] == "commit" for w in e["words"])
    check("jsonl: commit events add up to the text", r.returncode == 0 and
          commits == text.rstrip("\n"), (commits, text))
    partial_audio = [e["audio"] for e in events if e["type"] == "partial"]
    check("jsonl: a hypothesis every second, the last at the end, with nothing tentative, "
          "then the turn's end", partial_audio[:3] == [1.0, 2.0, 3.0] and
          partial_audio[-1] == 11.0 and len(events) > 2 and
          events[-2] == {**events[-2], "type": "partial", "text": ""} and
          events[-1] == {**events[-1], "type": "turn_end", "end": 11.0}, events[-3:])
    check("jsonl: each word committed after the audio that confirmed it", all(
        w["end"] <= e["audio"] + 1e-9 for e in events if e["type"] == "commit" for w in e["words"]))

    # --turns: 1 s of silence, jfk.wav, 3 s, jfk.wav, 1 s: Silero VAD ends a
    # turn at each long pause (1.5 s: past jfk.wav's own), a line each.
    silence = np.zeros(16000, "<i2").tobytes()
    two = silence + raw + silence * 3 + raw + silence
    r = run(exe, model, "-", "--turns", "--silence", "1.5", "--jsonl", stdin=two)
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    kinds = [e["type"] for e in events if e["type"] in ("speech_started", "turn_end")]
    check("--turns: two turns, each started and ended", r.returncode == 0 and
          kinds == ["speech_started", "turn_end"] * 2, (kinds, r.stderr[-300:]))
    starts = [e["start"] for e in events if e["type"] == "speech_started"]
    check("--turns: speech starts where each jfk.wav does", len(starts) == 2 and
          abs(starts[0] - 1.0) < 0.6 and abs(starts[1] - 15.0) < 0.6, starts)
    r = run(exe, model, "-", "--turns", "--silence", "1.5", stdin=two)
    lines = r.stdout.decode().splitlines()
    check("--turns: a line a turn, each with the speech", r.returncode == 0 and len(lines) == 2 and
          all("your country" in line for line in lines), lines)

    short = SPEECH / "en_librispeech_3752-4944-0002.flac"  # 3.2 s
    start = time.monotonic()
    r = run(exe, model, str(short), "--realtime")
    took = time.monotonic() - start
    check("--realtime: no faster than the audio", r.returncode == 0 and took >= 3.2, took)

    r = run(exe, model, "-", stdin=b"")
    check("empty stdin: exit 0, no text", r.returncode == 0 and r.stdout == b"", r)
    for name, args, needle in [
            ("bad --format", ["--format", "u8"], "--format"),
            ("bad --step", [str(JFK), "--step", "0"], "--step must be"),
            ("bad --trim", [str(JFK), "--trim", "0"], "--trim must be from --step"),
            ("bad --silence", [str(JFK), "--turns", "--silence", "-1"], "--silence must be"),
            ("bad --chunk-ms", [str(JFK), "--chunk-ms", "0"], "--chunk-ms"),
            ("bad --temperature", [str(JFK), "--temperature", "0,-1"], "temperature"),
            ("missing file", ["/nonexistent.wav"], "nonexistent"),
            ("not audio", [__file__], "stream_cli_test.py"),
            ("English-only model, other language", [str(JFK), "--language", "de"], "de")]:
        r = run(exe, model, *args)
        err = r.stderr.decode()
        check(f"{name}: exit 1, one line naming it", r.returncode == 1 and err.count("\n") == 1
              and needle in err and r.stdout == b"", (r.returncode, err, r.stdout[:200]))
    return finish("stream_cli_test")


if __name__ == "__main__":
    sys.exit(main())
