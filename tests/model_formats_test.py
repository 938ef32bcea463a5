#!/usr/bin/env python3
"""The model loaders beyond CTranslate2: Hugging Face safetensors and
whisper.cpp ggml.

1. tests/data/hf_tiny_random: a tiny random Whisper written by transformers'
   save_pretrained (tools/make_hf_fixture.py) and transformers' own encoder
   output on a fixed log-mel. Our fp32 encoder must match it (relative L2 <=
   1e-5), our int8 encoder closely (mean frame cosine >= 0.999).
2. Real weights: tiny.en and base converted to safetensors
   (tools/ct2_to_hf.py) and to ggml (tools/ct2_to_ggml.py, whose files
   whisper.cpp itself loads and transcribes with) must give byte-identical
   encoder output to the CTranslate2 files they came from.
"""
import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from make_hf_fixture import fixture_mel  # noqa: E402
from testdata import JFK, dev_tool
from checks import check, finish


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--jfk", default=str(JFK))
    exe = ap.parse_args().amanuensis
    jfk = ap.parse_args().jfk
    with tempfile.TemporaryDirectory() as tmp:
        fixture = os.path.join(HERE, "data", "hf_tiny_random")
        ref = np.load(os.path.join(fixture, "encoder_every_10th_frame.npy")).astype(np.float64)
        mel = os.path.join(tmp, "mel.npy")
        np.save(mel, fixture_mel())
        out = os.path.join(tmp, "out.npy")
        for precision in ("fp32", "int8"):
            subprocess.run([dev_tool(exe), "encode", "--model", fixture, "--mel", mel, "--out", out,
                            "--precision", precision], check=True)
            o = np.load(out)[::10].astype(np.float64)
            rel = np.linalg.norm(o - ref) / np.linalg.norm(ref)
            cos = ((o * ref).sum(1) / np.linalg.norm(o, axis=1) / np.linalg.norm(ref, axis=1)).mean()
            ok = rel <= 1e-5 if precision == "fp32" else cos >= 0.999
            check(f"transformers-written checkpoint, {precision}", ok,
                  f"relative L2 {rel:.2e}, mean frame cosine {cos:.7f} vs transformers' encoder")

        for name in ("tiny.en", "base"):
            ct2 = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fetch_models.py"),
                                  name], check=True, capture_output=True, text=True).stdout.strip()
            hf = os.path.join(tmp, "hf-" + name)
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ct2_to_hf.py"), ct2, hf],
                           check=True)
            ggml = os.path.join(tmp, f"ggml-{name}.bin")
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ct2_to_ggml.py"), ct2,
                            "-o", ggml], check=True, capture_output=True)
            outputs = {}
            for fmt, model in (("CTranslate2", ct2), ("safetensors", hf), ("ggml", ggml)):
                outputs[fmt] = os.path.join(tmp, fmt + ".npy")
                subprocess.run([dev_tool(exe), "encode", "--model", model, "--audio", jfk, "--out",
                                outputs[fmt]], check=True)
            for fmt in ("safetensors", "ggml"):
                same = filecmp.cmp(outputs[fmt], outputs["CTranslate2"], shallow=False)
                check(f"{name}: {fmt} vs CTranslate2 files", same,
                      "int8 encoder outputs byte-identical")
            # The whole checkpoint: decoder weights and vocabulary too. A
            # Hugging Face folder carries tokenizer.json; ggml embeds its tokens.
            shutil.copy(os.path.join(ct2, "tokenizer.json"), hf)
            transcripts = {}
            for fmt, model in (("CTranslate2", ct2), ("safetensors", hf), ("ggml", ggml)):
                r = subprocess.run([exe, "transcribe", jfk, "--model", model, "--beam-size", "1",
                                    "--output-format", "json", "--quiet"],
                                   capture_output=True, text=True, check=True)
                j = json.loads(r.stdout)
                j.pop("timing")
                transcripts[fmt] = j
            for fmt in ("safetensors", "ggml"):
                check(f"{name}: {fmt} vs CTranslate2 files", transcripts[fmt] == transcripts["CTranslate2"],
                      "int8 transcripts identical (text, tokens, times, scores)")
    return finish("model_formats_test")


if __name__ == "__main__":
    sys.exit(main())
