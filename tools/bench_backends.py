#!/usr/bin/env python3
"""The int8 backends side by side on this machine: the GEMM at the base encoder's
shapes, the attention kernel, the encoder, decoder steps and whole transcriptions,
each backend in turn within a round, the order rotated from round to round.

  python3 tools/bench_backends.py                          # avx512 vs amx, 3 rounds
  python3 tools/bench_backends.py --backends avx2,avx512 --rounds 5 --json out.json

Figures (median over rounds; ratio = first backend's time / each backend's):
  gemm M x N x K   `amanuensis-dev bench gemm` with 32 outlier channels, as the encoder
                   runs them: the GEMM alone (ms) and its fraction of the in-process peak
                   of the backend's own instruction (tdpbusd tiles, vpdpbusd zmm, ...)
  attention        `bench attention`, base shape (8 heads x 1500 frames), ms per layer
  encoder          `bench encoder`, base, one 30 s window (mel to last LayerNorm), ms
  decoder 5 / 40   `bench decoder`, base, ms per step at 5 rows (one sequence x 5 beams)
                   and 40 rows (8 sequences: the batched pipeline's steps)
  jfk, long, long batched
                   `amanuensis transcribe` (base, beam 5): the JSON's transcription seconds
                   (model load excluded) for samples/jfk.wav, the 3.8-min development file,
                   and the latter with --batch-size 8 --vad
Threads: --threads (2). Nothing else should run meanwhile.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from testdata import JFK, MODELS, SPEECH  # noqa: E402

LONG = SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"
GEMM_SHAPES = [(1500, 1536, 512), (1500, 512, 512), (1500, 2048, 512), (1500, 512, 2048)]


def dev_json(dev, args):
    out = subprocess.run([str(dev)] + args + ["--json"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def measure(backend, a):
    """One round of every figure for one backend: {name: (ms, fraction of peak or None)}."""
    dev = Path(a.amanuensis).with_name("amanuensis-dev")
    model = str(MODELS / "base")
    threads = ["--threads", str(a.threads), "--backend", backend]
    r = {}
    for m, n, k in GEMM_SHAPES:
        j = dev_json(dev, ["bench", "gemm", "--m", str(m), "--n", str(n), "--k", str(k),
                           "--outliers", "32", "--runs", "30"] + threads)
        r[f"gemm {m}x{n}x{k}"] = (j["gemm_ms"], j["fraction_of_peak"])
    j = dev_json(dev, ["bench", "attention", "--runs", "5"] + threads)
    base = next(c for c in j if c["shape"] == "base")
    r["attention base"] = (base["ms_per_layer"], base["fraction_of_peak"])
    j = dev_json(dev, ["bench", "encoder", "--model", model, "--runs", "10"] + threads)
    r["encoder base"] = (j["total_ms"], j["fraction_of_peak"])
    for stage in ("attention", "gemm"):
        r[f"  encoder: {stage}"] = (j["stages_ms"][stage], None)
    for seqs, rows in ((1, 5), (8, 40)):
        j = dev_json(dev, ["bench", "decoder", "--model", model, "--sequences", str(seqs)]
                     + threads)
        r[f"decoder step {rows} rows"] = (j["step_ms"], None)
    for name, path, extra in (("jfk", JFK, []), ("long", LONG, []),
                              ("long batched", LONG, ["--batch-size", "8", "--vad"])):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([a.amanuensis, "transcribe", str(path), "--model", model, "--quiet",
                            "--output-format", "json", "--output-dir", tmp] + threads + extra,
                           check=True, stdout=subprocess.DEVNULL)
            doc = json.loads(next(Path(tmp).glob("*.json")).read_text())
        r[name] = (doc["timing"]["seconds"] * 1000, None)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", default="avx512,amx")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--amanuensis", default=str(REPO / "build" / "amanuensis"))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    backends = a.backends.split(",")
    runs = {b: [] for b in backends}
    for i in range(a.rounds):
        order = backends[i % len(backends):] + backends[:i % len(backends)]
        for b in order:
            runs[b].append(measure(b, a))
            print(f"round {i + 1}: {b} done", file=sys.stderr)
    names = list(runs[backends[0]][0])
    table = {}
    for name in names:
        table[name] = {}
        for b in backends:
            ms = statistics.median(r[name][0] for r in runs[b])
            fractions = [r[name][1] for r in runs[b] if r[name][1] is not None]
            table[name][b] = {"ms": ms, "all_ms": [r[name][0] for r in runs[b]],
                              "fraction_of_peak": statistics.median(fractions) if fractions
                              else None}
    head = f"{'figure':<24}" + "".join(f"{b + ' ms':>14}{'peak':>7}" for b in backends)
    head += "".join(f"{'x ' + b:>10}" for b in backends[1:])
    print(head)
    for name in names:
        row = f"{name:<24}"
        for b in backends:
            e = table[name][b]
            frac = f"{100 * e['fraction_of_peak']:.0f}%" if e["fraction_of_peak"] is not None \
                else "-"
            row += f"{e['ms']:>14.2f}{frac:>7}"
        for b in backends[1:]:
            row += f"{table[name][backends[0]]['ms'] / table[name][b]['ms']:>10.2f}"
        print(row)
    if a.json:
        a.json.write_text(json.dumps({"threads": a.threads, "rounds": a.rounds,
                                      "figures": table}, indent=2))


if __name__ == "__main__":
    main()
