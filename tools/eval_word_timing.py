#!/usr/bin/env python3
"""Word timestamps against faster-whisper's and against human sentence times.

For each clip of tests/data/speech/ (the manifest's language given to
both), amanuensis `transcribe --word-timestamps` (int8 with word starts at
speech, the CLI's default; int8 and fp32 with `--word-starts attention`,
faster-whisper's method) and
faster-whisper float32 (same CTranslate2 model, beam 5) time every word. Words
are paired by aligning the two normalised word sequences (difflib), and the
|difference| of each paired word's start and end is pooled. On the long-form
file, each sentence's first word is found in our words and its start compared
with the human sentence start in `.segments.json`.

  python3 tools/eval_word_timing.py [--amanuensis build/amanuensis]
      [--json out.json] [--markdown docs/word_timestamps.md] [--files a.wav ...]
"""
import argparse
import csv
import difflib
import json
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import MODELS, SPEECH  # noqa: E402  (the tests' data, inside the repository)


ROOT = pathlib.Path(__file__).resolve().parent.parent
LONG = "long_en_ljspeech_LJ001-0001_to_0032.flac"


def norm(word):
    return re.sub(r"[^\w']", "", word.lower())


def ours(binary, model, path, language, variant):
    """variant: "int8:speech" = precision and --word-starts."""
    precision, starts = variant.split(":")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([binary, "transcribe", str(path), "--model", str(model), "--language", language or "auto",
                        "--precision", precision, "--word-timestamps", "--word-starts", starts,
                        "--output-format", "json",
                        "--output-dir", d, "--quiet", "--threads", "2"],
                       check=True, stdout=subprocess.DEVNULL)
        j = json.loads((pathlib.Path(d) / (path.stem + ".json")).read_text())
    return [(w["word"], w["start"], w["end"]) for s in j["segments"] for w in s.get("words", [])]


def faster_whisper_words(model, path, language):
    segments, _ = model.transcribe(str(path), language=language, beam_size=5, word_timestamps=True)
    return [(w.word, float(w.start), float(w.end)) for s in segments for w in s.words]


def paired(a, b):
    """(a_index, b_index) of words the two normalised sequences share, in order."""
    na, nb = [norm(w[0]) for w in a], [norm(w[0]) for w in b]
    out = []
    for block in difflib.SequenceMatcher(None, na, nb, autojunk=False).get_matching_blocks():
        out += [(block.a + k, block.b + k) for k in range(block.size)]
    return out


def quantiles(values):
    if not values:
        return {"n": 0}
    v = sorted(values)
    return {"n": len(v), "median": statistics.median(v), "p90": v[int(0.9 * (len(v) - 1))], "max": v[-1]}


def sentence_starts(words, segments_json):
    """|our start - human start| of each sentence's first word that we also heard."""
    ref = json.loads(pathlib.Path(segments_json).read_text())["segments"]
    ref_words, first_of = [], {}
    for i, s in enumerate(ref):
        first_of[len(ref_words)] = i
        ref_words += [(w, s["start"], s["end"]) for w in s["text"].split()]
    errors = []
    for r, o in paired(ref_words, words):
        if r in first_of:
            errors.append(abs(words[o][1] - ref[first_of[r]]["start"]))
    return errors, len(ref)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", default=str(ROOT / "build" / "amanuensis"))
    ap.add_argument("--model", default=str(MODELS / "base"))
    ap.add_argument("--files", nargs="*")
    ap.add_argument("--variants", nargs="*", default=["int8:speech", "int8:attention", "fp32:attention"],
                    help="precision:word-starts")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    from faster_whisper import WhisperModel
    fw = WhisperModel(args.model, device="cpu", compute_type="float32", cpu_threads=2)
    languages = {r["file"]: r["language"] for r in csv.DictReader(open(SPEECH / "manifest.tsv"), delimiter="\t")}
    files = [pathlib.Path(f) for f in args.files] if args.files else \
        sorted(p for p in SPEECH.iterdir() if p.name in languages and p.name != LONG)
    deltas = {p: {"start": [], "end": []} for p in args.variants}
    per_file = []
    for path in files:
        lang = languages.get(path.name, "en")
        lang = lang if lang.isalpha() else None  # "en+de": both detect
        ref = faster_whisper_words(fw, path, lang)
        row = {"file": path.name, "words": len(ref)}
        for p in args.variants:
            mine = ours(args.amanuensis, args.model, path, lang, p)
            pairs = paired(mine, ref)
            ds = [abs(mine[i][1] - ref[j][1]) for i, j in pairs]
            de = [abs(mine[i][2] - ref[j][2]) for i, j in pairs]
            deltas[p]["start"] += ds
            deltas[p]["end"] += de
            row[p] = {"paired": len(pairs), "median_start": statistics.median(ds) if ds else None,
                      "median_end": statistics.median(de) if de else None}
        per_file.append(row)
        print(json.dumps(row), file=sys.stderr)
    result = {"pooled": {p: {k: quantiles(v) for k, v in d.items()} for p, d in deltas.items()},
              "files": per_file}
    long_path = SPEECH / LONG
    if not args.files and long_path.exists():
        result["long_form"] = {}
        seg_json = SPEECH / LONG.replace(".flac", ".segments.json")
        for name, words in [("faster-whisper fp32", faster_whisper_words(fw, long_path, "en"))] + \
                [(f"amanuensis {p}", ours(args.amanuensis, args.model, long_path, "en", p)) for p in args.variants]:
            errors, total = sentence_starts(words, seg_json)
            result["long_form"][name] = dict(quantiles(errors), sentences=total,
                                             within_0_3s=int(sum(e <= 0.3 for e in errors)))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2))
    if args.markdown:
        write_markdown(result, args)
    print(json.dumps(result["pooled"], indent=2))
    if "long_form" in result:
        print(json.dumps(result["long_form"], indent=2))


def write_markdown(r, args):
    ms = lambda s: f"{1000 * s:.0f}"
    lines = ["# Word timestamps: accuracy", "",
             "Made by `python3 tools/eval_word_timing.py --markdown docs/word_timestamps.md` "
             "(base model, beam 5, the manifest's language, 2 threads).", "",
             "## Against faster-whisper 1.2.1 float32 (same model), every clip of `speech/` but the long one", "",
             "Words are paired by aligning the two normalised word sequences; |Δ| in milliseconds. "
             "`int8:speech` is `--precision int8 --word-starts speech` (the CLI's default: a word starts "
             "where speech resumes after a pause inside it); `:attention` is faster-whisper's method.", "",
             "| amanuensis | paired words | start median | start p90 | start max | end median | end p90 | end max |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p, d in r["pooled"].items():
        s, e = d["start"], d["end"]
        lines.append(f"| {p} | {s['n']} | {ms(s['median'])} | {ms(s['p90'])} | {ms(s['max'])} | "
                     f"{ms(e['median'])} | {ms(e['p90'])} | {ms(e['max'])} |")
    if "long_form" in r:
        lines += ["", "## Long form: sentence starts against the human times (`.segments.json`)", "",
                  "| words from | sentences found | median |Δ| (s) | max |Δ| (s) | within 0.3 s |",
                  "|---|---:|---:|---:|---:|"]
        for name, d in r["long_form"].items():
            lines.append(f"| {name} | {d['n']} of {d['sentences']} | {d['median']:.2f} | {d['max']:.2f} | "
                         f"{d['within_0_3s']} of {d['n']} |")
    lines += ["", "## Per clip (median |Δ| start / end, ms)", "",
              "| clip | words (faster-whisper) | " + " | ".join(r["pooled"]) + " |",
              "|---|---:|" + "---:|" * len(r["pooled"])]
    for f in r["files"]:
        cells = []
        for p in r["pooled"]:
            x = f[p]
            cells.append("—" if x["median_start"] is None else
                         f"{x['paired']} paired: {ms(x['median_start'])} / {ms(x['median_end'])}")
        lines.append(f"| {f['file']} | {f['words']} | " + " | ".join(cells) + " |")
    pathlib.Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
