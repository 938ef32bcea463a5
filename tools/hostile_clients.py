#!/usr/bin/env python3
"""The server issue's goal under hostile clients, measured: 50 clients
trickling headers and 50 trickling bodies for 60 s against `amanuensis serve`
(base int8, 1 worker), while /health is probed every 0.2 s and jfk.wav is
transcribed every 2 s; then SIGTERM. Prints the worst /health probe, jfk.wav's
idle and loaded latencies, how the tricklers were dropped, and how long
SIGTERM took. (tests/server_hostile_test.py runs the same for 12 s.)

  python3 tools/hostile_clients.py --amanuensis build/amanuensis --seconds 60
"""
import argparse
import json
import os
import statistics
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests"))
import server_hostile_test as hostile  # noqa: E402
from server_process import MODELS, ServerProcess  # noqa: E402
from testdata import JFK  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--amanuensis", default=os.path.join(ROOT, "build", "amanuensis"))
    ap.add_argument("--model", default=os.path.join(MODELS, "base"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--tricklers", type=int, default=50, help="of each kind")
    ap.add_argument("--flags", default="--header-timeout 10",
                    help="more serve flags ('' for a build that has no --header-timeout)")
    args = ap.parse_args()
    name = os.path.basename(os.path.normpath(args.model)).encode()
    server = ServerProcess(args.amanuensis, args.model, "--workers", "1", "--request-timeout", "60",
                           *args.flags.split())
    audio = open(JFK, "rb").read()
    r = hostile.slow_clients(server, audio, args.seconds, args.tricklers, name)
    loaded = [t for c, t in r["loaded"] if c == 200]
    refusals = [t for codes, t in r["body_refusals"] if codes == [408]]
    print(json.dumps({
        "seconds": args.seconds, "tricklers": 2 * args.tricklers,
        "health_probes": len(r["probes"]),
        "health_failed": sum(not ok for ok, _ in r["probes"]),
        "health_worst_s": round(max(t for _, t in r["probes"]), 3),
        "health_median_s": round(statistics.median(t for _, t in r["probes"]), 4),
        "jfk_idle_s": round(r["idle_s"], 3),
        "jfk_loaded": len(r["loaded"]), "jfk_loaded_ok": len(loaded),
        "jfk_loaded_median_s": round(statistics.median(loaded), 3) if loaded else None,
        "jfk_loaded_worst_s": round(max(loaded), 3) if loaded else None,
        "header_tricklers_dropped": len(r["header_drops"]),
        "header_drop_worst_s": round(max(r["header_drops"], default=0), 2),
        "body_tricklers_408": len(refusals),
        "body_408_worst_s": round(max(refusals, default=0), 2),
        "sigterm_exit_s": round(r["sigterm_s"], 2), "exit_status": r["exit_status"],
    }, indent=2))


if __name__ == "__main__":
    sys.exit(main())
