#!/usr/bin/env python3
"""`amanuensis transcribe` end to end with tiny.en (greedy, to stay fast): the
stdout lines and every output format on good input; a one-line error, a
non-zero exit and no file left behind on each kind of bad input; several
inputs with one bad; digital silence, low noise and very short clips."""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import wave

import numpy as np
from testdata import JFK, SPEECH, dev_tool, write_wav
from checks import check, finish

HERE = os.path.dirname(os.path.abspath(__file__))
STEM_FORMATS = {"txt": "txt", "srt": "srt", "vtt": "vtt", "json": "json",
                "verbose_json": "verbose.json"}
LINE = re.compile(r"^\[(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d)\.(\d{3})\] (.*)$")
SRT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})$")
VTT_TIME = re.compile(r"^(?:\d\d:)?\d\d:\d\d\.\d{3} --> (?:\d\d:)?\d\d:\d\d\.\d{3}$")




class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(exe, *args, timeout=120):
    try:
        r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
        return Result(r.returncode, r.stdout, r.stderr)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Result(None, out, err + f"[hung: killed after {timeout} s]")


def words(text):
    return re.sub(r"[^a-z ]", "", text.lower()).split()




def read_wav(path):
    with wave.open(path) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == 16000
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def patch_sizes(raw, data_size, riff_size=None):
    """The WAV bytes with the data chunk's size (and optionally RIFF's) replaced."""
    out = bytearray(raw)
    i = out.find(b"data")
    out[i + 4:i + 8] = struct.pack("<I", data_size)
    if riff_size is not None:
        out[4:8] = struct.pack("<I", riff_size)
    return bytes(out)


def files_in(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def check_times(name, segments, duration):
    """Each segment starts no later than it ends, none goes backwards, all lie in the audio."""
    bad = []
    prev_start = prev_end = 0.0
    for s in segments:
        if not (0 <= s["start"] <= s["end"] <= duration + 1e-3):
            bad.append(f"segment {s['start']}..{s['end']} outside 0..{duration} or reversed")
        if s["start"] < prev_start or s["end"] < prev_end:
            bad.append(f"segment {s['start']}..{s['end']} goes back before {prev_start}..{prev_end}")
        prev_start, prev_end = s["start"], s["end"]
    return check(name, not bad, "; ".join(bad))


def parse_json(name, text):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        check(name, False, f"{e}: {text[:300]!r}")
        return None


def check_good(exe, model, d, jfk):
    p = lambda n: os.path.join(d, n)
    greedy = ["--model", model, "--beam-size", "1"]

    # "-" reads the file from standard input: the same transcript as the path.
    untimed = lambda text: {k: v for k, v in json.loads(text).items() if k != "timing"}
    from_file = run(exe, "transcribe", jfk, *greedy, "--output-format", "json")
    with open(jfk, "rb") as f:
        piped = subprocess.run([exe, "transcribe", "-", *greedy, "--output-format", "json"],
                               stdin=f, capture_output=True, timeout=120)
    check("transcribe - (standard input): the file's transcript",
          piped.returncode == 0 and from_file.returncode == 0 and
          untimed(piped.stdout) == untimed(from_file.stdout), piped.stderr)
    empty = subprocess.run([exe, "transcribe", "-", *greedy], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
    check("transcribe - with nothing on standard input: one line, exit 1",
          empty.returncode == 1 and empty.stderr.count("\n") == 1 and "standard input" in empty.stderr,
          empty.stderr)

    # An explicit --output-format txt prints the txt format, as --quiet does.
    asked = run(exe, "transcribe", jfk, *greedy, "--output-format", "txt")
    quiet = run(exe, "transcribe", jfk, *greedy, "--quiet")
    check("--output-format txt: the txt format on stdout, no segment lines",
          asked.returncode == 0 and asked.stdout == quiet.stdout and "-->" not in asked.stdout
          and asked.stdout.strip(), asked.stdout)

    # Segments on stdout as "[mm:ss.mmm --> mm:ss.mmm] text".
    r = run(exe, "transcribe", jfk, *greedy)
    lines = r.stdout.strip().splitlines()
    check("jfk: exit 0, nothing on stderr", r.returncode == 0 and r.stderr == "",
          f"rc={r.returncode} stderr={r.stderr!r}")
    matched = [LINE.match(line) for line in lines]
    check("jfk: stdout is '[mm:ss.mmm --> mm:ss.mmm] text' lines",
          lines and all(m and m.group(7).strip() for m in matched), r.stdout)
    said = " ".join(m.group(7) for m in matched if m)
    check("jfk: the words", "ask not what your country can do for you" in " ".join(words(said)),
          said)
    stdout_jfk = r.stdout

    # Every format into a folder.
    out = p("all")
    r = run(exe, "transcribe", jfk, *greedy, "--output-dir", out, "--output-format", "all")
    check("all formats: exit 0", r.returncode == 0, f"rc={r.returncode} stderr={r.stderr!r}")
    want = sorted("jfk." + ext for ext in STEM_FORMATS.values())
    check("all formats: exactly " + " ".join(want), files_in(out) == want, files_in(out))
    read = lambda ext: open(os.path.join(out, "jfk." + ext), encoding="utf-8").read() \
        if os.path.exists(os.path.join(out, "jfk." + ext)) else ""

    j = parse_json("json: parses", read("json")) or {}
    keys = {"text", "segments", "language", "language_probability", "duration", "timing"}
    check("json: top-level keys", keys <= j.keys(), sorted(j))
    seg_keys = {"id", "start", "end", "text", "tokens", "avg_logprob", "compression_ratio",
                "no_speech_prob", "temperature"}
    segs = j.get("segments") or []
    check("json: segments with their keys", segs and all(seg_keys <= s.keys() for s in segs),
          segs[:1])
    check("json: ids count from 1", [s.get("id") for s in segs] == list(range(1, len(segs) + 1)),
          [s.get("id") for s in segs])
    check("json: tokens are integer lists", all(
        isinstance(s.get("tokens"), list) and s["tokens"] and all(isinstance(t, int) for t in s["tokens"])
        for s in segs), segs[:1])
    check("json: language en, probability in [0, 1], duration 11 s",
          j.get("language") == "en" and 0 <= j.get("language_probability", -1) <= 1
          and abs(j.get("duration", 0) - 11.0) < 0.01, {k: j.get(k) for k in keys - {"segments"}})
    timing = j.get("timing") or {}
    check("json: timing seconds and realtime_factor",
          {"seconds", "realtime_factor"} <= timing.keys() and timing["seconds"] > 0
          and timing["realtime_factor"] > 0, timing)
    check("json: text is the segments' texts joined",
          j.get("text") == "".join(s["text"] for s in segs), j.get("text"))
    if segs:
        check_times("json: segment times non-decreasing, within the audio", segs, j["duration"])
    texts = [s["text"].strip() for s in segs]
    check("json: same segments as the stdout lines",
          texts == [m.group(7) for m in matched if m], (texts, stdout_jfk))

    v = parse_json("verbose_json: parses", read("verbose.json")) or {}
    check("verbose_json: OpenAI's keys", {"task", "language", "duration", "text", "segments"} <= v.keys(),
          sorted(v))
    vsegs = v.get("segments") or []
    vkeys = {"id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
             "compression_ratio", "no_speech_prob"}
    check("verbose_json: segments with OpenAI's keys", vsegs and all(vkeys <= s.keys() for s in vsegs),
          vsegs[:1])
    check("verbose_json: ids count from 0", [s.get("id") for s in vsegs] == list(range(len(vsegs))),
          [s.get("id") for s in vsegs])
    check("verbose_json: task transcribe, language english, duration 11 s",
          v.get("task") == "transcribe" and v.get("language") == "english"
          and abs(v.get("duration", 0) - 11.0) < 0.01, {k: v.get(k) for k in ("task", "language", "duration")})
    check("verbose_json: text", v.get("text") == j.get("text", "").strip(), v.get("text"))
    check("verbose_json: same segments as json",
          [(s["start"], s["end"], s["text"]) for s in vsegs] == [(s["start"], s["end"], s["text"]) for s in segs],
          vsegs)

    srt = read("srt")
    blocks = [b.splitlines() for b in srt.strip().split("\n\n")] if srt.strip() else []
    ok = len(blocks) == len(segs) and all(
        len(b) >= 3 and b[0] == str(i + 1) and SRT_TIME.match(b[1]) and b[2].strip()
        for i, b in enumerate(blocks))
    check("srt: numbered blocks with HH:MM:SS,mmm --> HH:MM:SS,mmm", ok, srt)
    if ok:
        to_s = lambda g: int(g[0]) * 3600 + int(g[1]) * 60 + int(g[2]) + int(g[3]) / 1000
        times = [SRT_TIME.match(b[1]).groups() for b in blocks]
        check("srt: times match json", all(
            abs(to_s(t[:4]) - s["start"]) < 1e-6 and abs(to_s(t[4:]) - s["end"]) < 1e-6
            for t, s in zip(times, segs)), times)
    vtt = read("vtt")
    cues = [b.splitlines() for b in vtt.split("\n\n")[1:] if b.strip()]
    check("vtt: WEBVTT, then one cue per segment",
          vtt.startswith("WEBVTT\n") and len(cues) == len(segs)
          and all(len(c) >= 2 and VTT_TIME.match(c[0]) and c[1].strip() for c in cues), vtt)
    check("txt: one line per segment", read("txt").splitlines() == texts, read("txt"))

    # JSON without --output-dir: stdout is the JSON document, and only that.
    r = run(exe, "transcribe", jfk, *greedy, "--output-format", "json")
    check("json to stdout: exit 0", r.returncode == 0, f"rc={r.returncode} stderr={r.stderr!r}")
    s = parse_json("json to stdout: stdout is exactly one JSON document", r.stdout)
    if s is not None:
        check("json to stdout: same segments as the file",
              [x["text"] for x in s.get("segments", [])] == [x["text"] for x in segs], s)

    # A streaming writer's WAV ("length unknown": 0xFFFFFFFF sizes) decodes.
    with open(jfk, "rb") as f:
        raw = f.read()
    with open(p("stream.wav"), "wb") as f:
        f.write(patch_sizes(raw, 0xFFFFFFFF, 0xFFFFFFFF))
    r = run(exe, "transcribe", p("stream.wav"), *greedy)
    check("streamed WAV (0xFFFFFFFF sizes): same transcript",
          r.returncode == 0 and r.stdout == stdout_jfk, f"rc={r.returncode} {r.stdout!r} {r.stderr!r}")


def expect_error(exe, d, name, args, needle):
    """One line on stderr, 'amanuensis: error: ...' with `needle`, exit > 0, no file written."""
    out = os.path.join(d, "err_out")
    shutil.rmtree(out, ignore_errors=True)
    r = run(exe, "transcribe", *args, "--output-dir", out)
    lines = r.stderr.splitlines()
    check(name, r.returncode is not None and r.returncode > 0 and len(lines) == 1
          and lines[0].startswith("amanuensis: error: ") and needle in lines[0]
          and files_in(out) == [],
          f"rc={r.returncode} stderr={r.stderr!r} files={files_in(out)}")


def check_errors(exe, model, d, jfk):
    p = lambda n: os.path.join(d, n)
    greedy = ["--model", model, "--beam-size", "1"]
    with open(jfk, "rb") as f:
        raw = f.read()
    open(p("empty.wav"), "wb").close()
    with open(p("text.wav"), "w") as f:
        f.write("not audio, just words\n")
    with open(p("header.wav"), "wb") as f:
        f.write(raw[:30])  # cut inside the fmt chunk
    # The data chunk says twice the bytes that follow. An error, as for any
    # cut file: a transcript of half the recording would pass for the whole.
    with open(p("overlong.wav"), "wb") as f:
        f.write(patch_sizes(raw, 2 * (len(raw) - raw.find(b"data") - 8)))
    # Sizes of 0 (a recorder stopped before it wrote them): no audio for libsndfile.
    with open(p("zero_sizes.wav"), "wb") as f:
        f.write(patch_sizes(raw, 0, 0))
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    tone[100] = np.nan
    write_wav(p("nan.wav"), tone, float32=True)

    audio = lambda f, *more: [p(f), *greedy, *more]
    expect_error(exe, d, "missing file", audio("nope.wav"), "nope.wav")
    os.makedirs(p("a_folder"), exist_ok=True)
    expect_error(exe, d, "a folder", audio("a_folder"), "is a folder")
    expect_error(exe, d, "empty file", audio("empty.wav"), "empty")
    expect_error(exe, d, "text file named .wav", audio("text.wav"), "not a readable audio file")
    expect_error(exe, d, "WAV cut inside its header", audio("header.wav"), "header.wav")
    expect_error(exe, d, "WAV data chunk longer than the file", audio("overlong.wav"), "truncated")
    expect_error(exe, d, "WAV data chunk of 0 bytes before the samples", audio("zero_sizes.wav"),
                 "declares 0 bytes")
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=duration=1:size=64x64", "-an", p("video.mp4")], check=True)
        expect_error(exe, d, "mp4 with only video", audio("video.mp4"), "no audio stream")
    else:
        print("skip mp4 with only video: no ffmpeg")
    expect_error(exe, d, "NaN sample in a float WAV", audio("nan.wav"), "NaN")

    opts = lambda *more: [jfk, "--model", model, *more]
    expect_error(exe, d, "--language xx", opts("--language", "xx"), "'xx'")
    expect_error(exe, d, "--language de on English-only", opts("--language", "de"), "English-only")
    expect_error(exe, d, "--task translate on English-only", opts("--task", "translate"), "translate")
    expect_error(exe, d, "--task foo", opts("--task", "foo"), "foo")
    expect_error(exe, d, "--beam-size 0", opts("--beam-size", "0"), "beam size")
    expect_error(exe, d, "--beam-size 100", opts("--beam-size", "100"), "beam size")
    expect_error(exe, d, "--temperature abc", opts("--temperature", "abc"), "--temperature")
    expect_error(exe, d, "--temperature -1", opts("--temperature", "-1"), "--temperature")
    expect_error(exe, d, "--threads 0", opts("--threads", "0"), "--threads")
    expect_error(exe, d, "--threads x", opts("--threads", "x"), "'x' is not a whole number")
    expect_error(exe, d, "--max-line-width 0", opts("--word-timestamps", "--max-line-width", "0"),
                 "--max-line-width: 0 is not from 1")
    expect_error(exe, d, "--vad-min-silence-ms without --vad", opts("--vad-min-silence-ms", "300"),
                 "requires --vad")
    expect_error(exe, d, "--output-format docx", opts("--output-format", "docx"), "docx")
    r = run(exe, "transcribe", *opts("--output-format", "all"))  # no --output-dir
    check("--output-format all on stdout: refused, one line naming --output-dir",
          r.returncode == 1 and r.stderr.count("\n") == 1 and "--output-dir" in r.stderr, r.stderr)
    expect_error(exe, d, "--precision int4", opts("--precision", "int4"), "int4")

    no_vocab, cut = p("no_vocab"), p("cut_model")
    for folder in (no_vocab, cut):
        os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(model, "model.bin"), no_vocab)
    shutil.copy(os.path.join(model, "config.json"), no_vocab)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        if os.path.exists(os.path.join(model, name)):
            shutil.copy(os.path.join(model, name), cut)
    with open(os.path.join(model, "model.bin"), "rb") as f:
        head = f.read(1000)
    with open(os.path.join(cut, "model.bin"), "wb") as f:
        f.write(head)
    model_at = lambda m: [jfk, "--model", m, "--beam-size", "1"]
    expect_error(exe, d, "--model /nonexistent", model_at("/nonexistent"), "no such model")
    expect_error(exe, d, "model folder without a vocabulary", model_at(no_vocab), "no vocabulary")
    expect_error(exe, d, "model.bin cut to 1000 bytes", model_at(cut), "truncated")

    # stdout on a full device: stdio only sets its error flag; the exit status says it.
    if os.path.exists("/dev/full"):
        for fmt in ["srt", "txt"]:
            with open("/dev/full", "w") as full:
                r = subprocess.run([exe, "transcribe", jfk, *greedy, "--output-format", fmt],
                                   stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
            lines = r.stderr.splitlines()
            check(f"--output-format {fmt} to a full stdout: one line, exit 1",
                  r.returncode == 1 and len(lines) == 1 and "cannot write to standard output" in lines[0],
                  f"rc={r.returncode} stderr={r.stderr!r}")
    else:
        print("skip stdout on a full device: no /dev/full")

    # An output folder that cannot exist: a path under a regular file. (Run as
    # root, chmod 000 would not stop the writes.)
    with open(p("a_file"), "w") as f:
        f.write("x\n")
    r = run(exe, "transcribe", jfk, *greedy, "--output-dir", p("a_file/sub"))
    lines = r.stderr.splitlines()
    check("output folder under a regular file", r.returncode is not None and r.returncode > 0
          and len(lines) == 1 and lines[0].startswith("amanuensis: error: ") and "a_file/sub" in lines[0],
          f"rc={r.returncode} stderr={r.stderr!r}")


def check_several(exe, model, d, jfk, short):
    """One bad file among good ones: the good ones are written, the bad one is one line."""
    out = os.path.join(d, "several")
    missing = os.path.join(d, "missing.wav")
    r = run(exe, "transcribe", jfk, missing, short, "--model", model, "--beam-size", "1",
            "--output-dir", out)
    stem = os.path.splitext(os.path.basename(short))[0]
    lines = r.stderr.splitlines()
    check("several inputs: exit non-zero", r.returncode is not None and r.returncode > 0,
          f"rc={r.returncode}")
    check("several inputs: the bad one in one line",
          len(lines) == 1 and lines[0].startswith("amanuensis: error: ") and "missing.wav" in lines[0],
          r.stderr)
    check("several inputs: the good ones written", files_in(out) == sorted(["jfk.txt", stem + ".txt"]),
          files_in(out))
    texts = [open(os.path.join(out, f)).read().strip() for f in files_in(out)]
    check("several inputs: both transcripts have words", len(texts) == 2 and all(texts), texts)

    # An invalid option is one mistake: one line, however many files.
    r = run(exe, "transcribe", jfk, short, "--model", model, "--beam-size", "0")
    lines = r.stderr.splitlines()
    check("several inputs, bad --beam-size: one error line", r.returncode is not None
          and r.returncode > 0 and len(lines) == 1 and "beam size" in r.stderr,
          f"rc={r.returncode} stderr={r.stderr!r}")


def transcribe_json(exe, model, path):
    r = run(exe, "transcribe", path, "--model", model, "--beam-size", "1", "--output-format",
            "json", "--quiet")
    j = None
    if r.returncode == 0:
        try:
            j = json.loads(r.stdout)
        except json.JSONDecodeError:
            pass
    return r, j


def check_quiet_audio(exe, model, d, jfk):
    p = lambda n: os.path.join(d, n)
    write_wav(p("silence.wav"), np.zeros(20 * 16000))
    write_wav(p("noise.wav"), 0.01 * np.random.default_rng(0).standard_normal(20 * 16000))
    x = read_wav(jfk)
    write_wav(p("half_second.wav"), x[:8000])
    write_wav(p("80_samples.wav"), x[:80])
    for name, label in [("silence.wav", "20 s of digital silence"),
                        ("noise.wav", "20 s of low white noise")]:
        r, j = transcribe_json(exe, model, p(name))
        check(f"{label}: exit 0, JSON", j is not None, f"rc={r.returncode} stderr={r.stderr!r}")
        if j is not None:
            check(f"{label}: no segments, empty text", j["segments"] == [] and j["text"] == "",
                  f"text={j['text']!r} segments="
                  f"{[(s['start'], s['end'], s['no_speech_prob'], s['avg_logprob']) for s in j['segments']]}")
    r, j = transcribe_json(exe, model, p("half_second.wav"))
    check("0.5 s clip: finishes, exit 0, JSON", j is not None, f"rc={r.returncode} stderr={r.stderr!r}")
    if j is not None:
        check("0.5 s clip: duration 0.5 s", abs(j["duration"] - 0.5) < 1e-3, j["duration"])
        check_times("0.5 s clip: segment times within the 0.5 s of audio", j["segments"], j["duration"])
    r, j = transcribe_json(exe, model, p("80_samples.wav"))
    check("80 samples (5 ms): exit 0, no segments",
          j is not None and j["segments"] == [] and j["text"] == "",
          f"rc={r.returncode} stderr={r.stderr!r} out={r.stdout[:300]!r}")


def check_blas_only_for_fp32(exe, model, short):
    """OpenBLAS serves the fp32 path alone: an int8 transcription never loads it (nor
    starts its threads); fp32 does. The dynamic loader lists what it opens."""
    def loaded(*args):
        r = subprocess.run([exe, "transcribe", short, "--model", model, "--beam-size", "1",
                            "--quiet", *args], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, LD_DEBUG="files"))
        return r.returncode, "libopenblas" in r.stderr
    rc, blas = loaded()
    check("int8 does not load OpenBLAS", rc == 0 and not blas, f"rc={rc}")
    rc, blas = loaded("--precision", "fp32")
    check("fp32 loads OpenBLAS when it first needs it", rc == 0 and blas, f"rc={rc}")


def check_bench_decoder(exe, model):
    """bench decoder: the step against its floor, and the prompt on its own."""
    r = run(dev_tool(exe), "bench", "decoder", "--model", model, "--context", "8", "--steps", "3",
            "--beams", "2", "--json")
    try:
        obj = json.loads(r.stdout)
        positive = ["step_ms", "prompt_ms", "floor_ms", "ratio_to_floor", "read_bandwidth_gbs"]
        check("bench decoder --json", all(obj.get(k, 0) > 0 for k in positive)
              and obj["context"] == 8 and obj["beams"] == 2, obj)
    except json.JSONDecodeError as e:
        check("bench decoder --json parses", False, f"{e}: {r.stdout!r} {r.stderr!r}")
    r = run(dev_tool(exe), "bench", "decoder", "--model", model, "--context", "400", "--steps", "60")
    check("bench decoder: context beyond the model's", r.returncode != 0
          and "text context" in r.stderr and not r.stdout, r.stderr)


def check_no_idle_threads(exe, model, d):
    """With --threads 1, a process that has loaded its model runs one thread:
    no library (OpenBLAS) keeps idle workers spinning beside it. The input is
    a FIFO, so the process waits in its open, after the model has loaded."""
    fifo = os.path.join(d, "wait.wav")
    os.mkfifo(fifo)
    p = subprocess.Popen([exe, "transcribe", "--model", model, "--threads", "1", fifo],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tasks, out, err = None, "", ""
    try:
        # A non-blocking open for writing fails (ENXIO) until the engine opens
        # the FIFO; poll it, so that an engine that never gets there (or dies
        # first) fails the check instead of hanging the test.
        deadline = time.monotonic() + 120
        w = None
        while w is None and p.poll() is None and time.monotonic() < deadline:
            try:
                w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.01)
        if w is not None:
            tasks = os.listdir(f"/proc/{p.pid}/task")
            os.set_blocking(w, True)
            with os.fdopen(w, "wb") as f:
                f.write(open(JFK, "rb").read())
            out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check("one thread after loading, with --threads 1", tasks is not None and len(tasks) == 1,
          f"threads: {tasks and len(tasks)}; exit {p.returncode}")
    check("a FIFO transcribes", p.returncode == 0 and "ask not" in out, f"{p.returncode} {err}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = os.path.abspath(ap.parse_args().amanuensis)
    model = subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "fetch_models.py"),
                            "tiny.en"], check=True, capture_output=True, text=True).stdout.strip()
    jfk = str(JFK)
    short = str(SPEECH / "en_ljspeech_LJ002-0020.wav")
    with tempfile.TemporaryDirectory() as d:
        check_good(exe, model, d, jfk)
        check_errors(exe, model, d, jfk)
        check_several(exe, model, d, jfk, short)
        check_quiet_audio(exe, model, d, jfk)
        check_no_idle_threads(exe, model, d)
    check_blas_only_for_fp32(exe, model, short)
    check_bench_decoder(exe, model)
    return finish("transcribe_cli_test")


if __name__ == "__main__":
    sys.exit(main())
