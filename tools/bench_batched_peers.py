#!/usr/bin/env python3
"""Long-form throughput side by side: amanuensis sequential and batched, faster-whisper
sequential and BatchedInferencePipeline; same model folder, threads, beam, batch size.

  python3 tools/bench_batched_peers.py                          # long dev file, 3 rounds
  python3 tools/bench_batched_peers.py --files a.flac b.wav --rounds 5 --batch-size 8
  python3 tools/bench_batched_peers.py --files ../shared/data/speech/*.{wav,flac,mp3} --rounds 2
                                                                # the development set: also its total

Engines (model load excluded everywhere: the transcription's own time):
  ours-seq      `amanuensis transcribe FILE --model DIR --beam-size B --threads N
                --output-format json --quiet`; the JSON's timing.seconds.
  ours-batched  the same with --batch-size S --vad.
  fw-seq        WhisperModel(DIR, device="cpu", compute_type="int8", cpu_threads=N)
                .transcribe(FILE, beam_size=B), segments consumed; timed in-process.
  fw-batched    BatchedInferencePipeline(that model).transcribe(FILE, beam_size=B,
                batch_size=S) (its VAD on, the default), segments consumed.
In each round every engine runs every file once, the engines' order rotated from round
to round; the report gives each engine's median and the ratios to ours-batched.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import MODELS, SPEECH  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ENGINES = ["ours-seq", "ours-batched", "fw-seq", "fw-batched"]


def ours(args, audio, batched):
    cmd = [str(args.amanuensis), "transcribe", str(audio), "--model", str(args.model),
           "--beam-size", str(args.beam_size), "--threads", str(args.threads),
           "--output-format", "json", "--quiet"]
    if batched:
        cmd += ["--batch-size", str(args.batch_size), "--vad"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["timing"]["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=MODELS / "base")
    ap.add_argument("--files", nargs="+", type=Path,
                    default=[SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--amanuensis", type=Path, default=REPO / "build" / "amanuensis")
    args = ap.parse_args()
    args.files = list(dict.fromkeys(args.files))  # a file named twice is timed once

    from faster_whisper import BatchedInferencePipeline, WhisperModel
    model = WhisperModel(str(args.model), device="cpu", compute_type="int8",
                         cpu_threads=args.threads)
    pipeline = BatchedInferencePipeline(model)

    def fw(audio, batched):
        t0 = time.perf_counter()
        if batched:
            segments, _ = pipeline.transcribe(str(audio), beam_size=args.beam_size,
                                              batch_size=args.batch_size)
        else:
            segments, _ = model.transcribe(str(audio), beam_size=args.beam_size)
        for _ in segments:
            pass
        return time.perf_counter() - t0

    run = {"ours-seq": lambda a: ours(args, a, False), "ours-batched": lambda a: ours(args, a, True),
           "fw-seq": lambda a: fw(a, False), "fw-batched": lambda a: fw(a, True)}
    times = {(e, str(f)): [] for e in ENGINES for f in args.files}
    for rnd in range(args.rounds):
        order = ENGINES[rnd % len(ENGINES):] + ENGINES[:rnd % len(ENGINES)]
        for f in args.files:
            for e in order:
                t = run[e](f)
                times[(e, str(f))].append(t)
                print(f"round {rnd + 1} {f.name} {e}: {t:.2f} s", flush=True)
    print(f"\nmedians of {args.rounds} rounds, base int8, beam {args.beam_size}, "
          f"{args.threads} threads, batch {args.batch_size}:")
    for f in args.files:
        med = {e: statistics.median(times[(e, str(f))]) for e in ENGINES}
        print(f"  {f.name}: " + ", ".join(f"{e} {med[e]:.2f} s" for e in ENGINES))
        b = med["ours-batched"]
        print(f"    vs ours-batched: fw-batched {med['fw-batched'] / b:.2f}x, fw-seq "
              f"{med['fw-seq'] / b:.2f}x, ours-seq {med['ours-seq'] / b:.2f}x")
    if len(args.files) > 1:  # a set of files (the development set): its total
        total = {e: sum(statistics.median(times[(e, str(f))]) for f in args.files)
                 for e in ENGINES}
        b = total["ours-batched"]
        print(f"  all {len(args.files)} files, sums of the medians: "
              + ", ".join(f"{e} {total[e]:.2f} s" for e in ENGINES))
        print(f"    vs ours-batched: fw-batched {total['fw-batched'] / b:.2f}x, fw-seq "
              f"{total['fw-seq'] / b:.2f}x, ours-seq {total['ours-seq'] / b:.2f}x")


if __name__ == "__main__":
    main()
