#!/usr/bin/env python3
"""Side by side in one run: `amanuensis-dev bench attention` and float32 attention
in numpy (OpenBLAS sgemm + numpy softmax), same shape, same thread count.
The ratio is what to compare across machines, not the absolute times.

  OPENBLAS_NUM_THREADS=2 python3 tools/bench_attention_peers.py --amanuensis build/amanuensis
      [--qk-planes 1|2]   (default: the engine's default, two planes)
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np


def numpy_attention_ms(heads, frames, runs):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((heads, frames, 64), dtype=np.float32) for _ in range(3))

    def once():
        s = np.matmul(q, k.transpose(0, 2, 1)) * np.float32(0.125)
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        return np.matmul(s, v)

    once()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--qk-planes", type=int, choices=(1, 2), help="Q/K planes (default: the engine's)")
    args = ap.parse_args()
    ours = json.loads(subprocess.run(
        [args.amanuensis, "bench", "attention", "--threads", str(args.threads), "--runs",
         str(args.runs), "--json"] + (["--qk-planes", str(args.qk_planes)] if args.qk_planes else []),
        check=True, capture_output=True, text=True).stdout)
    print(f"threads {args.threads}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
          f"int8 peak {ours[0]['int8_peak_gops']:.0f} GOPS, Q/K planes {ours[0]['qk_planes']}")
    print("| shape | heads | amanuensis int8 ms | % of int8 peak | numpy fp32 ms | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in ours:
        ref = numpy_attention_ms(r["heads"], r["frames"], max(3, args.runs // 3))
        print(f"| {r['shape']} | {r['heads']} | {r['ms_per_layer']:.2f} | "
              f"{100 * r['fraction_of_peak']:.0f}% | {ref:.1f} | {ref / r['ms_per_layer']:.1f}x |")


if __name__ == "__main__":
    main()
