"""Two builds of `amanuensis` side by side: whole process (model load included),
in rounds with the order alternated, median wall time and minor page faults.

  python3 tools/ab_builds.py OLD_BINARY NEW_BINARY [FILES...] [--rounds 5] [--threads 2]

Default files: 0.5 s of digital silence (the model load), samples/jfk.wav and the
3.8-minute development file. Copy each build out of build/ first."""
import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import JFK, SPEECH  # noqa: E402


def run(binary, path, threads):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    t = time.perf_counter()
    subprocess.run([binary, "transcribe", str(path), "--threads", str(threads), "--quiet",
                    "--output-format", "txt"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        silence = Path(d) / "silence.wav"
        with wave.open(str(silence), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(b"\0\0" * 8000)
        files = args.files or [silence, JFK, SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"]
        builds = {"old": args.old, "new": args.new}
        times = {(f, b): [] for f in map(str, files) for b in builds}
        faults = {(f, b): [] for f in map(str, files) for b in builds}
        for r in range(args.rounds):
            order = list(builds) if r % 2 == 0 else list(reversed(list(builds)))
            for f in map(str, files):
                for b in order:
                    t, n = run(builds[b], f, args.threads)
                    times[f, b].append(t)
                    faults[f, b].append(n)
        for f in map(str, files):
            old, new = (statistics.median(times[f, b]) for b in builds)
            print(f"{Path(f).name}: old {old:.3f} s, new {new:.3f} s, new/old {new / old:.3f}; "
                  f"minor faults {statistics.median(faults[f, 'old']):.0f} -> "
                  f"{statistics.median(faults[f, 'new']):.0f} (medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
