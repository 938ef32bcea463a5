#!/usr/bin/env python3
"""amanuensis.ray's scaling: the development set on one 1-CPU Ray node against two
(both on this machine, `ray start` on loopback), one actor per node, 1 thread each.

  python3 tools/bench_ray.py                  # 3 rounds, the order alternated
  python3 tools/bench_ray.py --rounds 5 --model base

Each run is a fresh cluster and a fresh output folder; the time is the job's wall
time as its driver (`python3 -m amanuensis.ray`) sees it from start to exit:
connecting, actors starting and loading the model, every file, the summary. The
report gives each configuration's median, audio seconds per wall second, and the
ratio two/one (goal ≥ 1.8), for the whole job and for the span from the first
file's start to the last one's end (the job without its one-time start).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import SPEECH  # noqa: E402

PORT, SECOND_PORT = 6390, 6391


def ray(*args):
    subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *args], check=True,
                   capture_output=True, text=True)


def run(nodes, files, model, work):
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1",
              "--object-store-memory=100000000", "--disable-usage-stats"]
    ray("start", "--head", f"--port={PORT}", "--include-dashboard=false", *common)
    try:
        if nodes == 2:
            ray("start", f"--address=127.0.0.1:{PORT}", f"--node-manager-port={SECOND_PORT}",
                *common)
        manifest, output = work / "manifest.txt", work / f"out-{nodes}"
        shutil.rmtree(output, ignore_errors=True)
        manifest.write_text("".join(f"{f}\n" for f in files))
        start, started = time.perf_counter(), time.time()
        subprocess.run([sys.executable, "-m", "amanuensis.ray", str(manifest), str(output),
                        "--model", model, "--cpu-threads", "1"], check=True,
                       capture_output=True, env=dict(os.environ, RAY_ADDRESS=f"127.0.0.1:{PORT}"))
        wall = time.perf_counter() - start
        # The span from the first file's start to the last one's end: the
        # cluster's work without the job's one-time start (actors, model load).
        with open(output / "summary.tsv") as f:
            header, *lines = f.read().splitlines()
        rows = [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]
        first = min(float(r["started"]) for r in rows)
        last = max(float(r["started"]) + float(r["seconds"]) for r in rows)
        busy = sum(float(r["seconds"]) for r in rows)
        print(f"  {nodes} node(s): files {busy:.1f} s of actor time, the longest "
              f"{max(float(r['seconds']) for r in rows):.1f} s; first file after "
              f"{first - started:.1f} s, exit {time.time() - last:.1f} s after the last",
              flush=True)
        return wall, last - first
    finally:
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"],
                       capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="base")
    args = ap.parse_args()
    files = sorted(p for p in SPEECH.iterdir() if p.suffix in (".wav", ".flac", ".mp3"))
    import soundfile
    audio_seconds = sum(soundfile.info(str(f)).duration for f in files)
    walls, spans = {1: [], 2: []}, {1: [], 2: []}
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.rounds):
            for nodes in ((1, 2) if r % 2 == 0 else (2, 1)):
                wall, span = run(nodes, files, args.model, Path(work))
                walls[nodes].append(wall)
                spans[nodes].append(span)
                print(f"round {r + 1}: {nodes} node(s) job {wall:.1f} s, files {span:.1f} s",
                      flush=True)
    wall = {n: statistics.median(t) for n, t in walls.items()}
    span = {n: statistics.median(t) for n, t in spans.items()}
    print(f"{len(files)} files, {audio_seconds:.0f} s of audio, model {args.model}, int8, "
          f"beam 5, 1 thread per actor; median of {args.rounds}")
    for n in (1, 2):
        print(f"  {n} node(s): job {wall[n]:.1f} s ({audio_seconds / wall[n]:.1f} audio s per s), "
              f"first file start to last file end {span[n]:.1f} s "
              f"({audio_seconds / span[n]:.1f} audio s per s)")
    print(f"  two / one: job {wall[1] / wall[2]:.2f}x, files {span[1] / span[2]:.2f}x")


if __name__ == "__main__":
    main()
