#!/usr/bin/env python3
"""The decoder, side by side with CTranslate2 int8 (faster-whisper's engine) on the same weights:
the time of one beam-search step at S sequences of 5 beams, and the peak memory of a whole run.

  python3 tools/bench_decoder_peers.py --model /tmp/amanuensis_sizes/large-v3 --sequences 1 8

Step (each engine in its own subprocess, in rounds with the order rotated):
  amanuensis   `amanuensis-dev bench decoder --sequences S --beams 5 --context 60 --steps 20
               --json`: the median step with 60 tokens cached. The decoder's forward pass only:
               it leaves out the search's log-softmax and top-k over the vocabulary.
  ctranslate2  ctranslate2.models.Whisper(DIR, compute_type="int8", intra_threads=N).generate()
               on S random encoder outputs (the encoder is not run) with a 60-token prompt
               (previous text, then sot, en, transcribe, notimestamps), beam 5, eot suppressed
               so that every beam runs to the length limit. Step = (time for 24 new tokens -
               time for 4) / 20, medians of --runs each: the prompt's pass cancels out, the
               search's work per step stays in (so this favours us slightly).
Whole run (peak RSS and wall time, each engine a fresh process, model load included):
  amanuensis   `amanuensis transcribe AUDIO --beam-size 5 --temperature 0 --max-new-tokens 24`
  ctranslate2  load, faster-whisper's log-mel of AUDIO's first 30 s, encode, generate 24 tokens
               (eot suppressed), beam 5.
Peak RSS from wait4() of each child (ru_maxrss).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from testdata import JFK  # noqa: E402

BEAMS, CONTEXT, SHORT, LONG = 5, 60, 4, 24


def run_child(cmd):
    """Runs cmd; returns (stdout, peak RSS in MiB, wall seconds). Raises on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd[:4]} failed ({p.returncode}): {err.read().decode()[-2000:]}")
        return out.read().decode(), usage.ru_maxrss / 1024, wall


# ----------------------------------------------------------------------------- CTranslate2 worker


def special_ids(model_dir):
    folder = Path(model_dir)
    if (folder / "vocabulary.json").exists():  # CTranslate2 writes either
        words = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
    else:
        words = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    ids = {w: i for i, w in enumerate(words)}
    return [ids[t] for t in ("<|startofprev|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>",
                             "<|notimestamps|>", "<|endoftext|>")]


def ct2_generate(model, encoded, prompt, eot, new_tokens):
    results = model.generate(encoded, [prompt] * encoded.shape[0], beam_size=BEAMS,
                             max_length=max(2 * new_tokens, new_tokens + len(prompt) - 1),
                             suppress_tokens=[eot], suppress_blank=False)
    # With eot suppressed, generate() stops at min(max_length / 2, max_length - len(prompt) + 1)
    # new tokens (measured with CTranslate2 4.8.5); check it, since the step comes from the count.
    got = {len(r.sequences_ids[0]) for r in results}
    if got != {new_tokens}:
        raise RuntimeError(f"CTranslate2 generated {got} tokens, expected {new_tokens}")


def ct2_worker(args):
    import ctranslate2
    model = ctranslate2.models.Whisper(args.model, device="cpu", compute_type="int8",
                                       intra_threads=args.threads, inter_threads=1)
    prev, sot, en, transcribe, notimestamps, eot = special_ids(args.model)
    rng = np.random.default_rng(3)
    text = rng.integers(0, eot, CONTEXT - 5).tolist()
    prompt = [prev] + text + [sot, en, transcribe, notimestamps]
    if args.worker == "ct2-run":
        from faster_whisper.feature_extractor import FeatureExtractor
        from faster_whisper.audio import decode_audio
        mel = FeatureExtractor(feature_size=model.n_mels)(decode_audio(args.audio), padding=480000)[:, :3000]
        encoded = model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])))
        ct2_generate(model, encoded, [sot, en, transcribe, notimestamps], eot, LONG)
        print(json.dumps({}))
        return
    d = args.width
    if not d:  # CTranslate2's config.json does not give the width: one encode of silence does
        d = np.array(model.encode(ctranslate2.StorageView.from_array(
            np.zeros((1, model.n_mels, 3000), np.float32)))).shape[-1]
    encoded = ctranslate2.StorageView.from_array(
        rng.standard_normal((args.sequences, 1500, d)).astype(np.float32))
    times = {SHORT: [], LONG: []}
    ct2_generate(model, encoded, prompt, eot, SHORT)  # warm-up
    for _ in range(args.runs):
        for n in (SHORT, LONG):
            t0 = time.perf_counter()
            ct2_generate(model, encoded, prompt, eot, n)
            times[n].append(time.perf_counter() - t0)
    step = (statistics.median(times[LONG]) - statistics.median(times[SHORT])) / (LONG - SHORT)
    print(json.dumps({"step_ms": step * 1e3}))


# ----------------------------------------------------------------------------- driver


def step_ms(engine, args, sequences):
    if engine == "amanuensis":
        out, rss, _ = run_child([str(args.dev), "bench", "decoder", "--model", args.model,
                                 "--sequences", str(sequences), "--beams", str(BEAMS),
                                 "--context", str(CONTEXT), "--steps", str(LONG - SHORT),
                                 "--threads", str(args.threads), "--json"])
    else:
        out, rss, _ = run_child([sys.executable, __file__, "--worker", "ct2-step", "--model", args.model,
                                 "--sequences", str(sequences), "--threads", str(args.threads),
                                 "--width", str(args.width),
                                 "--runs", str(args.runs)])
    return json.loads(out)["step_ms"], rss


def whole_run(engine, args):
    if engine == "amanuensis":
        out, rss, wall = run_child([str(args.cli), "transcribe", str(args.audio), "--model", args.model,
                                    "--beam-size", str(BEAMS), "--temperature", "0", "--max-new-tokens",
                                    str(LONG), "--threads", str(args.threads), "--output-format", "json",
                                    "--quiet"])
        tokens = sum(len(s["tokens"]) for s in json.loads(out)["segments"])
    else:
        _, rss, wall = run_child([sys.executable, __file__, "--worker", "ct2-run", "--model", args.model,
                                  "--threads", str(args.threads), "--audio", str(args.audio)])
        tokens = LONG
    return rss, wall, tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a model folder in CTranslate2's format")
    ap.add_argument("--sequences", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3, help="CTranslate2: generate() calls per length")
    ap.add_argument("--audio", type=Path, default=JFK)
    ap.add_argument("--width", type=int, default=0, help="the model's d_model (found by one encode if not given)")
    ap.add_argument("--dev", type=Path, default=REPO / "build" / "amanuensis-dev")
    ap.add_argument("--cli", type=Path, default=REPO / "build" / "amanuensis")
    ap.add_argument("--worker", choices=["ct2-step", "ct2-run"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.sequences = args.sequences[0]
        return ct2_worker(args)

    engines = ["amanuensis", "ctranslate2"]
    print(f"# {args.model}, {args.threads} threads, load average {os.getloadavg()[0]:.2f}", flush=True)
    for sequences in args.sequences:
        ratios, ours, theirs = [], [], []
        for r in range(args.rounds):
            got = {}
            for engine in engines[r % 2:] + engines[:r % 2]:
                got[engine] = step_ms(engine, args, sequences)[0]
            ours.append(got["amanuensis"])
            theirs.append(got["ctranslate2"])
            ratios.append(got["ctranslate2"] / got["amanuensis"])
            print(f"  step, {sequences * BEAMS} rows, round {r + 1}: ours {got['amanuensis']:.2f} ms,"
                  f" CTranslate2 {got['ctranslate2']:.2f} ms, {ratios[-1]:.2f}x", flush=True)
        print(f"step, {sequences} x {BEAMS} = {sequences * BEAMS} rows: ours {statistics.median(ours):.2f} ms,"
              f" CTranslate2 int8 {statistics.median(theirs):.2f} ms, {statistics.median(ratios):.2f}x"
              f" (rounds {min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    runs = {e: [] for e in engines}
    for r in range(args.rounds):
        for engine in engines[r % 2:] + engines[:r % 2]:
            runs[engine].append(whole_run(engine, args))
    for engine in engines:
        rss = max(x[0] for x in runs[engine])
        wall = statistics.median(x[1] for x in runs[engine])
        tokens = sorted({x[2] for x in runs[engine]})
        print(f"whole run, {engine}: peak RSS {rss:.0f} MiB, wall {wall:.2f} s (load included),"
              f" {'/'.join(map(str, tokens))} tokens", flush=True)


if __name__ == "__main__":
    main()
