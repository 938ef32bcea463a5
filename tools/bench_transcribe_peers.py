#!/usr/bin/env python3
"""End-to-end transcription, file in -> text out, side by side: amanuensis, faster-whisper
(int8) and whisper.cpp (through pywhispercpp), same machine, threads, beam and weights.

  python3 tools/bench_transcribe_peers.py                     # base, 2 threads, beam 5, 3 rounds
  python3 tools/bench_transcribe_peers.py --rounds 1 --files samples/jfk.wav --json out.json

Every run is a fresh process, timed from spawn to exit (wall clock), so each figure includes
process start-up, model load, audio decoding and the whole transcription; peak RSS is that
process's (and its waited-for children's) ru_maxrss from wait4().
  amanuensis    `amanuensis transcribe FILE --model DIR --precision int8 --beam-size B
                --threads N --quiet --output-format txt`. It has no in-process split of load and
                transcription in this mode: only its process time is reported.
  faster-whisper `python3 -c SCRIPT`: imports faster_whisper, WhisperModel(DIR, device="cpu",
                compute_type="int8", cpu_threads=N), transcribe(FILE, beam_size=B) with the
                language auto-detected, consuming the segment generator. Besides the process
                time, the script's own clock around transcribe() + consuming the segments
                (no interpreter start, imports or model load) is reported, for reference.
  whisper.cpp   `python3 -c SCRIPT` with pywhispercpp's Model(GGML, params_sampling_strategy=1
                (beam search), beam_search={"beam_size": B, "patience": -1.0}, n_threads=N,
                language="auto", no_context=False (condition on previous text, as the other
                two do)).transcribe(FILE); the ggml file is tools/ct2_to_ggml.py's conversion of
                the same CTranslate2 folder (f16 weights, cached in ~/.cache/amanuensis/ggml/).
                pywhispercpp reads 16 kHz 16-bit WAV itself and converts anything else with an
                ffmpeg subprocess (included in its time and, via wait4, its peak RSS). Its
                load-excluded time is reported as for faster-whisper. Skipped when pywhispercpp
                is not installed (python3 -m pip install pywhispercpp) or with --skip-whisper-cpp.

Rounds: in each round every file is transcribed once by every engine, the engines' order
rotated from round to round (as tools/bench_encoder_peers.py does): on a shared machine the
load moves, so the report gives each round's ratios (peer time / amanuensis time, same file,
same round) and their median. --warmup untimed runs of each engine on the first file come
first (page cache, model files).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import JFK, MODELS, SPEECH  # noqa: E402  (the tests' data, inside the repository)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FILES = [JFK, SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"]
ENGINES = ("amanuensis", "faster-whisper", "whisper.cpp")

# Each script prints one JSON line; t_start is taken before any import.
FW_SCRIPT = """\
import time; t_start = time.perf_counter()
import json, sys
from faster_whisper import WhisperModel
model_dir, audio, threads, beam = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
t_loaded = time.perf_counter()
segments, info = model.transcribe(audio, beam_size=beam)
text = "".join(s.text for s in segments)
t_done = time.perf_counter()
print(json.dumps({"load_s": t_loaded - t_start, "transcribe_s": t_done - t_loaded,
                  "language": info.language, "text": text}))
"""

WCPP_SCRIPT = """\
import time; t_start = time.perf_counter()
import json, sys
from pywhispercpp.model import Model
import _pywhispercpp as pw

ggml, audio, threads, beam = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
model = Model(ggml, params_sampling_strategy=1, redirect_whispercpp_logs_to=None, n_threads=threads,
              beam_search={"beam_size": beam, "patience": -1.0}, language="auto", no_context=False,
              print_progress=False, print_realtime=False)
t_loaded = time.perf_counter()
segments = model.transcribe(audio)
text = " ".join(s.text for s in segments)
t_done = time.perf_counter()
print(json.dumps({"load_s": t_loaded - t_start, "transcribe_s": t_done - t_loaded,
                  "language": pw.whisper_lang_str(pw.whisper_full_lang_id(model._ctx)), "text": text,
                  "system_info": pw.whisper_print_system_info().strip()}))
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed_process(cmd, timeout=3600):
    """Runs cmd; returns (wall seconds, peak RSS MiB, exit status, stdout, stderr). wait4() gives
    this child's own rusage (including the children it waited for), not a running maximum."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
        out.seek(0)
        err.seek(0)
        return wall, ru.ru_maxrss / 1024.0, p.returncode, out.read().decode(errors="replace"), \
            err.read().decode(errors="replace")


def commands(args, audio):
    return {
        "amanuensis": [str(args.amanuensis), "transcribe", str(audio), "--model", str(args.model),
                       "--precision", "int8", "--beam-size", str(args.beam_size), "--threads", str(args.threads),
                       "--quiet", "--output-format", "txt"],
        "faster-whisper": [sys.executable, "-c", FW_SCRIPT, str(args.model), str(audio), str(args.threads),
                           str(args.beam_size)],
        "whisper.cpp": [sys.executable, "-c", WCPP_SCRIPT, str(args.ggml), str(audio), str(args.threads),
                        str(args.beam_size)],
    }


def display_command(engine, cmd):
    """The command line as a reader would type it (the -c script named, not inlined)."""
    if engine == "amanuensis":
        return shlex.join(cmd)
    name = "FW_SCRIPT" if engine == "faster-whisper" else "WCPP_SCRIPT"
    return shlex.join([Path(cmd[0]).name, "-c", f"<{name}>"] + cmd[3:])


def run_engine(args, engine, audio):
    cmd = commands(args, audio)[engine]
    for attempt in range(30):
        if engine == "amanuensis" and not os.access(args.amanuensis, os.X_OK):
            log(f"  {args.amanuensis} missing (relinking?), waiting ...")
            time.sleep(5)
            continue
        try:
            wall, rss, rc, out, err = timed_process(cmd)
        except OSError as e:  # ETXTBSY while being relinked
            log(f"  {engine}: {e}; retrying ...")
            time.sleep(5)
            continue
        if engine == "amanuensis" and rc in (126, 127):
            time.sleep(5)
            continue
        break
    else:
        raise RuntimeError(f"{engine}: could not run {cmd[0]}")
    if rc != 0:
        raise RuntimeError(f"{engine} failed (exit {rc}): {shlex.join(cmd)[:300]}\n{err[-3000:]}")
    res = {"wall_s": wall, "peak_rss_mib": rss}
    if engine == "amanuensis":
        res["text"] = " ".join(line.strip() for line in out.splitlines() if line.strip())
    else:
        res.update(json.loads(out.strip().splitlines()[-1]))
    return res


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def duration_s(audio):
    try:
        import soundfile
        return soundfile.info(str(audio)).duration
    except Exception:  # noqa: BLE001 - informational only
        return None


def med(xs):
    return statistics.median(xs) if xs else None


def f2(x, unit=""):
    return "–" if x is None else f"{x:.2f}{unit}"


def print_report(rep):
    engines = rep["engines"]
    print(f"# End-to-end transcription: {rep['model']}, {rep['threads']} threads, beam {rep['beam_size']}")
    print(f"machine: {rep['cpu']}, {rep['cpus']} logical CPUs, load average before/after "
          f"{rep['loadavg_before']:.2f}/{rep['loadavg_after']:.2f}")
    print(f"command: {rep['command']}")
    print(f"{rep['rounds']} rounds, engine order rotated each round; every run a fresh process; "
          f"times are whole-process wall time (start-up + model load + decoding + transcription)\n")
    for f in rep["files"]:
        runs = f["rounds"]
        print(f"## {Path(f['file']).name} ({f2(f['duration_s'], ' s')} of audio)\n")
        head = ["round", "order", "amanuensis s"]
        if "faster-whisper" in engines:
            head += ["faster-whisper s", "fw / ours", "fw transcribe only s"]
        if "whisper.cpp" in engines:
            head += ["whisper.cpp s", "w.cpp / ours", "w.cpp transcribe only s"]
        print("| " + " | ".join(head) + " |")
        print("|---|---|" + "---:|" * (len(head) - 2))
        for i, r in enumerate(runs, 1):
            a = r["amanuensis"]["wall_s"]
            cells = [str(i), " → ".join(r["order"]), f"{a:.2f}"]
            for e in ("faster-whisper", "whisper.cpp"):
                if e in engines:
                    cells += [f"{r[e]['wall_s']:.2f}", f"{r[e]['wall_s'] / a:.2f}x", f"{r[e]['transcribe_s']:.2f}"]
            print("| " + " | ".join(cells) + " |")
        s = f["summary"]
        cells = ["**median**", "", f"**{f2(s['amanuensis']['wall_s'])}**"]
        for e in ("faster-whisper", "whisper.cpp"):
            if e in engines:
                cells += [f"**{f2(s[e]['wall_s'])}**", f"**{f2(s[e]['ratio'], 'x')}**", f2(s[e]["transcribe_s"])]
        print("| " + " | ".join(cells) + " |\n")
        print("| engine | median process s | ratio to amanuensis (median of rounds) | peak RSS MiB (max of runs) "
              "| language | text (last round, first 80 chars) |")
        print("|---|---:|---:|---:|---|---|")
        for e in engines:
            last = runs[-1][e]
            print(f"| {e} | {f2(s[e]['wall_s'])} | {'reference' if e == 'amanuensis' else f2(s[e]['ratio'], 'x')} | "
                  f"{s[e]['peak_rss_mib']:.0f} | {last.get('language', '(auto)')} | {last['text'][:80]!r} |")
        print()
    print("Commands (FILE is each file; the scripts follow):\n")
    for e in engines:
        print(f"* {e}: `{rep['commands'][e]}`")
    for name, engine in (("FW_SCRIPT", "faster-whisper"), ("WCPP_SCRIPT", "whisper.cpp")):
        if engine in engines:
            print(f"\n{name} (argv: model, FILE, threads, beam):\n\n```python\n{rep['scripts'][name]}```")
    if rep.get("whisper_cpp_system_info"):
        print(f"\nwhisper.cpp ({rep.get('pywhispercpp')}): {rep['whisper_cpp_system_info']}")
    if rep.get("skipped"):
        print(f"\nskipped: {rep['skipped']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=MODELS / "base", help="CTranslate2 model folder (default: base)")
    ap.add_argument("--files", nargs="+", type=Path, default=DEFAULT_FILES,
                    help="audio files (default: jfk.wav and the 3.8 min long-form LJ Speech file)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each engine on the first file first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--amanuensis", type=Path, default=REPO / "build" / "amanuensis")
    ap.add_argument("--ggml", type=Path, help="whisper.cpp model (default: tools/ct2_to_ggml.py's conversion "
                    "of --model, made if missing)")
    ap.add_argument("--skip-whisper-cpp", action="store_true")
    ap.add_argument("--json", metavar="OUT", help="also write all runs as JSON")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if not (args.model / "model.bin").is_file():
        ap.error(f"{args.model}: no model.bin (python3 scripts/fetch_models.py base)")
    for f in args.files:
        if not f.is_file():
            ap.error(f"{f} not found")
    args.model = args.model.resolve()

    engines = ["amanuensis", "faster-whisper"]
    rep = {"model": str(args.model), "threads": args.threads, "beam_size": args.beam_size, "rounds": args.rounds,
           "cpu": cpu_model(), "cpus": os.cpu_count(), "command": shlex.join([sys.executable] + sys.argv)}
    if args.skip_whisper_cpp:
        rep["skipped"] = "whisper.cpp (--skip-whisper-cpp)"
    elif importlib.util.find_spec("pywhispercpp") is None:
        rep["skipped"] = "whisper.cpp: pywhispercpp not installed (python3 -m pip install pywhispercpp)"
        log(rep["skipped"])
    else:
        if args.ggml is None:
            # In a child process: a child forked after an in-process conversion starts with this
            # process's ~450 MiB, and ru_maxrss counts them (every engine read 445 MiB).
            conv = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "ct2_to_ggml.py"),
                                   str(args.model)], stdout=subprocess.PIPE, text=True, check=True)
            args.ggml = Path(conv.stdout.strip().splitlines()[-1])
        engines.append("whisper.cpp")
        from importlib.metadata import version
        rep["pywhispercpp"] = "pywhispercpp " + version("pywhispercpp")
        rep["ggml"] = str(args.ggml)
    rep["engines"] = engines
    rep["commands"] = {e: display_command(e, c) for e, c in commands(args, "FILE").items() if e in engines}
    rep["scripts"] = {"FW_SCRIPT": FW_SCRIPT, "WCPP_SCRIPT": WCPP_SCRIPT}
    rep["loadavg_before"] = os.getloadavg()[0]

    for w in range(args.warmup):
        for e in engines:
            log(f"warm-up {w + 1}/{args.warmup}: {e} on {args.files[0].name} ...")
            run_engine(args, e, args.files[0])
    rep["files"] = [{"file": str(f), "duration_s": duration_s(f), "rounds": []} for f in args.files]
    for rnd in range(args.rounds):
        order = engines[rnd % len(engines):] + engines[:rnd % len(engines)]
        for f in rep["files"]:
            r = {"order": order}
            for e in order:
                log(f"round {rnd + 1}/{args.rounds}: {e} on {Path(f['file']).name} ...")
                r[e] = run_engine(args, e, f["file"])
                log(f"  {r[e]['wall_s']:.2f} s, peak RSS {r[e]['peak_rss_mib']:.0f} MiB")
            f["rounds"].append(r)
    for f in rep["files"]:
        s = {}
        for e in engines:
            runs = [r[e] for r in f["rounds"]]
            s[e] = {"wall_s": med([x["wall_s"] for x in runs]),
                    "peak_rss_mib": max(x["peak_rss_mib"] for x in runs),
                    "transcribe_s": med([x["transcribe_s"] for x in runs if "transcribe_s" in x])}
            if e != "amanuensis":
                s[e]["ratios"] = [r[e]["wall_s"] / r["amanuensis"]["wall_s"] for r in f["rounds"]]
                s[e]["ratio"] = med(s[e]["ratios"])
        f["summary"] = s
        if "whisper.cpp" in engines:
            rep["whisper_cpp_system_info"] = f["rounds"][-1]["whisper.cpp"].get("system_info")
    rep["loadavg_after"] = os.getloadavg()[0]
    print_report(rep)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
