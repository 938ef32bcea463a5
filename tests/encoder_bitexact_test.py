#!/usr/bin/env python3
"""The whole int8 encoder gives the same bytes on every backend and thread
count (the kernels promise it; this checks that nothing around them breaks
it). Real tiny.en weights, jfk.wav. The scalar reference backend is left out
here only for time; no_avx512_test.py runs it, on an emulated baseline CPU.
"""
import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
from testdata import JFK, dev_tool

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--jfk", default=str(JFK))
    args = ap.parse_args()
    model = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fetch_models.py"),
                            "tiny.en"], check=True, capture_output=True, text=True).stdout.strip()
    backends = ["avx2", "avx512", "amx"]
    cpu = open("/proc/cpuinfo").read()
    if "avx512_vnni" not in cpu:
        backends.remove("avx512")
    if "amx_int8" not in cpu or "avx512_vnni" not in cpu:
        print("skip amx: this CPU has no AMX-INT8 (not counted as passed)")
        backends.remove("amx")
    failed = passed = 0
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for backend in backends:
            for threads in ("1", "2", "3"):
                out = os.path.join(tmp, f"{backend}-{threads}.npy")
                subprocess.run([dev_tool(args.amanuensis), "encode", "--model", model, "--audio", args.jfk,
                                "--out", out, "--backend", backend, "--threads", threads],
                               check=True)
                if first is None:
                    first = out
                    continue
                same = filecmp.cmp(first, out, shallow=False)
                print(("ok   " if same else "FAIL ") + f"{backend}, {threads} threads vs "
                      f"{os.path.basename(first)}: {'identical' if same else 'DIFFERENT'} bytes")
                passed += same
                failed += not same
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
