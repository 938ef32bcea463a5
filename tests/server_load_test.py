#!/usr/bin/env python3
"""A small run of tools/load_test.py: 20 requests from 5 clients against
`amanuensis serve --batch-across-requests` (tiny.en, 4 workers of 1 thread) over the speech files
of 4 s or less; no failures, every transcript the CLI's byte for byte although
the requests' decoder steps ran together (checked: some steps held several
requests' rows)."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import load_test  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--amanuensis", required=True)
args = ap.parse_args()
r = load_test.run(load_test.parse(["--amanuensis", args.amanuensis, "--model",
                                    os.path.join(load_test.MODELS, "tiny.en"), "--requests", "20",
                                    "--clients", "5", "--workers", "4", "--threads-per-worker", "1",
                                    "--batch-across-requests",
                                    "--max-seconds", "4"]))
print(r)
assert load_test.good(r), "failures or transcripts that differ from the CLI's"
assert r["decoder_batch"]["shared_steps"] > 0, "no decoder step held two requests' rows"
print("server_load_test: ok")
