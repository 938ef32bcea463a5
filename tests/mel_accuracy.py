#!/usr/bin/env python3
"""`amanuensis-dev mel` against faster-whisper's own FeatureExtractor.

Inputs: jfk.wav and synthetic signals (sine, chirp, white noise, silence,
silence + click, a 0.1 s clip, a 45 s clip whose loudest part lies past 30 s)
written as WAV (int16, float), FLAC, Ogg/Vorbis and MP3 at 8, 16, 44.1 and
48 kHz with 1, 2 and 6 channels.

The reference is FeatureExtractor(n_mels)(audio, padding=480000)[:, :3000] on
the same 16 kHz mono audio the engine is meant to see: the file as soundfile
(libsndfile) decodes it, channels averaged, and, where the rate is not 16 kHz,
resampled by python-soxr at 'HQ', the engine's recipe. So resampled and lossy
inputs are judged by the same bound as 16 kHz ones: max |difference| <= 1e-3.

For information the table also shows the difference to the features of
faster-whisper's own decode_audio (PyAV: ffmpeg's decoders, swresample, int16
output); that is judged only where it should be exact: 16 kHz int16 WAV.
Exits 1 if a case misses; prints a markdown table.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
import soxr
from faster_whisper.audio import decode_audio
from faster_whisper.feature_extractor import FeatureExtractor
from testdata import JFK, dev_tool

BOUND = 1e-3
SR = 16000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tone(rate, seconds, hz, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * hz * t)


def chirp(rate, seconds, f0=20.0, f1=7500.0, amp=0.5):
    # Exponential sweep: phase = 2 pi f0 T / ln(f1/f0) (exp(t ln(f1/f0) / T) - 1)
    t = np.arange(int(rate * seconds)) / rate
    k = np.log(f1 / f0) / seconds
    return amp * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)


def cases(rng, jfk):
    """(name, samples [n] or [n, channels], rate, format, subtype, n_mels list)."""
    speech, _ = sf.read(jfk, dtype="float64")
    noise = lambda rate, s, amp=0.1: amp * rng.standard_normal(int(rate * s))
    click = np.zeros(2 * SR)
    click[SR] = 0.9
    long = np.concatenate([noise(SR, 31, 0.02), tone(SR, 14, 440, 0.8)])  # max past 30 s
    stereo = lambda a, b: np.stack([a, b], axis=1)
    speech44 = soxr.resample(speech, SR, 44100, "VHQ")
    speech8 = soxr.resample(speech, SR, 8000, "VHQ")
    speech48 = soxr.resample(speech, SR, 48000, "VHQ") + noise(48000, 11, 0.01)
    surround = np.stack([tone(48000, 2, 200 * (c + 1), 0.1 * (c + 1)) for c in range(6)], axis=1)
    return [
        ("jfk.wav", None, SR, "WAV", "PCM_16", [80, 128]),
        ("sine 1 kHz", tone(SR, 5, 1000), SR, "WAV", "FLOAT", [80]),
        ("chirp", chirp(SR, 10), SR, "WAV", "PCM_16", [80, 128]),
        ("white noise", noise(SR, 3, 0.3), SR, "FLAC", "PCM_16", [80]),
        ("silence", np.zeros(SR), SR, "WAV", "PCM_16", [80]),
        ("silence + click", click, SR, "WAV", "PCM_16", [80]),
        ("0.1 s sine", tone(SR, 0.1, 300), SR, "WAV", "FLOAT", [80]),
        ("45 s, max past 30 s", long, SR, "FLAC", "PCM_24", [80, 128]),
        ("jfk 8 kHz", speech8, 8000, "WAV", "PCM_16", [80]),
        ("chirp + tone 44.1 kHz stereo", stereo(chirp(44100, 6), tone(44100, 6, 3000, 0.2)),
         44100, "FLAC", "PCM_24", [80, 128]),
        ("jfk + noise 48 kHz float", speech48, 48000, "WAV", "FLOAT", [80]),
        ("6 ch 48 kHz", surround, 48000, "WAV", "PCM_16", [80]),
        ("jfk Ogg/Vorbis", speech, SR, "OGG", "VORBIS", [80]),
        ("jfk 44.1 kHz stereo Ogg", stereo(speech44, 0.5 * speech44), 44100, "OGG", "VORBIS", [80]),
        ("jfk 44.1 kHz MP3", speech44, 44100, "MP3", "MPEG_LAYER_III", [80]),
        ("chirp 22.05 kHz stereo MP3", stereo(chirp(22050, 4), chirp(22050, 4, 50, 5000)),
         22050, "MP3", "MPEG_LAYER_III", [80]),
    ]


def engine_view(path):
    """16 kHz mono float32 as the engine should see `path`."""
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return x if rate == SR else soxr.resample(x, rate, SR, "HQ")


def features(x, n_mels):
    return FeatureExtractor(feature_size=n_mels)(x, padding=480000)[:, :3000]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--jfk", default=str(JFK),
                    help="16 kHz speech clip (default: samples/jfk.wav)")
    args = ap.parse_args()
    if not os.path.isfile(args.jfk):
        print(f"FAIL: {args.jfk} not found ")
        return 1
    rng = np.random.default_rng(0)
    failures = []
    print("| case | file | rate | ch | n_mels | max abs diff | PyAV decode (info) | ok |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as d:
        for i, (name, x, rate, fmt, subtype, mel_sizes) in enumerate(cases(rng, args.jfk)):
            if x is None:
                path = args.jfk
            else:
                path = os.path.join(d, f"case{i}.{fmt.lower()}")
                sf.write(path, x.astype(np.float32), rate, format=fmt, subtype=subtype)
            info = sf.info(path)
            audio = engine_view(path)
            pyav = decode_audio(path)
            for n_mels in mel_sizes:
                out_path = os.path.join(d, "mel.npy")
                r = subprocess.run([dev_tool(args.amanuensis), "mel", "--audio", path, "--out", out_path,
                                    "--n-mels", str(n_mels)], capture_output=True, text=True)
                if r.returncode != 0:
                    failures.append(name)
                    print(f"| {name} | | | | {n_mels} | error: {r.stderr.strip()} | | FAIL |")
                    continue
                out = np.load(out_path)
                ref = features(audio, n_mels)
                diff = float(np.abs(out - ref).max()) if out.shape == ref.shape else np.inf
                diff_av = float(np.abs(out - features(pyav, n_mels)).max())
                exact_av = rate == SR and subtype == "PCM_16" and info.channels == 1
                ok = (out.dtype == np.float32 and out.shape == (n_mels, 3000) and diff <= BOUND
                      and (diff_av <= BOUND or not exact_av))
                if not ok:
                    failures.append(f"{name} ({n_mels})")
                print(f"| {name} | {fmt} {subtype} | {rate} | {info.channels} | {n_mels} "
                      f"| {diff:.2e} | {diff_av:.2e}{' (judged)' if exact_av else ''} "
                      f"| {'ok' if ok else 'FAIL'} |")
    print(f"\nbound: max abs diff <= {BOUND:g} in Whisper's (log10 + 4) / 4 units")
    if failures:
        print("FAIL: " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
