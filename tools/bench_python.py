#!/usr/bin/env python3
"""The Python package's speed, side by side in one process and one run:

  python3 tools/bench_python.py                       # long dev file and jfk, 5 rounds
  python3 tools/bench_python.py --files a.flac --rounds 3 --threads 2

Engines (model load excluded everywhere; the same model folder, int8, beam 5):
  cli         `amanuensis transcribe FILE --output-format json --quiet`; the JSON's
              timing.seconds (decode of the file included, as below).
  py          amanuensis.WhisperModel(DIR, compute_type="int8", cpu_threads=N)
              .transcribe(FILE), every segment consumed; timed in this process.
  fw          faster_whisper.WhisperModel(DIR, device="cpu", compute_type="int8",
              cpu_threads=N), the same call.
  py-batched / fw-batched   BatchedInferencePipeline(model).transcribe(FILE,
              batch_size=8) of each (--batched).
Every round runs every engine on every file once, the order rotated from round to
round; the report gives each median, py/cli (goal: within 5 %) and fw/py (goal ≥ 3×).
Run it from a build with the package (scripts/setup.sh installs it, or
PYTHONPATH=build/python).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import JFK, MODELS, SPEECH  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def timed(transcribe, audio, **kwargs):
    t0 = time.perf_counter()
    segments, _ = transcribe(str(audio), **kwargs)
    for _ in segments:
        pass
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=MODELS / "base")
    ap.add_argument("--files", nargs="+", type=Path,
                    default=[SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac", JFK])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batched", action="store_true", help="add both batched pipelines")
    ap.add_argument("--amanuensis", type=Path, default=REPO / "build" / "amanuensis")
    args = ap.parse_args()

    import amanuensis
    import faster_whisper
    ours = amanuensis.WhisperModel(str(args.model), compute_type="int8", cpu_threads=args.threads)
    theirs = faster_whisper.WhisperModel(str(args.model), device="cpu", compute_type="int8",
                                         cpu_threads=args.threads)

    def cli(audio):
        r = subprocess.run([str(args.amanuensis), "transcribe", str(audio), "--model",
                            str(args.model), "--threads", str(args.threads),
                            "--output-format", "json", "--quiet"],
                           capture_output=True, text=True, check=True)
        return json.loads(r.stdout)["timing"]["seconds"]

    engines = {
        "cli": cli,
        "py": lambda audio: timed(ours.transcribe, audio),
        "fw": lambda audio: timed(theirs.transcribe, audio),
    }
    if args.batched:
        ours_batched = amanuensis.BatchedInferencePipeline(ours)
        theirs_batched = faster_whisper.BatchedInferencePipeline(theirs)
        engines["py-batched"] = lambda audio: timed(ours_batched.transcribe, audio, batch_size=8)
        engines["fw-batched"] = lambda audio: timed(theirs_batched.transcribe, audio, batch_size=8)
    names = list(engines)
    for audio in args.files:  # warm-up: page cache, first-use libraries
        for name in names:
            engines[name](audio)
    times = {(n, a): [] for n in names for a in args.files}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for audio in args.files:
            for name in order:
                times[(name, audio)].append(engines[name](audio))
    print(f"{args.rounds} rounds, {args.threads} threads, model {args.model.name}, int8, beam 5")
    for audio in args.files:
        median = {n: statistics.median(times[(n, audio)]) for n in names}
        print(f"{audio.name}: " + ", ".join(f"{n} {median[n]:.3f} s" for n in names))
        print(f"  py/cli {median['py'] / median['cli']:.3f}, fw/py {median['fw'] / median['py']:.2f}x"
              + (f", fw-batched/py-batched {median['fw-batched'] / median['py-batched']:.2f}x"
                 if args.batched else ""))


if __name__ == "__main__":
    main()
