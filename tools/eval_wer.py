#!/usr/bin/env python3
"""Word error rate on the real-speech development set: amanuensis against faster-whisper.

  python3 tools/eval_wer.py                                   # all 34 clips, base, beam 5
  python3 tools/eval_wer.py --clips 'en_librispeech_*' --markdown /tmp/wer.md --json /tmp/wer.json
  python3 tools/eval_wer.py --model ~/.cache/amanuensis/models/tiny.en --engines ours-int8,fw-fp32
  python3 tools/eval_wer.py --from-json /tmp/wer.json         # re-render a saved run

Data: tests/data/speech (--data): manifest.tsv (file, language,
reference_transcript, reference_kind, ...) and the long-form file's .segments.json.

Engines, all on the same CTranslate2 model folder (--model), beam (--beam-size), thread
count (--threads) and the language left to auto-detection, as a user would run them
(the detected language is reported; the manifest's language only chooses the scoring):
  ours-int8, ours-fp32  `amanuensis transcribe FILE --model DIR --precision int8|fp32
                        --beam-size N --threads N --output-format json --quiet`, one process per clip.
  ours-batched          ours-int8 with --batch-size 8 --vad (Silero VAD chunks decoded together).
  fw-batched            faster-whisper's BatchedInferencePipeline(WhisperModel(..., compute_type=
                        "int8")).transcribe(FILE, beam_size=N, batch_size=8), VAD at its default (on).
  fw-fp32, fw-int8      faster-whisper's WhisperModel(DIR, device="cpu",
                        compute_type="float32"|"int8", cpu_threads=N).transcribe(FILE,
                        beam_size=N), other options at their defaults. Results are cached in
                        --cache (a JSON file under /tmp) keyed by model, compute type, beam and
                        file (path, size, mtime), so reruns only run amanuensis.

Scoring: Whisper's normalizers (the whisper-normalizer package): EnglishTextNormalizer for
English references, BasicTextNormalizer for the others, on both sides; then jiwer's word
alignment. ja, ko and zh are scored by character error rate (CER) with all whitespace
removed after normalization (Korean word spacing is not scored). References of kind
asr_expected_output (faster-whisper's test clips) are ASR outputs, not human transcripts:
they are scored (marked with a dagger) but kept out of the pooled rows; the stereo clip's
"LEFT: ... | RIGHT: ..." and the mixed clip's "EN: ... | DE: ..." have their labels removed
and the parts joined (all engines mix stereo down to one channel); the hotwords clip's
reference is "[partial] ..." and is not scored.

Summary rows: pooled WER (total errors / total reference words) over English clips with
human references, without and with the long-form file; pooled WER over the other
languages with human references and pooled CER over ja/ko/zh; the fraction of clips where
ours fp32's text equals faster-whisper fp32's character for character (our JSON "text"
against the concatenation of faster-whisper's segment texts); and, for the long-form file,
segment boundaries of ours (fp32, int8) against faster-whisper fp32: median and max |delta|
of start and of end over matched segments. With equal segment counts, segment i is matched
with segment i. Where the counts differ (a split or merged segment), segments are matched in
order by the monotone alignment that maximizes the summed intersection-over-union of the
[start, end] intervals, pairing only segments with IoU >= 0.5; the unmatched ones are
counted and left out of the deltas. The report names the method used.
"""
import argparse
import csv
import fnmatch
import hashlib
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testdata import MODELS, SPEECH  # noqa: E402  (the tests' data, inside the repository)


REPO = Path(__file__).resolve().parent.parent
DATA = SPEECH
ENGINES = ("ours-int8", "ours-fp32", "fw-fp32", "fw-int8", "ours-batched", "fw-batched")
BATCH_SIZE = 8  # the batched engines' batch
LABELS = {"ours-int8": "our int8", "ours-fp32": "our fp32", "fw-fp32": "fw fp32", "fw-int8": "fw int8",
          "ours-batched": "our batched", "fw-batched": "fw batched"}
CER_LANGUAGES = {"ja", "ko", "zh"}
DEFAULT_CACHE = Path("/tmp/amanuensis_eval_wer_fw_cache.json")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data


def read_manifest(data_dir):
    with open(data_dir / "manifest.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r["path"] = data_dir / r["file"]
    return rows


def reference_text(row):
    """The text to score against, or None when the manifest has no full reference."""
    ref = row["reference_transcript"].strip()
    if ref.startswith("[partial]"):
        return None
    if " | " in ref:  # "LEFT: ... | RIGHT: ..." or "EN: ... | DE: ..."
        ref = " ".join(re.sub(r"^[A-Z]{2,5}: ", "", part) for part in ref.split(" | "))
    return ref


# ----------------------------------------------------------------------------- scoring

_normalizers = {}


def normalize(text, language):
    if "en" not in _normalizers:
        from whisper_normalizer.basic import BasicTextNormalizer
        from whisper_normalizer.english import EnglishTextNormalizer
        _normalizers["en"] = EnglishTextNormalizer()
        _normalizers["basic"] = BasicTextNormalizer()
    norm = _normalizers["en" if language == "en" else "basic"](text)
    if language in CER_LANGUAGES:
        return "".join(norm.split())
    return " ".join(norm.split())


def uses_cer(language):
    return language in CER_LANGUAGES


def score(reference, hypothesis, language):
    """{'errors', 'ref_len', 'rate', 'unit', 'ref_norm', 'hyp_norm'} after normalization."""
    import jiwer
    ref = normalize(reference, language)
    hyp = normalize(hypothesis, language)
    cer = uses_cer(language)
    unit = "chars" if cer else "words"
    ref_len = len(ref) if cer else len(ref.split())
    if ref_len == 0:
        return {"errors": None, "ref_len": 0, "rate": None, "unit": unit, "ref_norm": ref, "hyp_norm": hyp}
    if not hyp:
        errors = ref_len  # all deletions (jiwer refuses empty strings)
    else:
        out = (jiwer.process_characters if cer else jiwer.process_words)(ref, hyp)
        errors = out.substitutions + out.deletions + out.insertions
    return {"errors": errors, "ref_len": ref_len, "rate": errors / ref_len, "unit": unit,
            "ref_norm": ref, "hyp_norm": hyp}


# ----------------------------------------------------------------------------- engines


def run_ours(exe, model, audio, precision, beam, threads, extra=(), timeout=1800):
    """Our CLI's JSON for one file. Waits and retries while the binary is being relinked."""
    cmd = [str(exe), "transcribe", str(audio), "--model", str(model), "--precision", precision,
           "--beam-size", str(beam), "--threads", str(threads), "--output-format", "json", "--quiet",
           *extra]
    for attempt in range(30):
        if not os.access(exe, os.X_OK):
            log(f"  {exe} missing (relinking?), waiting ...")
            time.sleep(5)
            continue
        mtime = os.stat(exe).st_mtime
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except OSError as e:  # ETXTBSY / ENOENT while the linker writes it
            log(f"  {exe}: {e}; retrying ...")
            time.sleep(5)
            continue
        wall = time.perf_counter() - t0
        if r.returncode in (126, 127) or (r.returncode < 0 and attempt < 2):
            log(f"  {exe} exited {r.returncode}; retrying ...")
            time.sleep(5)
            continue
        if r.returncode != 0:
            return {"error": f"exit {r.returncode}: {r.stderr.strip()[-500:]}", "command": shlex.join(cmd)}
        out = json.loads(r.stdout)
        return {"text": out["text"], "language": out["language"],
                "language_probability": out.get("language_probability"),
                "segments": [{"start": s["start"], "end": s["end"], "text": s["text"]} for s in out["segments"]],
                "wall_s": wall, "seconds": out.get("timing", {}).get("seconds"), "binary_mtime": mtime,
                "command": shlex.join(cmd)}
    return {"error": f"{exe} not runnable after retries", "command": shlex.join(cmd)}


class FasterWhisper:
    """faster-whisper runs, one loaded model per compute type, with a JSON cache."""

    def __init__(self, model, beam, threads, cache_path):
        self.model, self.beam, self.threads = Path(model), beam, threads
        self.cache_path = Path(cache_path) if cache_path else None
        self.cache = {}
        if self.cache_path and self.cache_path.is_file():
            try:
                self.cache = json.loads(self.cache_path.read_text())
            except (OSError, ValueError):
                log(f"{self.cache_path}: unreadable, starting a new cache")
        self.models = {}
        import faster_whisper
        self.version = faster_whisper.__version__

    def key(self, compute_type, audio, batched):
        st = Path(audio).stat()
        mb = (self.model / "model.bin").stat()
        return "|".join([str(self.model.resolve()), f"model.bin:{mb.st_size}:{int(mb.st_mtime)}",
                         compute_type, f"beam{self.beam}", f"threads{self.threads}", f"fw{self.version}",
                         f"batch{BATCH_SIZE}" if batched else "sequential",
                         str(Path(audio).resolve()), f"{st.st_size}:{int(st.st_mtime)}"])

    def transcribe(self, compute_type, audio, batched=False):
        key = self.key(compute_type, audio, batched)
        if key in self.cache:
            return dict(self.cache[key], cached=True)
        if compute_type not in self.models:
            from faster_whisper import WhisperModel
            self.models[compute_type] = WhisperModel(str(self.model), device="cpu", compute_type=compute_type,
                                                     cpu_threads=self.threads)
        t0 = time.perf_counter()
        if batched:
            from faster_whisper import BatchedInferencePipeline
            segments, info = BatchedInferencePipeline(self.models[compute_type]).transcribe(
                str(audio), beam_size=self.beam, batch_size=BATCH_SIZE)
        else:
            segments, info = self.models[compute_type].transcribe(str(audio), beam_size=self.beam)
        segs = [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in segments]
        res = {"text": "".join(s["text"] for s in segs), "language": info.language,
               "language_probability": info.language_probability, "segments": segs,
               "wall_s": time.perf_counter() - t0,
               "command": f"WhisperModel({str(self.model)!r}, device='cpu', compute_type={compute_type!r}, "
                          f"cpu_threads={self.threads}).transcribe(FILE, beam_size={self.beam})"}
        self.cache[key] = res
        self.save()
        return dict(res, cached=False)

    def save(self):
        if not self.cache_path:
            return
        tmp = self.cache_path.with_suffix(".partial")
        tmp.write_text(json.dumps(self.cache))
        tmp.replace(self.cache_path)


# ----------------------------------------------------------------------------- long form


def iou(a, b):
    inter = max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
    union = max(a["end"], b["end"]) - min(a["start"], b["start"])
    return inter / union if union > 0 else (1.0 if a["start"] == b["start"] else 0.0)


def match_segments(ours, ref, min_iou=0.5):
    """[(i, j)] pairs of segments, in order. Equal counts: index i with index i. Otherwise the
    monotone alignment with the largest summed IoU of [start, end] over pairs with
    IoU >= min_iou."""
    n, m = len(ours), len(ref)
    if n == m:
        return [(k, k) for k in range(n)], "by index (equal counts)"
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            v = max(best[i + 1][j], best[i][j + 1])
            o = iou(ours[i], ref[j])
            if o >= min_iou:
                v = max(v, o + best[i + 1][j + 1])
            best[i][j] = v
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        o = iou(ours[i], ref[j])
        if o >= min_iou and abs(best[i][j] - (o + best[i + 1][j + 1])) < 1e-9:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs, f"order-preserving IoU alignment (counts differ; pairs with IoU >= {min_iou})"


def boundary_stats(ours, ref):
    pairs, method = match_segments(ours, ref)
    ds = [abs(ours[i]["start"] - ref[j]["start"]) for i, j in pairs]
    de = [abs(ours[i]["end"] - ref[j]["end"]) for i, j in pairs]
    same = sum(1 for i, j in pairs if ours[i]["start"] == ref[j]["start"] and ours[i]["end"] == ref[j]["end"])
    return {"n_ours": len(ours), "n_ref": len(ref), "n_matched": len(pairs), "method": method,
            "identical_times": same,
            "start_median": statistics.median(ds) if ds else None, "start_max": max(ds) if ds else None,
            "end_median": statistics.median(de) if de else None, "end_max": max(de) if de else None}


# ----------------------------------------------------------------------------- report


def fmt_rate(s):
    if s is None:
        return "–"
    if "error" in s:
        return "error"
    if s.get("rate") is None:
        return "n/a"
    return f"{100 * s['rate']:.1f}"


def pooled(results, engine, pick):
    errs = refs = n = 0
    for r in results:
        if not pick(r):
            continue
        s = r["scores"].get(engine)
        if not s or s.get("errors") is None:
            continue
        errs += s["errors"]
        refs += s["ref_len"]
        n += 1
    return (errs / refs if refs else None), n, refs


def markdown(rep):
    eng = rep["engines"]
    res = rep["clips"]
    out = [f"# WER on {rep['data']}", "",
           f"model {rep['model']}, beam {rep['beam_size']}, {rep['threads']} threads, language auto-detected; "
           f"faster-whisper {rep['faster_whisper']}; amanuensis {rep['amanuensis']}", "",
           "WER (%) after Whisper's normalizers (English / basic); CER (%) for ja, ko, zh. "
           "† reference is an ASR output (faster-whisper's tests), not a human transcript; "
           "these and the long-form file are left out of the short-clip pooled rows.", ""]
    head = ["clip", "lang", "detected"] + [LABELS[e] + " WER" for e in eng]
    same_col = "ours-fp32" in eng and "fw-fp32" in eng
    if same_col:
        head.append("our fp32 == fw fp32")
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * len(eng) + ("---|" if same_col else "")]
    for r in res:
        lang = r["language"] + (" (CER)" if uses_cer(r["language"]) else "")
        if r["reference_kind"] != "human":
            lang += " †"
        det = [r["runs"][e].get("language", "?") for e in eng if "error" not in r["runs"][e]]
        detected = det[0] if det and len(set(det)) == 1 else \
            " / ".join(f"{LABELS[e]} {r['runs'][e].get('language', 'err')}" for e in eng)
        cells = [r["file"], lang, detected] + [fmt_rate(r["scores"].get(e)) for e in eng]
        if same_col:
            cells.append({True: "yes", False: "**no**", None: "–"}[r.get("fp32_identical")])
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "| summary | clips | reference size | " + " | ".join(LABELS[e] for e in eng) + " |",
            "|---|---:|---:|" + "---:|" * len(eng)]
    rows = [
        ("English, human references, short clips: pooled WER %", "words",
         lambda r: r["language"] == "en" and r["reference_kind"] == "human" and not r["long_form"]),
        ("English, human references, with the long-form file: pooled WER %", "words",
         lambda r: r["language"] == "en" and r["reference_kind"] == "human"),
        ("other languages (WER), human references: pooled WER %", "words",
         lambda r: r["language"] not in ("en",) and not uses_cer(r["language"]) and r["reference_kind"] == "human"),
        ("ja / ko / zh: pooled CER %", "chars",
         lambda r: uses_cer(r["language"]) and r["reference_kind"] == "human"),
    ]
    for name, unit, pick in rows:
        vals = [pooled(res, e, pick) for e in eng]
        n = max((v[1] for v in vals), default=0)
        if n == 0:
            continue
        size = max(v[2] for v in vals)
        out.append(f"| {name} | {n} | {size} {unit} | " +
                   " | ".join("–" if v[0] is None else f"{100 * v[0]:.2f}" for v in vals) + " |")
    if same_col:
        flags = [r["fp32_identical"] for r in res if r.get("fp32_identical") is not None]
        if flags:
            out.append(f"\nour fp32 text == faster-whisper fp32 text, character for character: "
                       f"**{sum(flags)} / {len(flags)}** clips ({100 * sum(flags) / len(flags):.0f} %)")
        diff = [r["file"] for r in res if r.get("fp32_identical") is False]
        if diff:
            out.append("differing: " + ", ".join(diff))
    for r in res:
        if not r.get("boundaries"):
            continue
        out += ["", f"Long-form segment boundaries, {r['file']}, against faster-whisper fp32 "
                f"({r['boundaries_ref_segments']} segments; reference sentences: {r.get('reference_sentences', '?')}):", "",
                "| ours | segments | matched | match | identical start and end | start |Δ| median / max s | "
                "end |Δ| median / max s |", "|---|---:|---:|---|---:|---|---|"]
        for e, b in r["boundaries"].items():
            f = lambda v: "–" if v is None else f"{v:.3f}"
            out.append(f"| {LABELS[e]} | {b['n_ours']} | {b['n_matched']} | {b['method']} | {b['identical_times']} | "
                       f"{f(b['start_median'])} / {f(b['start_max'])} | {f(b['end_median'])} / {f(b['end_max'])} |")
    builds = {run["binary_mtime"] for r in res for e, run in r["runs"].items()
              if e.startswith("ours") and "binary_mtime" in run}
    if len(builds) > 1:
        out += ["", f"**Warning: build/amanuensis changed during this run ({len(builds)} builds, modified "
                + ", ".join(time.strftime("%H:%M:%S", time.localtime(t)) for t in sorted(builds))
                + "): the rows mix builds.**"]
    out += ["", f"command: `{rep['command']}`", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main


def amanuensis_version(exe):
    """The binary's identity (it has no --version): modification time and sha256 prefix."""
    try:
        st = Path(exe).stat()
        return (f"{exe} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(st.st_mtime))}, "
                f"sha256 {hashlib.sha256(Path(exe).read_bytes()).hexdigest()[:12]})")
    except OSError:
        return f"{exe} (missing)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=MODELS / "base", help="CTranslate2 model folder (default: base)")
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", type=Path, default=DATA, help="folder with manifest.tsv (default tests/data/speech)")
    ap.add_argument("--clips", help="fnmatch pattern(s) on file names, comma-separated (default: all)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES))
    ap.add_argument("--amanuensis", type=Path, default=REPO / "build" / "amanuensis")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="faster-whisper result cache ('' for none)")
    ap.add_argument("--json", metavar="OUT", help="write raw results (transcripts, scores) as JSON")
    ap.add_argument("--markdown", metavar="OUT", help="write the markdown table here too")
    ap.add_argument("--from-json", metavar="IN", help="re-render the report of a saved --json run (runs nothing)")
    args = ap.parse_args()

    if args.from_json:
        rep = json.loads(Path(args.from_json).read_text())
        for r in rep["clips"]:
            if r.get("boundaries"):
                b = r["runs"]["fw-fp32"]["segments"]
                r["boundaries"] = {e: boundary_stats(r["runs"][e]["segments"], b) for e in r["boundaries"]}
        md = markdown(rep)
        print(md)
        if args.markdown:
            Path(args.markdown).write_text(md)
        return 0

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(engines) - set(ENGINES):
        ap.error(f"unknown engine(s): {', '.join(sorted(set(engines) - set(ENGINES)))}")
    if not (args.model / "model.bin").is_file():
        ap.error(f"{args.model}: no model.bin (python3 scripts/fetch_models.py base)")
    rows = read_manifest(args.data)
    if args.clips:
        pats = [p.strip() for p in args.clips.split(",") if p.strip()]
        rows = [r for r in rows if any(fnmatch.fnmatch(r["file"], p) for p in pats)]
        if not rows:
            ap.error(f"--clips {args.clips!r} matches no file in {args.data / 'manifest.tsv'}")
    fw = FasterWhisper(args.model, args.beam_size, args.threads, args.cache) \
        if any(e.startswith("fw-") for e in engines) else None

    rep = {"data": str(args.data), "model": str(args.model), "beam_size": args.beam_size, "threads": args.threads,
           "engines": engines, "faster_whisper": fw.version if fw else None,
           "amanuensis": amanuensis_version(args.amanuensis) if any(e.startswith("ours") for e in engines) else None,
           "command": shlex.join([sys.executable] + sys.argv), "clips": []}
    t_start = time.perf_counter()
    for k, row in enumerate(rows, 1):
        ref = reference_text(row)
        lang = row["language"]
        score_lang = "mixed" if "+" in lang else lang  # en+de: the basic normalizer, WER
        r = {"file": row["file"], "language": lang, "reference_kind": row["reference_kind"],
             "duration_s": float(row["duration_s"]), "reference": ref, "long_form": False, "runs": {}, "scores": {}}
        seg_json = row["path"].with_name(row["path"].name.rsplit(".", 1)[0] + ".segments.json")
        if seg_json.is_file():
            r["long_form"] = True
            r["reference_sentences"] = len(json.loads(seg_json.read_text())["segments"])
        notes = []
        for e in engines:
            if e.startswith("ours"):
                batched = e == "ours-batched"
                run = run_ours(args.amanuensis, args.model, row["path"], "int8" if batched else e.split("-")[1],
                               args.beam_size, args.threads,
                               ["--batch-size", str(BATCH_SIZE), "--vad"] if batched else [])
            else:
                try:
                    run = fw.transcribe({"fw-fp32": "float32", "fw-int8": "int8", "fw-batched": "int8"}[e],
                                        row["path"], batched=e == "fw-batched")
                except Exception as ex:  # noqa: BLE001 - report, keep going
                    run = {"error": f"{type(ex).__name__}: {ex}"}
            r["runs"][e] = run
            if "error" in run:
                notes.append(f"{e} ERROR")
                r["scores"][e] = {"error": run["error"]}
                continue
            notes.append(f"{e} {run['language']} {'cached' if run.get('cached') else '%.1fs' % run['wall_s']}")
            if ref is not None:
                r["scores"][e] = score(ref, run["text"], score_lang)
        a, b = r["runs"].get("ours-fp32"), r["runs"].get("fw-fp32")
        if a and b and "error" not in a and "error" not in b:
            r["fp32_identical"] = a["text"] == b["text"]
        if r["long_form"] and b and "error" not in b:
            r["boundaries_ref_segments"] = len(b["segments"])
            r["boundaries"] = {e: boundary_stats(r["runs"][e]["segments"], b["segments"])
                               for e in ("ours-fp32", "ours-int8") if e in r["runs"] and "error" not in r["runs"][e]}
        rates = " ".join(f"{e}={fmt_rate(r['scores'].get(e))}" for e in engines)
        log(f"[{k}/{len(rows)}] {row['file']} ({lang}, {r['duration_s']:.1f}s): {'; '.join(notes)} | "
            f"{'CER' if uses_cer(score_lang) else 'WER'}% {rates}"
            + ("" if r.get("fp32_identical") in (None, True) else " | fp32 text differs from fw"))
        rep["clips"].append(r)
    rep["elapsed_s"] = time.perf_counter() - t_start
    md = markdown(rep)
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1, ensure_ascii=False, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
