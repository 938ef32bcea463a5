#!/usr/bin/env python3
"""Word error rate on five short English clips of the development set (tests/data/speech):
LibriSpeech, LJ Speech, Picovoice and two CMU pocketsphinx clips, base model, beam 5,
2 threads, language auto-detected.

  * our int8 pooled WER <= faster-whisper float32's + 0.02 (two points: loose, five clips);
  * our fp32 text == faster-whisper float32's, character for character, on at least 4 of 5.

Scoring as tools/eval_wer.py (Whisper's English normalizer on both sides, jiwer), whose
functions it uses. The full set: python3 tools/eval_wer.py.
"""
import argparse
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import eval_wer  # noqa: E402
from testdata import MODELS, SPEECH

DATA = SPEECH
CLIPS = ["en_librispeech_1988-24833-0001.flac",
         "en_ljspeech_LJ050-0131.wav",
         "en_picovoice_test.wav",
         "en_pocketsphinx_sense_and_sensibility_01-0870.wav",
         "en_pocketsphinx_goforward.wav"]
BEAM, THREADS = 5, 2
WER_MARGIN = 0.02
MIN_IDENTICAL = 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = pathlib.Path(ap.parse_args().amanuensis)
    model = MODELS / "base"
    rows = {r["file"]: r for r in eval_wer.read_manifest(DATA)}
    missing = [c for c in CLIPS if c not in rows or not rows[c]["path"].is_file()]
    if missing:
        print(f"FAIL: missing from {DATA}: {', '.join(missing)}")
        return 1
    fw = eval_wer.FasterWhisper(model, BEAM, THREADS, cache_path=None)

    engines = ("ours-int8", "ours-fp32", "fw-fp32")
    totals = {e: [0, 0] for e in engines}
    identical = 0
    failures = []
    print("| clip | words | our int8 WER % | our fp32 WER % | fw fp32 WER % | our fp32 == fw fp32 |")
    print("|---|---:|---:|---:|---:|---|")
    for clip in CLIPS:
        row = rows[clip]
        ref = eval_wer.reference_text(row)
        runs = {"ours-int8": eval_wer.run_ours(exe, model, row["path"], "int8", BEAM, THREADS),
                "ours-fp32": eval_wer.run_ours(exe, model, row["path"], "fp32", BEAM, THREADS),
                "fw-fp32": fw.transcribe("float32", row["path"])}
        for e, r in runs.items():
            if "error" in r:
                failures.append(f"{clip}: {e}: {r['error']}")
        if any("error" in r for r in runs.values()):
            continue
        scores = {e: eval_wer.score(ref, runs[e]["text"], "en") for e in engines}
        for e in engines:
            totals[e][0] += scores[e]["errors"]
            totals[e][1] += scores[e]["ref_len"]
        same = runs["ours-fp32"]["text"] == runs["fw-fp32"]["text"]
        identical += same
        print(f"| {clip} | {scores['fw-fp32']['ref_len']} | " +
              " | ".join(f"{100 * scores[e]['rate']:.1f}" for e in engines) + f" | {'yes' if same else 'NO'} |")
        if not same:
            print(f"    ours fp32: {runs['ours-fp32']['text']!r}\n    fw fp32:   {runs['fw-fp32']['text']!r}")
    if failures:
        for f in failures:
            print("FAIL " + f)
        return 1
    pooled = {e: totals[e][0] / totals[e][1] for e in engines}
    print("| pooled | " + str(totals["fw-fp32"][1]) + " | " +
          " | ".join(f"{100 * pooled[e]:.2f}" for e in engines) + f" | {identical} / {len(CLIPS)} |")

    ok = True
    cond = pooled["ours-int8"] <= pooled["fw-fp32"] + WER_MARGIN
    print(("ok   " if cond else "FAIL ") + f"our int8 pooled WER {100 * pooled['ours-int8']:.2f} % <= faster-whisper "
          f"float32 {100 * pooled['fw-fp32']:.2f} % + {100 * WER_MARGIN:.0f} points")
    ok &= cond
    cond = identical >= MIN_IDENTICAL
    print(("ok   " if cond else "FAIL ") + f"our fp32 text == faster-whisper float32 on {identical} of {len(CLIPS)} "
          f"clips (need {MIN_IDENTICAL})")
    ok &= cond
    print(f"wer_subset_test: {'passed' if ok else 'failed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
