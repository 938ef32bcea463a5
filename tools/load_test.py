#!/usr/bin/env python3
"""Load test of `amanuensis serve`: N requests from C concurrent `openai`
clients over the development set's speech files. Checks that nothing fails
(but the 429s of a full queue, when --queue-size allows them) and that every
transcript is the CLI's for the same file, byte for byte: its text and each
segment's times, tokens and scores (verbose_json), however the server batched
it with other requests. Reports p50/p99 latency, throughput (audio seconds per
wall second), the server's peak RSS (VmHWM) and its decoder batches (/health).

  python3 tools/load_test.py --amanuensis build/amanuensis --requests 200 --clients 50 --workers 4
"""
import argparse
import concurrent.futures
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import openai
import soundfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
from server_process import MODELS, ServerProcess  # noqa: E402

SPEECH = os.path.join(ROOT, "tests", "data", "speech")
AUDIO = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


def references(exe, model, precision, files):
    """The CLI's json transcript of each file, from one run over all of them."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([exe, "transcribe", *files, "--model", model, "--precision", precision,
                        "--output-format", "json", "--output-dir", out, "--quiet"], check=True)
        refs = {}
        for f in files:
            with open(os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".json")) as j:
                refs[f] = json.load(j)
        return refs


def seconds(path):
    """The file's duration, or 0 where libsndfile cannot tell (the CLI's json says)."""
    try:
        return soundfile.info(path).duration
    except RuntimeError:
        return 0.0


def segments(transcript):
    """What must be the same bytes: each segment's times, text, tokens and scores."""
    return [(s["start"], s["end"], s["text"], list(s["tokens"]), s["avg_logprob"], s["no_speech_prob"])
            for s in transcript["segments"]]


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


def run(args):
    files = sorted(f for f in glob.glob(os.path.join(args.files, "*")) if f.endswith(AUDIO))
    files = [f for f in files if seconds(f) <= args.max_seconds]
    refs = references(args.amanuensis, args.model, args.precision, files)
    files = [f for f in files if refs[f]["duration"] <= args.max_seconds]
    threads = args.threads_per_worker or max(1, 2 // args.workers)
    server = ServerProcess(args.amanuensis, args.model, "--workers", str(args.workers),
                           "--threads-per-worker", str(threads), "--precision", args.precision,
                           *(["--batch-across-requests"] if args.batch_across_requests else []),
                           "--queue-size", str(args.clients if args.queue_size is None else args.queue_size))
    name = os.path.basename(os.path.normpath(args.model))
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=3600)
    data = {f: open(f, "rb").read() for f in files}

    def one(i):
        f = files[i % len(files)]
        t0 = time.perf_counter()
        try:
            r = client.audio.transcriptions.create(model=name, file=(os.path.basename(f), data[f]),
                                                   response_format="verbose_json")
            return f, time.perf_counter() - t0, 200, (r.text, segments(r.model_dump()))
        except openai.APIStatusError as e:
            return f, time.perf_counter() - t0, e.status_code, str(e)
        except openai.APIConnectionError as e:
            return f, time.perf_counter() - t0, 0, str(e)

    try:
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - t0
        rss_mb = server.peak_rss_kb() / 1024
        health = json.loads(urllib.request.urlopen(server.url + "/health").read())
    finally:
        exit_status = server.stop()
    ok = [r for r in results if r[2] == 200]
    mismatches = [(os.path.basename(f), got, (refs[f]["text"].strip(), segments(refs[f])))
                  for f, _, _, got in ok if got != (refs[f]["text"].strip(), segments(refs[f]))]
    failed = [(os.path.basename(f), code, text[:200]) for f, _, code, text in results
              if code not in (200, 429)]
    latencies = [r[1] for r in ok]
    return {
        "model": name, "precision": args.precision, "workers": args.workers,
        "threads_per_worker": threads, "requests": args.requests, "clients": args.clients,
        "files": len(files), "ok": len(ok), "rate_limited": sum(r[2] == 429 for r in results),
        "failed": failed, "mismatches": mismatches, "wall_s": round(wall, 2),
        "p50_s": round(percentile(latencies, 50), 3), "p99_s": round(percentile(latencies, 99), 3),
        "audio_s_per_wall_s": round(sum(refs[f]["duration"] for f, *_ in ok) / wall, 2),
        "peak_rss_mb": round(rss_mb, 1), "exit_status": exit_status,
        # (absent from servers before 2026-12-06)
        "decoder_batch": health.get("decoder_batch"),
        "audio_seconds_transcribed": health.get("audio_seconds_transcribed"),
    }


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--amanuensis", default=os.path.join(ROOT, "build", "amanuensis"))
    ap.add_argument("--model", default=os.path.join(MODELS, "base"))
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads-per-worker", type=int, default=0, help="0: 2 cores / workers")
    ap.add_argument("--batch-across-requests", action="store_true", help="serve's flag of that name")
    ap.add_argument("--queue-size", type=int, default=None, help="default: --clients (no 429)")
    ap.add_argument("--files", default=SPEECH, help="folder of audio files")
    ap.add_argument("--max-seconds", type=float, default=float("inf"), help="skip longer files")
    return ap.parse_args(argv)


def good(r):
    return not r["failed"] and not r["mismatches"] and r["exit_status"] == 0 and r["ok"] > 0


def main(argv=None):
    r = run(parse(argv))
    print(json.dumps(r, indent=2, ensure_ascii=False))
    return 0 if good(r) else 1


if __name__ == "__main__":
    sys.exit(main())
