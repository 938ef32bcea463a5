#!/usr/bin/env python3
"""The CLI on bad input: a one-line error on stderr and a non-zero exit, never a
crash. Also checks that good input works and that bench --json has its keys."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from testdata import dev_tool, write_wav
from checks import check, finish





def run(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def expect_error(exe, name, args, needle):
    r = run(exe, *args)
    lines = r.stderr.strip().splitlines()
    check(name, r.returncode > 0 and len(lines) == 1 and needle in r.stderr,
          f"rc={r.returncode} stderr={r.stderr!r}")




def check_mel(exe, d):
    p = lambda n: os.path.join(d, n)
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
    write_wav(p("tone.wav"), tone)
    write_wav(p("none.wav"), [])
    nan = tone.copy()
    nan[100] = np.nan
    write_wav(p("nan.wav"), nan, float32=True)
    with open(p("tone.wav"), "rb") as f:
        raw = f.read()
    with open(p("cut.wav"), "wb") as f:
        f.write(raw[: len(raw) // 2])
    with open(p("text.wav"), "w") as f:
        f.write("not audio, just words\n")
    open(p("empty.wav"), "wb").close()

    mel = lambda audio, *more: ["mel", "--audio", p(audio), "--out", p("mel.npy"), *more]
    expect_error(exe, "mel: missing file", mel("nope.wav"), "cannot open")
    expect_error(exe, "mel: empty file", mel("empty.wav"), "empty")
    expect_error(exe, "mel: text file", mel("text.wav"), "not a readable audio file")
    expect_error(exe, "mel: no samples", mel("none.wav"), "no audio samples")
    expect_error(exe, "mel: truncated WAV", mel("cut.wav"), "truncated")
    expect_error(exe, "mel: NaN sample", mel("nan.wav"), "NaN")
    expect_error(exe, "mel: bad --n-mels", mel("tone.wav", "--n-mels", "64"), "--n-mels")
    expect_error(exe, "mel: unwritable output",
                 mel("tone.wav")[:-1] + ["/nonexistent/dir/mel.npy"], "cannot create")
    # FFmpeg's libraries (and their ~120 dependencies) load only for a file
    # libsndfile cannot read: the dynamic loader lists what it opens.
    loaded = lambda audio: subprocess.run(
        [exe, *mel(audio)], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, LD_DEBUG="files")).stderr
    check("mel: a WAV does not load FFmpeg", "libavformat" not in loaded("tone.wav"))
    check("mel: what libsndfile refuses goes to FFmpeg", "libavformat" in loaded("text.wav"))
    for n_mels in (80, 128):
        r = run(exe, *mel("tone.wav", "--n-mels", str(n_mels)))
        out = np.load(p("mel.npy")) if r.returncode == 0 else None
        check(f"mel: good input, {n_mels} bands", r.returncode == 0 and out.shape == (n_mels, 3000)
              and out.dtype == np.float32 and np.isfinite(out).all(), r.stderr)


def check_encode(exe, d):
    """Model files: missing, not a model, truncated; inputs of the wrong shape."""
    p = lambda n: os.path.join(d, n)
    model = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "scripts",
                                                          "fetch_models.py"), "tiny.en"],
                           check=True, capture_output=True, text=True).stdout.strip()
    os.makedirs(p("cut_model"), exist_ok=True)
    with open(os.path.join(model, "model.bin"), "rb") as f:
        head = f.read(5_000_000)
    with open(p("cut_model/model.bin"), "wb") as f:
        f.write(head)
    os.makedirs(p("junk_model"), exist_ok=True)
    with open(p("junk_model/model.bin"), "wb") as f:
        f.write(b"GGUF this is not a CTranslate2 file" * 10)
    os.makedirs(p("empty_model"), exist_ok=True)
    np.save(p("mel_wrong.npy"), np.zeros((80, 2999), np.float32))
    enc = lambda m, *src: ["encode", "--model", m, *src, "--out", p("enc.npy")]
    tone = ["--audio", p("tone.wav")]
    expect_error(exe, "encode: no model", enc(p("nope"), *tone), "no such model")
    expect_error(exe, "encode: folder without model.bin", enc(p("empty_model"), *tone), "no model.bin")
    expect_error(exe, "encode: truncated model", enc(p("cut_model"), *tone), "truncated")
    expect_error(exe, "encode: not a CTranslate2 file", enc(p("junk_model"), *tone), "binary version")
    tiny_ggml = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus", "ggml", "tiny.bin")
    expect_error(exe, "encode: ggml file without an encoder", enc(tiny_ggml, *tone), "no Whisper encoder")
    expect_error(exe, "encode: wrong mel shape", enc(model, "--mel", p("mel_wrong.npy")), "shape")
    expect_error(exe, "encode: neither audio nor mel", enc(model), "--audio or --mel")
    expect_error(exe, "encode: bad precision", enc(model, *tone, "--precision", "int4"), "precision")
    expect_error(exe, "encode: text as audio", enc(model, "--audio", p("text.wav")), "audio")
    # A Hugging Face folder whose config.json disagrees with its weights.
    hf = os.path.join(os.path.dirname(__file__), "data", "hf_tiny_random")
    with open(os.path.join(hf, "config.json")) as f:
        config = json.load(f)
    for name, change, needle in [("heads that are not 64 wide", {"encoder_attention_heads": 2},
                                  "head size 64"),
                                 ("wrong layer count", {"encoder_layers": 3}, "encoder_layers = 3"),
                                 ("wrong mel bins", {"num_mel_bins": 128}, "num_mel_bins = 128"),
                                 ("non-integer heads", {"encoder_attention_heads": 1.5},
                                  "positive integer"),
                                 ("not JSON", None, "not a JSON object")]:
        folder = p("hf_" + name.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(hf, "model.safetensors"), folder)
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write("{ not json" if change is None else json.dumps({**config, **change}))
        expect_error(exe, "encode: config.json with " + name, enc(folder, *tone), needle)
    r = run(exe, *enc(model, *tone))
    out = np.load(p("enc.npy")) if r.returncode == 0 else None
    check("encode: good input", r.returncode == 0 and out.shape == (1500, 384)
          and np.isfinite(out).all(), r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = dev_tool(ap.parse_args().amanuensis)  # every command here is a developer's
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        p = lambda n: os.path.join(d, n)
        good = rng.standard_normal((2, 70, 64)).astype(np.float32)
        np.save(p("q.npy"), good)
        np.save(p("k.npy"), good[:, ::-1].copy())
        np.save(p("v.npy"), good * 2)
        np.save(p("f64.npy"), good.astype(np.float64))
        np.save(p("dim32.npy"), good[:, :, :32].copy())
        np.save(p("t69.npy"), good[:, :69].copy())
        np.save(p("t0.npy"), np.zeros((2, 0, 64), np.float32))
        nan = good.copy()
        nan[1, 5, 7] = np.nan
        np.save(p("nan.npy"), nan)
        np.save(p("huge.npy"), (good * 1e18).astype(np.float32))
        np.save(p("fortran.npy"), np.asfortranarray(good))
        with open(p("q.npy"), "rb") as f:
            raw = f.read()
        with open(p("trunc.npy"), "wb") as f:
            f.write(raw[: len(raw) // 2])
        with open(p("junk.npy"), "wb") as f:
            f.write(os.urandom(1000))
        with open(p("empty.npy"), "wb") as f:
            pass

        base = lambda q="q.npy", k="k.npy", v="v.npy": [
            "attention", "--q", p(q), "--k", p(k), "--v", p(v), "--out", p("o.npy")]
        expect_error(exe, "missing file", base(q="nope.npy"), "cannot open")
        expect_error(exe, "float64 input", base(k="f64.npy"), "float32")
        expect_error(exe, "head dim 32", base(q="dim32.npy"), "shape")
        expect_error(exe, "mismatched T", base(v="t69.npy"), "differ")
        expect_error(exe, "T = 0", base(q="t0.npy", k="t0.npy", v="t0.npy"), "T = 0")
        expect_error(exe, "NaN", base(q="nan.npy"), "non-finite")
        expect_error(exe, "absurd magnitudes", base(q="huge.npy", k="huge.npy"), "out of range")
        expect_error(exe, "Fortran order", base(q="fortran.npy"), "Fortran")
        expect_error(exe, "truncated", base(v="trunc.npy"), "truncated")
        expect_error(exe, "random bytes", base(k="junk.npy"), "not a .npy")
        expect_error(exe, "empty file", base(k="empty.npy"), "not a .npy")
        expect_error(exe, "bad backend", base() + ["--backend", "tpu"], "backend")
        expect_error(exe, "bad tile", base() + ["--tile", "48"], "tile")
        expect_error(exe, "bad --qk-planes", base() + ["--qk-planes", "3"], "qk-planes")
        expect_error(exe, "unwritable output",
                     base()[:-1] + ["/nonexistent/dir/o.npy"], "cannot create")

        for causal in ([], ["--causal"]):
            r = run(exe, *base(), *causal)
            out = np.load(p("o.npy")) if r.returncode == 0 else None
            check("good input " + " ".join(causal), r.returncode == 0 and out.shape == good.shape
                  and np.isfinite(out).all(), r.stderr)
        r = run(exe, "bench", "attention", "--heads", "1", "--frames", "100", "--runs", "2",
                "--warmup", "0", "--json")
        try:
            obj = json.loads(r.stdout)
            keys = {"ms_per_layer", "gops", "int8_peak_gops", "fraction_of_peak"}
            check("bench --json keys", keys <= obj.keys() and obj["ms_per_layer"] > 0, obj)
        except json.JSONDecodeError as e:
            check("bench --json parses", False, f"{e}: {r.stdout!r} {r.stderr!r}")
        check_mel(exe, d)
        check_encode(exe, d)
    return finish("cli_errors")


if __name__ == "__main__":
    sys.exit(main())
