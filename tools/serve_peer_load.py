#!/usr/bin/env python3
"""faster-whisper serving the load that tools/load_test.py sends to `amanuensis
serve`, the way speaches serves it: one in-process
`WhisperModel(num_workers=W, cpu_threads=T)` fed by C client threads, each
transcribing (beam 5, language detected, no VAD) the clips of the development
set in turn, N requests in all. Reports audio seconds per wall second, with the
same clips and counts as load_test.py, so the two can be run side by side:

  python3 tools/serve_peer_load.py --requests 96 --clients 8 --max-seconds 30
  python3 tools/load_test.py --requests 96 --clients 8 --max-seconds 30 --workers 4 --threads-per-worker 1
"""
import argparse
import concurrent.futures
import glob
import json
import os
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from server_process import MODELS  # noqa: E402
from load_test import AUDIO, SPEECH, percentile, seconds  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(MODELS, "base"))
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--num-workers", type=int, default=2)
    ap.add_argument("--cpu-threads", type=int, default=1)
    ap.add_argument("--files", default=SPEECH)
    ap.add_argument("--max-seconds", type=float, default=30)
    args = ap.parse_args(argv)
    from faster_whisper import WhisperModel, decode_audio

    # load_test.py's clips: its CLI references' durations, here the decoded audio's.
    files = sorted(f for f in glob.glob(os.path.join(args.files, "*")) if f.endswith(AUDIO))
    files = [f for f in files if seconds(f) <= args.max_seconds
             and len(decode_audio(f)) / 16000 <= args.max_seconds]
    model = WhisperModel(args.model, device="cpu", compute_type="int8",
                         num_workers=args.num_workers, cpu_threads=args.cpu_threads)

    def one(i):
        f = files[i % len(files)]
        t0 = time.perf_counter()
        segments, info = model.transcribe(f, beam_size=5)
        text = "".join(s.text for s in segments)
        return time.perf_counter() - t0, info.duration, text

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(one, range(args.requests)))
    wall = time.perf_counter() - t0
    latencies = [r[0] for r in results]
    print(json.dumps({
        "engine": "faster-whisper", "num_workers": args.num_workers, "cpu_threads": args.cpu_threads,
        "requests": args.requests, "clients": args.clients, "files": len(files),
        "wall_s": round(wall, 2), "p50_s": round(percentile(latencies, 50), 3),
        "audio_s_per_wall_s": round(sum(r[1] for r in results) / wall, 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
