#!/usr/bin/env python3
"""Transcripts against independent references.

jfk.wav with tiny.en and base, int8 and fp32, greedy and beam 5:
  * every configuration gives the reference words (Whisper's English text
    normalizer on both sides);
  * our fp32 path gives faster-whisper float32's transcript character for
    character, with the same segment times, same model and beam;
  * the int8 path gives the same bytes with 1 and 2 threads.
"""
import argparse
import json
import pathlib
import subprocess
import sys

from faster_whisper import WhisperModel
from whisper_normalizer.english import EnglishTextNormalizer
from testdata import JFK, MODELS
from checks import check, finish

REPO = pathlib.Path(__file__).resolve().parent.parent
JFK_WORDS = ("And so my fellow Americans, ask not what your country can do for you, "
             "ask what you can do for your country.")




def ours(exe, model, audio, precision, beam, threads=2):
    r = subprocess.run([exe, "transcribe", str(audio), "--model", str(model), "--precision",
                        precision, "--beam-size", str(beam), "--threads", str(threads),
                        "--output-format", "json", "--quiet"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"amanuensis failed: {r.stderr}")
    return json.loads(r.stdout)


def reference(model, audio, beam):
    segments, info = model.transcribe(str(audio), beam_size=beam)
    return [(s.start, s.end, s.text) for s in segments], info.language


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis
    normalize = EnglishTextNormalizer()
    for name in ["tiny.en", "base"]:
        folder = MODELS / name
        fw = WhisperModel(str(folder), device="cpu", compute_type="float32", cpu_threads=2)
        for beam in [1, 5]:
            ref_segments, ref_language = reference(fw, JFK, beam)
            ref_text = "".join(t for _, _, t in ref_segments)
            for precision in ["fp32", "int8"]:
                tag = f"{name} {precision} beam {beam}"
                got = ours(exe, folder, JFK, precision, beam)
                check(f"{tag}: the reference words", normalize(got["text"]) == normalize(JFK_WORDS),
                      got["text"])
                check(f"{tag}: language", got["language"] == ref_language, got["language"])
                if precision == "fp32":
                    check(f"{tag}: faster-whisper float32's text", got["text"] == ref_text,
                          f"ours {got['text']!r}, faster-whisper {ref_text!r}")
                    times = [(s["start"], s["end"]) for s in got["segments"]]
                    ref_times = [(round(a, 3), round(b, 3)) for a, b, _ in ref_segments]
                    check(f"{tag}: faster-whisper float32's segment times", times == ref_times,
                          f"ours {times}, faster-whisper {ref_times}")
                else:
                    one = ours(exe, folder, JFK, precision, beam, threads=1)
                    strip = lambda j: {k: v for k, v in j.items() if k != "timing"}
                    check(f"{tag}: same bytes on 1 and 2 threads", strip(one) == strip(got))
    return finish("transcribe_accuracy")


if __name__ == "__main__":
    sys.exit(main())
