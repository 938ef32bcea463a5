#!/usr/bin/env python3
"""A small run of tools/load_test.py: 20 requests from 5 clients against
`amanuensis serve` (tiny.en, 2 workers) over the speech files of 4 s or less; no
failures, every transcript the CLI's."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import load_test  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--amanuensis", required=True)
args = ap.parse_args()
sys.exit(load_test.main(["--amanuensis", args.amanuensis, "--model",
                         os.path.join(load_test.MODELS, "tiny.en"), "--requests", "20", "--clients", "5",
                         "--workers", "2", "--threads-per-worker", "1", "--max-seconds", "4"]))
