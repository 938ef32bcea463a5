#!/usr/bin/env python3
"""The encoder against CTranslate2 float32 (PyPI `ctranslate2`, same weights).

Both get the same log-mel window, computed by faster-whisper's own feature
extractor, so this judges the encoder alone. Real weights: scripts/fetch_models.py
(tiny.en and base). Clips: jfk.wav, a noisy time-shifted excerpt of it, and
speech synthesized by espeak-ng. Targets (issue 3): mean per-frame cosine
>= 0.99999 for --precision fp32 and >= 0.995 for int8. Exits 1 on a miss.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from testdata import JFK, dev_tool

HERE = pathlib.Path(__file__).resolve().parent
TARGET = {"fp32": 0.99999, "int8": 0.995}


def clips(jfk, tmp):
    from faster_whisper.audio import decode_audio
    audio = decode_audio(str(jfk), sampling_rate=16000)
    out = {"jfk.wav": audio}
    rng = np.random.default_rng(0)
    shifted = np.concatenate([np.zeros(24000, np.float32), audio[40000:]])
    out["jfk excerpt + noise"] = (shifted + 0.01 * rng.standard_normal(shifted.size)).astype(np.float32)
    espeak = shutil.which("espeak-ng")
    if espeak:
        wav = os.path.join(tmp, "tts.wav")
        subprocess.run([espeak, "-w", wav, "The quick brown fox jumps over the lazy dog, "
                        "while the orchestra plays a quiet melody."], check=True)
        out["espeak-ng sentence"] = decode_audio(wav, sampling_rate=16000)
    return out


def frame_cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    ap.add_argument("--jfk", default=str(JFK))
    ap.add_argument("--threads", default="2")
    args = ap.parse_args()

    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor

    dirs = subprocess.run([sys.executable, str(HERE.parent / "scripts/fetch_models.py"), *args.models],
                          check=True, capture_output=True, text=True).stdout.split()
    failed = 0
    print("| model | clip | precision | mean frame cosine | min frame cosine | rel L2 | max abs | "
          "CTranslate2 int8: mean frame cosine | |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        audio = clips(args.jfk, tmp)
        for name, model_dir in zip(args.models, dirs):
            ct2 = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="float32",
                                             intra_threads=int(args.threads))
            ct2_int8 = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="int8",
                                                  intra_threads=int(args.threads))
            extractor = FeatureExtractor(feature_size=ct2.n_mels)
            for clip, samples in audio.items():
                mel = extractor(samples, padding=480000)[:, :3000].astype(np.float32)
                features = ctranslate2.StorageView.from_array(mel[None])
                ref = np.array(ct2.encode(features, to_cpu=True))[0].astype(np.float64)
                peer = np.array(ct2_int8.encode(features, to_cpu=True))[0].astype(np.float64)
                mel_path, out_path = os.path.join(tmp, "mel.npy"), os.path.join(tmp, "enc.npy")
                np.save(mel_path, mel)
                for precision in ("fp32", "int8"):
                    subprocess.run([dev_tool(args.amanuensis), "encode", "--model", model_dir, "--mel", mel_path,
                                    "--out", out_path, "--precision", precision, "--threads",
                                    args.threads], check=True)
                    out = np.load(out_path).astype(np.float64)
                    cos = frame_cosines(out, ref)
                    rel = np.linalg.norm(out - ref) / np.linalg.norm(ref)
                    ok = cos.mean() >= TARGET[precision]
                    failed += not ok
                    print(f"| {name} | {clip} | {precision} | {cos.mean():.6f} | {cos.min():.6f} | "
                          f"{rel:.2e} | {np.abs(out - ref).max():.2e} | "
                          f"{frame_cosines(peer, ref).mean():.6f} | {'ok' if ok else '**FAIL**'} |",
                          flush=True)
    print(f"\n{len(args.models) * len(audio) * 2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
