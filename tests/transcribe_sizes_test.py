#!/usr/bin/env python3
"""Every Whisper size transcribes: tiny to large-v3 and large-v3-turbo.

Real weights exist here only for tiny.en and base, so each size is a random
model at its real dimensions (mel bins, width, heads, vocabulary of 51864,
51865 or 51866 tokens, 448 positions; large-v3-turbo with its 4 decoder
layers) written by CTranslate2's own writer (model_sizes_test.py's), with a
real vocabulary: base's text tokens and the size's special tokens. Each must
load and run `amanuensis transcribe` end to end in int8 and fp32 (random
weights say nothing useful; the test is that every shape loads, decodes and
writes valid JSON; 12 tokens a window keep it short), int8 must give the
same bytes on 1 and 2 threads, and batched mode (--batch-size 2) on its one
window the sequential bytes. The sizes with new shapes (large-v3's 128 mel
bins and 100 languages, turbo's 4 decoder layers) are also served: `serve`
answers the official client's request with the CLI's transcript.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import wave

import numpy as np
import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_sizes_test as sizes  # noqa: E402
from testdata import MODELS
from checks import check, finish
from server_process import ServerProcess

LANGUAGES = ("en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu "
             "ta no th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn "
             "bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn "
             "mt sa lb my bo tl mg as tt haw ln ha ba jw su yue").split()
# name, mel bins, width, heads, saved dtype, vocabulary size, decoder layers
SIZES = [
    ("tiny.en", 80, 384, 6, "float32", 51864, 1),
    ("small", 80, 768, 12, "float16", 51865, 1),
    ("medium", 80, 1024, 16, "float32", 51865, 1),
    ("large-v2", 80, 1280, 20, "float16", 51865, 1),
    ("large-v3", 128, 1280, 20, "float16", 51866, 1),
    ("large-v3-turbo", 128, 1280, 20, "float16", 51866, 4),
]




def vocabulary(n_vocab):
    """base's text tokens, then the special tokens of a model with n_vocab."""
    text = (MODELS / "base" / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:50257]
    multilingual = n_vocab >= 51865
    if not multilingual:
        text = text[:50256]
    n_languages = n_vocab - 51765 - int(multilingual)
    tokens = text + ["<|endoftext|>", "<|startoftranscript|>"]
    tokens += ["<|%s|>" % code for code in LANGUAGES[:n_languages]]
    tokens += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
               "<|nospeech|>", "<|notimestamps|>"]
    tokens += ["<|%.2f|>" % (i * 0.02) for i in range(1501)]
    assert len(tokens) == n_vocab, (len(tokens), n_vocab)
    return tokens


def transcribe(exe, model, audio, precision, threads, batch=1):
    r = subprocess.run([exe, "transcribe", audio, "--model", model, "--precision", precision,
                        "--beam-size", "2", "--temperature", "0", "--max-new-tokens", "12", "--threads", str(threads),
                        "--batch-size", str(batch), "--output-format", "json", "--quiet"],
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr


SERVED = ("large-v3", "large-v3-turbo")


def check_served(exe, name, model, audio):
    """One request through `serve` against `transcribe` with the server's defaults. Temperature
    1 is one sampled pass (no fallback ladder), which keeps random weights' decoding short."""
    r = subprocess.run([exe, "transcribe", audio, "--model", model, "--temperature", "1",
                        "--output-format", "json", "--quiet"], capture_output=True, text=True, timeout=600)
    rc, out, err = r.returncode, r.stdout, r.stderr
    server = ServerProcess(exe, model)
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=600)
        with open(audio, "rb") as f:
            got = client.audio.transcriptions.create(model="whisper-1", file=f, temperature=1.0,
                                                     response_format="verbose_json")
        check(f"{name}: serve answers", got.duration == 2.0 and len(got.segments) > 0 and got.text.strip() != "",
              got.model_dump_json()[:300])
        cli = json.loads(out) if rc == 0 else None
        check(f"{name}: serve gives the CLI's transcript", cli is not None and
              [s.tokens for s in got.segments] == [s["tokens"] for s in cli["segments"]] and
              got.text == cli["text"], err.strip() or f"{got.text!r} against {cli and cli['text']!r}")
    finally:
        check(f"{name}: serve stops cleanly", server.stop() == 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--sizes", nargs="+", default=[s[0] for s in SIZES], help="a subset, by name")
    args = ap.parse_args()
    exe = args.amanuensis
    unknown = set(args.sizes) - {s[0] for s in SIZES}
    if unknown:
        ap.error(f"unknown sizes: {' '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        audio = os.path.join(tmp, "tone.wav")
        t = np.arange(32000) / 16000
        samples = 0.3 * np.sin(2 * np.pi * (220 + 200 * t) * t)
        with wave.open(audio, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((samples * 32767).astype("<i2").tobytes())
        for seed, (name, mels, d, heads, dtype, n_vocab, dec_layers) in enumerate(SIZES):
            if name not in args.sizes:
                continue
            model = os.path.join(tmp, name)
            sizes.write_ct2_model(model, mels, d, heads, dtype, 100 + seed, tokens=vocabulary(n_vocab),
                                  decoder_layers=dec_layers)
            outputs = {}
            for precision, threads, batch in [("fp32", 2, 1), ("int8", 2, 1), ("int8", 1, 1), ("int8", 2, 2)]:
                rc, out, err = transcribe(exe, model, audio, precision, threads, batch)
                ok = rc == 0
                try:
                    j = json.loads(out) if ok else None
                    ok = ok and isinstance(j["segments"], list) and j["duration"] == 2.0
                except (ValueError, KeyError, TypeError):
                    ok = False
                check(f"{name} ({n_vocab} tokens, {dec_layers} decoder layers) {precision} "
                      f"{threads} threads{', batched' if batch > 1 else ''}: transcribes", ok,
                      err.strip() or out[:200])
                if ok:
                    j.pop("timing")
                    outputs[(precision, threads, batch)] = j
            if ("int8", 1, 1) in outputs and ("int8", 2, 1) in outputs:
                check(f"{name}: int8 same bytes on 1 and 2 threads",
                      outputs[("int8", 1, 1)] == outputs[("int8", 2, 1)])
            if ("int8", 2, 2) in outputs and ("int8", 2, 1) in outputs:
                # One window with the same prompt: batched mode is the same search.
                check(f"{name}: batched mode gives the sequential bytes on one window",
                      outputs[("int8", 2, 2)] == outputs[("int8", 2, 1)])
            if name in SERVED:
                check_served(exe, name, model, audio)
            for f in pathlib.Path(model).iterdir():
                f.unlink()
    return finish("transcribe_sizes_test")


if __name__ == "__main__":
    sys.exit(main())
