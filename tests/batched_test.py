#!/usr/bin/env python3
"""Batched mode (`--batch-size N`) end to end with base: a chunk's transcript
does not depend on the batch it was decoded in. The same JSON (segments,
words, figures) for batch sizes 2, 3 and 8 and for 1 and 2 threads, on the
3.8-minute development file, with and without Silero VAD chunks and word
timestamps; a clip of one window gives the sequential pipeline's bytes (one
window with the same prompt is the same search); segments come back in
order on the original timeline; digital silence is not decoded in either
mode; several files in one call give each file's own bytes; each VAD chunk is heard in one window; and bad batch sizes are
refused."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from testdata import JFK, MODELS, SPEECH
from checks import check, finish

LONG = SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"


def transcribe(exe, path, *args, threads=2):
    r = subprocess.run([exe, "transcribe", str(path), "--model", str(MODELS / "base"),
                        "--output-format", "json", "--quiet", "--threads", str(threads), *args],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, r.stderr
    out = json.loads(r.stdout)
    out.pop("timing", None)  # wall time: the only field that may differ
    return out, r.stderr


def in_order(result, duration):
    last_end = 0.0
    for s in result["segments"]:
        if not (last_end - 1e-6 <= s["start"] <= s["end"] <= duration + 1e-6):
            return f"segment {s['id']} [{s['start']}, {s['end']}] after {last_end}"
        for w in s.get("words", []):
            if not (s["start"] - 1e-6 <= w["start"] <= w["end"] <= s["end"] + 1e-6):
                return f"word {w['word']!r} [{w['start']}, {w['end']}] outside its segment"
        last_end = s["end"]
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis

    batch8 = {}  # per label, the run the others are compared with
    for label, extra in [("30 s windows", []), ("VAD chunks, words", ["--vad", "--word-timestamps"])]:
        runs = {}
        # Batch size and thread count each vary (one run fewer than their product).
        for batch, threads in [(2, 2), (3, 1), (8, 2)]:
            runs[(batch, threads)], err = transcribe(exe, LONG, "--batch-size", str(batch), *extra,
                                                     threads=threads)
            check(f"{label}: batch {batch}, {threads} threads runs", runs[(batch, threads)] is not None,
                  err)
        base = batch8[label] = runs[(8, 2)]
        if base is None:
            continue
        for key, r in runs.items():
            check(f"{label}: batch {key[0]}, {key[1]} threads gives batch 8's bytes", r == base)
        check(f"{label}: several segments", len(base["segments"]) >= 10, len(base["segments"]))
        problem = in_order(base, base["duration"])
        check(f"{label}: segments in order on the original timeline", not problem, problem)
        ids = [s["id"] for s in base["segments"]]
        check(f"{label}: ids count up from 1", ids == list(range(1, len(ids) + 1)), ids[:5])
        words = base["text"].lower()
        check(f"{label}: hears the start and the end of the file",
              "printing" in words and "the earliest book" in words, words[:200])
        if "--vad" in extra:
            # The file's VAD chunks are 26-29 s of speech each, and base ends
            # most of them early: eot waits for the speech's end, so each
            # chunk is heard in one window (a second one, at the early end,
            # would start 2-7 s before the next chunk's).
            starts = sorted({s["seek"] for s in base["segments"]})
            gaps = [b - a for a, b in zip(starts, starts[1:])]
            check(f"{label}: one window a chunk (windows >= 20 s apart)",
                  len(starts) >= 8 and min(gaps) >= 2000, starts)

    # One window: the batched prompt is the sequential one, so the same search.
    for extra in [[], ["--word-timestamps"]]:
        seq, err = transcribe(exe, JFK, *extra)
        bat, err2 = transcribe(exe, JFK, "--batch-size", "4", *extra)
        check(f"jfk {' '.join(extra)}: batched equals sequential",
              seq is not None and seq == bat, err + err2)

    # Digital silence is not decoded in either mode (Whisper would say " you").
    import numpy as np
    import soundfile as sf
    with tempfile.TemporaryDirectory() as tmp:
        silent = os.path.join(tmp, "silent40.wav")
        sf.write(silent, np.zeros(40 * 16000, np.float32), 16000, subtype="PCM_16")
        jfk_then_silence = os.path.join(tmp, "jfk_then_silence.wav")
        jfk, rate = sf.read(str(JFK), dtype="float32")
        sf.write(jfk_then_silence, np.concatenate([jfk, np.zeros(35 * rate, np.float32)]), rate,
                 subtype="PCM_16")
        for args in [[], ["--batch-size", "4"]]:
            r, err = transcribe(exe, silent, *args)
            check(f"40 s of digital silence {' '.join(args)}: no segments, language en at 0",
                  r is not None and r["segments"] == [] and r["language"] == "en"
                  and r["language_probability"] == 0, err if r is None else r)
        # The language is detected on the first window with sound (Whisper names
        # one for silence too).
        spanish = os.path.join(tmp, "silence_then_spanish.wav")
        es, rate = sf.read(str(SPEECH / "es_picovoice_test_es.wav"), dtype="float32")
        sf.write(spanish, np.concatenate([np.zeros(35 * rate, np.float32), es]), rate, subtype="PCM_16")
        r, err = transcribe(exe, spanish)
        check("35 s of digital silence, then Spanish: detected as es",
              r is not None and r["language"] == "es", err if r is None else r["language"])
        seq, err = transcribe(exe, jfk_then_silence)
        bat, err2 = transcribe(exe, jfk_then_silence, "--batch-size", "4")
        check("jfk.wav then 35 s of digital silence: batched equals sequential (nothing after jfk)",
              seq is not None and seq == bat and len(seq["segments"]) == 1,
              err + err2 if seq is None or bat is None else [seq["segments"], bat["segments"]])

    # Several files in one call: their chunks share the batches, each file's JSON is its own.
    files = [LONG, JFK, SPEECH / "es_picovoice_test_es.wav"]
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([exe, "transcribe", *map(str, files), "--model", str(MODELS / "base"),
                            "--batch-size", "8", "--vad", "--word-timestamps", "--output-format", "json",
                            "--output-dir", out, "--quiet"], capture_output=True, text=True, timeout=600)
        check("three files in one batched call", r.returncode == 0, r.stderr)
        for f in files:
            # The long file alone was run above, with these options.
            alone, err = (batch8["VAD chunks, words"], "") if f == LONG else \
                transcribe(exe, f, "--batch-size", "8", "--vad", "--word-timestamps")
            path = os.path.join(out, f.stem + ".json")
            together = json.load(open(path)) if os.path.exists(path) else None
            if together:
                together.pop("timing", None)
            check(f"{f.name}: batched with the others = batched alone", together == alone, err)

    for bad in ["0", "65", "x"]:
        r, err = transcribe(exe, JFK, "--batch-size", bad)
        check(f"--batch-size {bad} is refused with a message", r is None and "batch" in err, err)
    r, err = transcribe(exe, JFK, "--batch-size", "2", "--word-timestamps",
                        "--hallucination-silence-threshold", "2")
    check("batched mode refuses the hallucination skip", r is None and "hallucination" in err, err)
    return finish("batched_test")


if __name__ == "__main__":
    sys.exit(main())
