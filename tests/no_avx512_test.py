#!/usr/bin/env python3
"""The engine must give the same bytes without AVX-512: this runs a whole
transcription with word timestamps (audio decoding, log-mel, the int8
encoder, decoder, greedy search, alignment) on CPUs emulated by qemu-user and
compares its JSON with the native run's, field for field but for its timing.
The JSON's probabilities are printed to the last bit (17 digits) and each
goes through every encoder output by cross-attention, so a changed encoder
byte would show there, though not as surely as the byte-for-byte comparison
of the encoder's output that ran here until 2026-12-07 (a second emulated
encoder pass: 140 s of CI on the baseline CPU). The native backends' encoder
bytes are compared by encoder_bitexact_test.py.

  Haswell  AVX2 + FMA, no AVX-512: the run-time dispatch picks the AVX2
           kernels and the AVX2 copies of the float loops.
  qemu64   the x86-64 baseline (SSE2): the scalar reference kernels and the
           baseline copies.

Each emulated CPU is first shown to be what it claims: there, `bench
attention` must report the int8 peak of the expected instruction set, and
asking for the AVX-512 backend must fail. Real tiny.en weights, jfk.wav.
qemu-user comes from Debian (scripts/setup.sh installs it); it emulates AVX2
from version 7.2 on. The qemu64 run takes about two and a half minutes. On a host
without AVX-512 VNNI the native run is itself AVX2: the report says so and
skips the Haswell emulation, which would repeat it (not counted as passed).
"""
import re
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from testdata import JFK, dev_tool

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")

# qemu -cpu model, the peak line's instruction set there.
CPUS = [("Haswell", "vpmaddwd ymm"), ("qemu64", "none (scalar reference)")]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def peak_isa(cmd):
    """The instruction set of the int8 peak line of `bench attention` (one small run)."""
    out = run(cmd + ["bench", "attention", "--heads", "1", "--frames", "64", "--runs", "1",
                     "--warmup", "0", "--threads", "1"])
    m = re.search(r"int8 peak \((.*), \d+ threads\)", out.stdout)
    return m.group(1) if out.returncode == 0 and m else None


def transcript(path):
    """A transcription's JSON without its timing (wall-clock seconds differ run to run)."""
    with open(path) as f:
        doc = json.load(f)
    doc.pop("timing", None)
    return doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--jfk", default=str(JFK))
    args = ap.parse_args()
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        print("FAIL qemu-x86_64 not found (Debian package qemu-user; scripts/setup.sh installs it)")
        return 1
    version = re.search(r"version (\d+)\.(\d+)", run([qemu, "--version"]).stdout)
    if not version or (int(version.group(1)), int(version.group(2))) < (7, 2):
        print(f"FAIL {qemu} is older than 7.2 and cannot emulate AVX2")
        return 1
    model = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fetch_models.py"),
                            "tiny.en"], check=True, capture_output=True, text=True).stdout.strip()
    failed = passed = 0

    def check(ok, what):
        nonlocal failed, passed
        print(("ok   " if ok else "FAIL ") + what)
        passed += ok
        failed += not ok

    dev = dev_tool(args.amanuensis)
    native_isa = peak_isa([dev])
    print(f"native run: {native_isa}" + ("" if native_isa and ("zmm" in native_isa or
                                                                "tiles" in native_isa) else
                                         " (no AVX-512 VNNI here: the comparison is AVX2 and "
                                         "baseline against this)"))
    with tempfile.TemporaryDirectory() as tmp:
        stem = os.path.splitext(os.path.basename(args.jfk))[0]

        def transcribe(cmd, name):
            folder = os.path.join(tmp, name)
            # Greedy: the emulated float loops are the same as a beam's, at a
            # fifth of the decoder's rows (the scalar CPU's minutes are CI's).
            result = run(cmd + ["transcribe", args.jfk, "--model", model, "--word-timestamps",
                                "--beam-size", "1", "--quiet", "--output-format", "json",
                                "--output-dir", folder])
            return result, os.path.join(folder, stem + ".json")

        native_result, native_json = transcribe([args.amanuensis], "native")
        if native_result.returncode != 0:
            print(f"FAIL native transcription: {native_result.stderr[-300:]}")
            return 1
        for cpu, isa in CPUS:
            if isa == native_isa:
                # The host's own kernels: the native run above was this run.
                print(f"skip {cpu}: the host runs the same kernels ({isa}) natively")
                continue
            emulated = [qemu, "-cpu", cpu, args.amanuensis]
            emulated_dev = [qemu, "-cpu", cpu, dev]
            seen = peak_isa(emulated_dev)
            check(seen == isa, f"{cpu}: the engine sees {seen!r}, expected {isa!r}")
            refused = run(emulated_dev + ["bench", "attention", "--heads", "1", "--frames", "64",
                                      "--runs", "1", "--warmup", "0", "--threads", "1",
                                      "--backend", "avx512"])
            check(refused.returncode != 0 and "lacks AVX-512" in refused.stderr,
                  f"{cpu}: the AVX-512 backend is refused ({refused.stderr.strip()[-60:]!r})")
            refused = run(emulated_dev + ["bench", "attention", "--heads", "1", "--frames", "64",
                                      "--runs", "1", "--warmup", "0", "--threads", "1",
                                      "--backend", "amx"])
            check(refused.returncode != 0 and "AMX-INT8" in refused.stderr,
                  f"{cpu}: the AMX backend is refused ({refused.stderr.strip()[-60:]!r})")
            result, emulated_json = transcribe(emulated, cpu)
            same = result.returncode == 0 and transcript(emulated_json) == transcript(native_json)
            check(same, f"{cpu}: transcript with word timestamps "
                        f"{'identical to' if same else 'DIFFERS from'} the native run" +
                        ("" if result.returncode == 0 else
                         f" (exit {result.returncode}: {result.stderr[-200:]})"))
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
