#!/usr/bin/env python3
"""Whole transcriptions give the same bytes on every native backend and thread
count: jfk.wav with tiny.en and word timestamps (the int8 encoder, the
decoder's int8 GEMMs, beam search, cross-attention alignment), sequential and
batched, compared as JSON field for field but for the wall-clock timing. The
JSON's probabilities are printed to the last bit, so a changed encoder or
decoder byte shows there. Backends this CPU lacks are skipped with a message
(not counted as passed); the scalar reference and the AVX2 kernels are also
compared under emulated CPUs by no_avx512_test.py. Label end-to-end: it runs
the `amanuensis` program, which the sanitizer build does not make.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from testdata import JFK, MODELS


def cpu_backends():
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = {"avx2": {"avx2", "fma", "f16c"},
              "avx512": {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"},
              "amx": {"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile", "amx_int8"}}
    return {name: need <= flags for name, need in wanted.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    args = ap.parse_args()
    model = str(MODELS / "tiny.en")
    runs = []  # (name, extra arguments)
    for backend, present in cpu_backends().items():
        if not present:
            print(f"skip {backend}: this CPU lacks it (not counted as passed)")
            continue
        for threads in ("1", "2", "3"):
            runs.append((f"{backend}, {threads} threads", ["--backend", backend, "--threads", threads]))
        runs.append((f"{backend}, batched", ["--backend", backend, "--batch-size", "4"]))
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        docs = {}
        for name, extra in runs:
            folder = os.path.join(tmp, str(len(docs)))
            subprocess.run([args.amanuensis, "transcribe", str(JFK), "--model", model, "--quiet",
                            "--word-timestamps", "--output-format", "json", "--output-dir", folder]
                           + extra, check=True)
            with open(os.path.join(folder, "jfk.json")) as f:
                doc = json.load(f)
            doc.pop("timing", None)
            docs[name] = doc
        sequential = [n for n in docs if "batched" not in n]
        batched = [n for n in docs if "batched" in n]
        for group in (sequential, batched):
            for name in group[1:]:
                same = docs[name] == docs[group[0]]
                print(("ok   " if same else "FAIL ") + f"{name} vs {group[0]}: "
                      f"{'identical' if same else 'DIFFERENT'}")
                passed += same
                failed += not same
    if passed + failed == 0:
        print("FAIL nothing compared")
        return 1
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
