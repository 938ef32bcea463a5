#!/usr/bin/env python3
"""The sizes people run, on random weights at their real dimensions (only tiny.en and base
weights can be had here): for each of small, medium, large-v3 and large-v3-turbo, the encoder
on one 30 s window side by side with CTranslate2 int8 (tools/bench_encoder_peers.py), then
the decoder step at 5 rows (one sequence, 5 beams) and 40 rows (8 sequences of 5 beams, one
batched step) and a whole run's peak RSS, side by side with CTranslate2 int8
(tools/bench_decoder_peers.py), then our step's memory and compute floors (`amanuensis-dev
bench decoder`).

  python3 tools/bench_sizes.py                       # all four, models written to /tmp/amanuensis_sizes
  python3 tools/bench_sizes.py --sizes large-v3 --rounds 5

The models are written once by CTranslate2's own spec writer (tests/model_sizes_test.py's
writer: weights N(0, gain / sqrt(fan in)), real layer counts, a real vocabulary) and reused.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import model_sizes_test as sizes  # noqa: E402
import transcribe_sizes_test as vocab  # noqa: E402

# name, mel bins, width, heads, vocabulary, encoder layers, decoder layers
SIZES = [("small", 80, 768, 12, 51865, 12, 12),
         ("medium", 80, 1024, 16, 51865, 24, 24),
         ("large-v3", 128, 1280, 20, 51866, 32, 32),
         ("large-v3-turbo", 128, 1280, 20, 51866, 32, 4)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=[s[0] for s in SIZES])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/amanuensis_sizes"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dev", type=Path, default=REPO / "build" / "amanuensis-dev")
    ap.add_argument("--cli", type=Path, default=REPO / "build" / "amanuensis")
    args = ap.parse_args()
    encoders_done = {}
    for name, mels, d, heads, n_vocab, enc, dec in SIZES:
        if name not in args.sizes:
            continue
        model = args.dir / name
        if not (model / "model.bin").exists():
            sizes.ENCODER_LAYERS = enc
            t = time.time()
            sizes.write_ct2_model(str(model), mels, d, heads, "float16", 7,
                                  tokens=vocab.vocabulary(n_vocab), decoder_layers=dec)
            (model / "preprocessor_config.json").write_text(json.dumps({"feature_size": mels}))
            print(f"# wrote {name} ({enc} + {dec} layers) in {time.time() - t:.0f} s", flush=True)
        if (mels, d, heads, enc) in encoders_done:  # large-v3-turbo: large-v3's encoder
            print(f"## {name}: encoder as {encoders_done[(mels, d, heads, enc)]}'s above", flush=True)
        else:
            encoders_done[(mels, d, heads, enc)] = name
            print(f"## {name}: encoder", flush=True)
            subprocess.run([sys.executable, str(REPO / "tools" / "bench_encoder_peers.py"), "--model", str(model),
                            "--engines", "amanuensis,ct2-int8", "--rounds", str(args.rounds), "--runs", "3",
                            "--threads", str(args.threads), "--amanuensis", str(args.dev)], check=True)
        print(f"## {name}: decoder step and peak RSS", flush=True)
        subprocess.run([sys.executable, str(REPO / "tools" / "bench_decoder_peers.py"), "--model", str(model),
                        "--sequences", "1", "8", "--rounds", str(args.rounds), "--width", str(d),
                        "--threads", str(args.threads), "--dev", str(args.dev), "--cli", str(args.cli)],
                       check=True)
        for sequences in (1, 8):
            print(f"## {name}: decoder step against its floors, {sequences} x 5 rows", flush=True)
            subprocess.run([str(args.dev), "bench", "decoder", "--model", str(model), "--sequences",
                            str(sequences), "--beams", "5", "--steps", "20", "--context", "60",
                            "--threads", str(args.threads)], check=True)


if __name__ == "__main__":
    main()
