#!/usr/bin/env python3
"""Whisper encoder, one 30 s window, side by side in one run: amanuensis, CTranslate2 and
whisper.cpp, on the same machine, thread count, weights and log-mel input.

  python3 tools/bench_encoder_peers.py                      # base, 2 threads, 3 rounds of 5 runs
  python3 tools/bench_encoder_peers.py --model tiny.en --threads 2 --rounds 5 --json out.json

Engines (each timed in its own subprocess, one after the other, so thread pools and
OpenMP runtimes never overlap; each does --warmup untimed runs, then the median of --runs).
This is repeated for --rounds rounds, the order of the engines rotated each round: on a
shared machine the load moves between one engine's runs and the next's, so the report
gives each round's ratios and their median, not one ratio from one pass.
  amanuensis   `amanuensis-dev bench encoder --model DIR --audio AUDIO --threads N --runs R
               --warmup W --json`: it computes the log-mel itself each run (stages_ms.mel);
               the table shows total_ms minus that stage, the encoder alone as for the
               peers, and the report prints the mel stage beside it.
               With --amanuensis-fp32 also `--precision fp32`.
  ctranslate2  ctranslate2.models.Whisper(DIR, device="cpu", compute_type=int8 | float32,
               intra_threads=N, inter_threads=1).encode(features); timed in Python around
               encode() only. int8 = int8 weights + dynamically quantized activations.
  whisper.cpp  through pywhispercpp's bundled libwhisper (low-level `_pywhispercpp` bindings):
               whisper_init_from_file_with_params (use_gpu=False, default flash_attn) on the
               ggml file written by tools/ct2_to_ggml.py (f16 weights, like upstream's
               ggml-*.bin), whisper_set_mel(MEL), then whisper_encode(ctx, 0, N) timed in
               Python: the encoder alone (conv stem + all layers), no mel computation and no
               decoding. whisper.cpp's own "encode time" (whisper_print_timings, mean over
               the timed runs) is recorded as a cross-check. Skipped, with the reason, when
               pywhispercpp is not installed (python3 -m pip install pywhispercpp).

Input: the log-mel of --audio (default samples/jfk.wav),
computed with faster_whisper.feature_extractor.FeatureExtractor(feature_size=n_mels)
(audio, padding=480000)[:, :3000], i.e. the first 30 s window padded with silence; the same
[n_mels, 3000] float32 array is fed to all engines.

--model is a folder in CTranslate2 format, or a name (tiny.en, base) fetched with
scripts/fetch_models.py. Times are only comparable within one round: the median of the
rounds' ratios is the number to look at; the machine's load average is printed because it
is shared.
"""
import argparse
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import JFK  # noqa: E402  (the tests' data, inside the repository)


REPO = Path(__file__).resolve().parent.parent
ENGINES = ("amanuensis", "ct2-int8", "ct2-fp32", "whisper.cpp")


# ----------------------------------------------------------------------------- workers
# Each runs in a fresh interpreter (`--worker NAME`) and prints one JSON object.


def median_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "times_ms": times}


def worker_ctranslate2(args, mel):
    import ctranslate2
    compute_type = {"ct2-int8": "int8", "ct2-fp32": "float32"}[args.worker]
    model = ctranslate2.models.Whisper(str(args.model_dir), device="cpu", compute_type=compute_type,
                                       intra_threads=args.threads, inter_threads=1)
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
    out = median_ms(lambda: model.encode(features), args.warmup, args.runs)
    out.update(precision=compute_type, version=ctranslate2.__version__)
    return out


def worker_whisper_cpp(args, mel):
    import _pywhispercpp as pw
    from importlib.metadata import version
    logs = []
    pw.whisper_log_set(lambda level, text: logs.append(text))  # keeps stderr quiet; parsed below
    params = pw.whisper_context_default_params()
    params.use_gpu = False
    ctx = pw.whisper_init_from_file_with_params(str(args.ggml), params)
    if ctx is None:
        raise RuntimeError(f"whisper.cpp could not load {args.ggml}:\n" + "".join(logs[-5:]))
    n_mels, n_frames = mel.shape
    if pw.whisper_set_mel(ctx, np.ascontiguousarray(mel, np.float32), n_frames, n_mels) != 0:
        raise RuntimeError("whisper_set_mel failed:\n" + "".join(logs[-5:]))

    def encode():
        if pw.whisper_encode(ctx, 0, args.threads) != 0:
            raise RuntimeError("whisper_encode failed:\n" + "".join(logs[-5:]))

    for _ in range(args.warmup):
        encode()
    pw.whisper_reset_timings(ctx)
    out = median_ms(encode, 0, args.runs)
    logs.clear()
    pw.whisper_print_timings(ctx)
    own = [line for line in logs if "encode time" in line]
    if own:  # "... encode time =  1406.15 ms /     1 runs (  1406.15 ms per run)"
        out["whisper_cpp_encode_ms_mean"] = float(own[0].split("(")[1].split("ms")[0])
    out.update(precision="f16 weights (ggml)", version="pywhispercpp " + version("pywhispercpp"),
               flash_attn=params.flash_attn, system_info=pw.whisper_print_system_info().strip())
    pw.whisper_log_set(None)  # a Python callback must not outlive the interpreter
    pw.whisper_free(ctx)
    return out


def run_worker(args):
    mel = np.load(args.mel)
    fn = worker_whisper_cpp if args.worker == "whisper.cpp" else worker_ctranslate2
    print(json.dumps(fn(args, mel)))


# ----------------------------------------------------------------------------- driver


def model_folder(model):
    p = Path(model).expanduser()
    if (p / "model.bin").is_file():
        return p.resolve()
    if os.sep in model:
        sys.exit(f"{model}: no model.bin there")
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "fetch_models.py"), model],
                       check=True, capture_output=True, text=True)
    return Path(r.stdout.strip().splitlines()[-1])


def log_mel(audio_path, n_mels):
    from faster_whisper.audio import decode_audio
    from faster_whisper.feature_extractor import FeatureExtractor
    audio = decode_audio(str(audio_path), sampling_rate=16000)
    mel = FeatureExtractor(feature_size=n_mels)(audio, padding=480000)[:, :3000]
    return np.ascontiguousarray(mel, np.float32)


def n_mels_of(model_dir):
    cfg = model_dir / "preprocessor_config.json"
    return json.loads(cfg.read_text())["feature_size"] if cfg.exists() else 80


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def spawn(engine, args, mel_path, ggml=None):
    cmd = [sys.executable, __file__, "--worker", engine, "--model-dir", str(args.model_dir), "--mel", mel_path,
           "--threads", str(args.threads), "--runs", str(args.runs), "--warmup", str(args.warmup)]
    if ggml:
        cmd += ["--ggml", str(ggml)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def amanuensis(args, precision):
    cmd = [str(args.amanuensis), "bench", "encoder", "--model", str(args.model_dir), "--audio", str(args.audio),
           "--precision", precision, "--threads", str(args.threads), "--runs", str(args.runs),
           "--warmup", str(args.warmup), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout)
    return {"median_ms": out["total_ms"] - out["stages_ms"]["mel"], "precision": precision,
            "stages_ms": out["stages_ms"],
            "fraction_of_peak": out["fraction_of_peak"], "gops": out["gops"],
            "int8_peak_gops": out["int8_peak_gops"], "command": shlex.join(cmd)}


LABELS = {"amanuensis-fp32": "amanuensis", "ct2-int8": "CTranslate2", "ct2-fp32": "CTranslate2"}


def round_ratio(rnd, name):
    """Engine `name`'s time over amanuensis int8's in one round, or None."""
    if "median_ms" in rnd.get(name, {}) and "median_ms" in rnd.get("amanuensis", {}):
        return rnd[name]["median_ms"] / rnd["amanuensis"]["median_ms"]
    return None


def ratios(rounds, name):
    """Each round's ratio of engine `name` to amanuensis int8."""
    return [x for x in (round_ratio(r, name) for r in rounds) if x is not None]


def ratio_text(name, r):
    return f"{name} is {r:.1f}x slower" if r >= 1 else f"{name} is {1 / r:.1f}x faster"


def print_report(rep):
    print(f"# Whisper encoder, one 30 s window: {rep['model']}, {rep['threads']} threads")
    print(f"machine: {rep['cpu']}, {rep['cpus']} logical CPUs, load average before/after "
          f"{rep['loadavg_before']:.2f}/{rep['loadavg_after']:.2f}")
    print(f"command: {rep['command']}")
    print(f"{rep['rounds']} rounds; in each, every engine's median of {rep['runs']} runs after "
          f"{rep['warmup']} warm-up\n")
    rounds = rep["per_round"]
    names = list(rep["results"])
    print("| engine | precision | median ms (of the rounds) | vs amanuensis int8 (median of the rounds' ratios) |")
    print("|---|---|---:|---|")
    for name, r in rep["results"].items():
        label = LABELS.get(name, name)
        if "skipped" in r:
            print(f"| {label} | - | skipped | {r['skipped']} |")
            continue
        rs = ratios(rounds, name)
        vs = "reference" if name == "amanuensis" else (ratio_text(label, statistics.median(rs)) if rs else "-")
        print(f"| {label} | {r['precision']} | {r['median_ms']:.1f} | {vs} |")
    timed = [n for n in names if "median_ms" in rep["results"][n]]
    if len(rounds) > 1 and "amanuensis" in timed:
        print("\n| round | " + " | ".join(f"{LABELS.get(n, n)} {rep['results'][n]['precision']}" for n in timed) + " |")
        print("|---|" + "---:|" * len(timed))
        for i, r in enumerate(rounds, 1):
            cells = []
            for n in timed:
                ms = r[n]["median_ms"]
                cells.append(f"{ms:.1f}" if n == "amanuensis" else f"{ms:.1f} ({round_ratio(r, n):.2f}x)")
            print(f"| {i} | " + " | ".join(cells) + " |")
    print()
    a = rep["results"].get("amanuensis")
    if a:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in a["stages_ms"].items())
        print(f"amanuensis stages (ms, last round): {stages}; {a['gops']:.0f} GOPS = "
              f"{100 * a['fraction_of_peak']:.0f}% of the int8 peak ({a['int8_peak_gops']:.0f} GOPS)")
    w = rep["results"].get("whisper.cpp", {})
    if "median_ms" in w:
        own = w.get("whisper_cpp_encode_ms_mean")
        print(f"whisper.cpp: whisper_encode() only; its own encode time (mean, last round) "
              f"{own if own is None else f'{own:.1f}'} ms; flash_attn={w['flash_attn']}; {w['version']}; "
              f"build: {w['system_info']}")
    c = rep["results"].get("ct2-int8", {})
    if "version" in c:
        print(f"CTranslate2 {c['version']}: encode() only")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="base", help="tiny.en, base, or a CTranslate2 model folder (default base)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per engine and round (median reported)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of all engines, order rotated each round")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per engine first")
    ap.add_argument("--audio", type=Path, default=JFK)
    ap.add_argument("--amanuensis", type=Path, default=REPO / "build" / "amanuensis-dev")
    ap.add_argument("--amanuensis-fp32", action="store_true", help="also time amanuensis --precision fp32")
    ap.add_argument("--ggml", type=Path, help="whisper.cpp model (default: tools/ct2_to_ggml.py's output, "
                    "converted if missing)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES))
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout, instead of the table)")
    ap.add_argument("--worker", choices=ENGINES[1:], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--mel", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return run_worker(args)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        ap.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.runs < 1:
        ap.error("--rounds and --runs must be at least 1")
    if "amanuensis" in engines and not os.access(args.amanuensis, os.X_OK):
        ap.error(f"{args.amanuensis} not found: build it first or pass --amanuensis")
    if not args.audio.is_file():
        ap.error(f"{args.audio} not found (pass --audio)")
    args.model_dir = model_folder(args.model)
    rep = {"model": str(args.model_dir), "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
           "rounds": args.rounds, "cpu": cpu_model(), "cpus": os.cpu_count(),
           "command": shlex.join([sys.executable] + sys.argv), "audio": str(args.audio),
           "loadavg_before": os.getloadavg()[0], "per_round": []}
    ggml = None
    if "whisper.cpp" in engines and importlib.util.find_spec("_pywhispercpp") is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from ct2_to_ggml import convert
        ggml = args.ggml or convert(args.model_dir)
    elif "whisper.cpp" in engines:
        print("whisper.cpp skipped: pywhispercpp not installed", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        mel_path = os.path.join(tmp, "mel.npy")
        np.save(mel_path, log_mel(args.audio, n_mels_of(args.model_dir)))
        for rnd in range(args.rounds):
            shift = rnd % len(engines)
            results = {}
            for engine in engines[shift:] + engines[:shift]:
                print(f"round {rnd + 1}/{args.rounds}: timing {engine} ...", file=sys.stderr, flush=True)
                if engine == "amanuensis":
                    results["amanuensis"] = amanuensis(args, "int8")
                    if args.amanuensis_fp32:
                        results["amanuensis-fp32"] = amanuensis(args, "fp32")
                elif engine == "whisper.cpp":
                    if ggml is None:
                        results[engine] = {"skipped": "pywhispercpp not installed (python3 -m pip install pywhispercpp)"}
                        continue
                    results[engine] = spawn(engine, args, mel_path, ggml)
                    results[engine]["ggml"] = str(ggml)
                else:
                    results[engine] = spawn(engine, args, mel_path)
            rep["per_round"].append(results)
    # Per engine: the last round's details, with the median over the rounds' medians.
    rep["results"] = {}
    for name in dict.fromkeys(n for n in ["amanuensis", "amanuensis-fp32"] + engines if n in rep["per_round"][0]):
        r = dict(rep["per_round"][-1][name])
        if "median_ms" in r:
            r["rounds_ms"] = [rd[name]["median_ms"] for rd in rep["per_round"]]
            r["median_ms"] = statistics.median(r["rounds_ms"])
            if name != "amanuensis":
                r["ratio_to_amanuensis_by_round"] = ratios(rep["per_round"], name)
        rep["results"][name] = r
    rep["loadavg_after"] = os.getloadavg()[0]
    if args.json != "-":
        print_report(rep)
    if args.json:
        text = json.dumps(rep, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
