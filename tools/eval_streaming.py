#!/usr/bin/env python3
"""Live transcription measured on the development set: each recording goes
through `amanuensis stream --jsonl` (as fast as it runs; every hypothesis's
compute time is measured) and is replayed on a simulated real-time clock: a
hypothesis of the audio up to t starts at max(t, the previous one's end) and
takes its measured time, which is what a real-time feed on an idle machine
sees. Reported, pooled over the recordings:

  * latency of each committed word: its commit time minus the word's end in
    the offline transcript (`transcribe --word-timestamps`, matched by text);
    mean, median, p90;
  * WER of the committed text and of the offline transcript against the
    reference (Whisper's normalizer, jiwer: tools/eval_wer.py), and of the
    committed text against the offline one;
  * retractions cannot happen (commit events are append-only; tests/streaming_test.cc
    checks they add up to the committed text); reported here instead: streams that
    end with tentative text left (finish() must commit it all);
  * --realtime: play the files at real pace instead (wall-clock latencies);
  * --streams N: N streams of the first --seconds of the long recording at
    once, at real pace, one thread each: how far each falls behind (the wall
    time of each hypothesis minus the audio it covered) and its latency;
  * --websocket: the same through `serve`'s /v1/realtime (OpenAI's Realtime
    API, tools/realtime_client.py) at real pace, in 100 ms messages, with
    the server's defaults (server VAD turns) or the flags after --: the
    latency of each committed word is its delta's arrival; with --streams N,
    N sessions at once.

  python3 tools/eval_streaming.py [--all] [--streams N] [--websocket] [-- FLAGS]
"""
import argparse
import contextlib
import difflib
import json
import pathlib
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import eval_wer  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from testdata import MODELS, SPEECH  # noqa: E402


def comparable(word):
    w = "".join(c.lower() for c in word if c.isalnum() or ord(c) >= 0x80)
    return w or word.strip()


def offline_words(exe, model, clip, language, threads):
    out = subprocess.run([exe, "transcribe", str(clip), "--model", str(model), "--language", language,
                          "--output-format", "json", "--word-timestamps", "--word-starts",
                          "attention", "--threads", str(threads), "--quiet"],
                         capture_output=True, text=True, check=True).stdout
    j = json.loads(out)
    words = [w for s in j["segments"] for w in s["words"]]
    return j["text"], words


def stream_events(exe, model, clip, language, threads, extra):
    r = subprocess.run([exe, "stream", str(clip), "--model", str(model), "--language", language,
                        "--jsonl", "--threads", str(threads), *extra],
                       capture_output=True, text=True, check=True)
    return [json.loads(line) for line in r.stdout.splitlines()]


def simulate(events, realtime):
    """[(committed word, commit time)] on the real-time clock, and the text."""
    committed, pending = [], []
    finish = 0.0
    last_wall = 0.0
    for e in events:
        if e["type"] == "commit":
            pending.extend(e["words"])
            continue
        # A partial event closes each hypothesis.
        compute = e["wall"] - last_wall
        last_wall = e["wall"]
        finish = e["wall"] if realtime else max(e["audio"], finish) + compute
        committed.extend((w, finish) for w in pending)
        pending = []
    committed.extend((w, finish) for w in pending)  # after the last partial: none expected
    return committed


def latencies(committed, offline):
    a = [comparable(w["word"]) for w, _ in committed]
    b = [comparable(w["word"]) for w in offline]
    out = []
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            word, when = committed[block.a + k]
            out.append(when - offline[block.b + k]["end"])
    return out


@contextlib.contextmanager
def long_excerpt(a):
    """The first --seconds of the long recording as a WAV, and its offline words."""
    import tempfile
    import soundfile
    long = SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"
    audio, rate = soundfile.read(str(long), dtype="float32")
    with tempfile.TemporaryDirectory() as d:
        clip = pathlib.Path(d) / "excerpt.wav"
        soundfile.write(str(clip), audio[: int(a.seconds * rate)], rate, subtype="PCM_16")
        yield clip, offline_words(a.amanuensis, a.model, clip, "en", 2)[1]


def capacity(a, extra):
    """N real-time streams at once, one thread each."""
    with long_excerpt(a) as (clip, offline):
        procs = [subprocess.Popen([a.amanuensis, "stream", str(clip), "--model", a.model,
                                   "--language", "en", "--jsonl", "--threads", "1", "--realtime",
                                   *extra], stdout=subprocess.PIPE, text=True)
                 for _ in range(a.streams)]
        outs = [p.communicate()[0] for p in procs]
    print(f"{a.streams} streams of {a.seconds:.0f} s at real pace, 1 thread each, "
          f"flags {' '.join(extra) or '(defaults)'}")
    print("| stream | hypotheses | lag mean s | lag max s | lag at the end s | latency mean s | p90 s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i, out in enumerate(outs):
        events = [json.loads(line) for line in out.splitlines()]
        lags = [e["wall"] - e["audio"] for e in events if e["type"] == "partial"]
        lat = sorted(latencies(simulate(events, realtime=True), offline))
        print(f"| {i} | {len(lags)} | {statistics.mean(lags):.2f} | {max(lags):.2f} | "
              f"{lags[-1]:.2f} | {statistics.mean(lat):.2f} | {lat[int(0.9 * (len(lat) - 1))]:.2f} |")


def websocket_server(a):
    sys.path.insert(0, str(REPO / "tests"))
    from server_process import ServerProcess
    return ServerProcess(a.amanuensis, a.model, *a.stream_args)


def websocket_sessions(url, clips):
    """Each (clip, language) through /v1/realtime at real pace, all at once:
    [(committed words with their arrival times, text)]."""
    import threading
    from realtime_client import stream_file
    results = [None] * len(clips)

    def one(i, clip, language):
        results[i] = stream_file(url, clip, language)
    threads = [threading.Thread(target=one, args=(i, c, lang))
               for i, (c, lang) in enumerate(clips)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def websocket_capacity(a):
    with long_excerpt(a) as (clip, offline):
        server = websocket_server(a)
        try:
            results = websocket_sessions(server.url, [(clip, "en")] * a.streams)
        finally:
            server.stop()
    print(f"{a.streams} WebSocket sessions of {a.seconds:.0f} s at real pace, server flags "
          f"{' '.join(a.stream_args) or '(defaults)'}")
    print("| session | words | latency mean s | p90 s | last word s |")
    print("|---|---:|---:|---:|---:|")
    for i, (committed, _) in enumerate(results):
        lat = latencies(committed, offline)
        s = sorted(lat)
        print(f"| {i} | {len(committed)} | {statistics.mean(lat):.2f} | "
              f"{s[int(0.9 * (len(s) - 1))]:.2f} | {lat[-1]:.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--amanuensis", default=str(REPO / "build" / "amanuensis"))
    ap.add_argument("--model", default=str(MODELS / "base"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--all", action="store_true", help="every language, not English only")
    ap.add_argument("--realtime", action="store_true")
    ap.add_argument("--only", help="clips whose name contains this")
    ap.add_argument("--streams", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--websocket", action="store_true",
                    help="through `serve`'s /v1/realtime (flags after -- go to serve)")
    ap.add_argument("stream_args", nargs="*",
                    help="after --: flags for `amanuensis stream` (or `serve`, --websocket)")
    a = ap.parse_args()
    if a.streams:
        return websocket_capacity(a) if a.websocket else capacity(a, list(a.stream_args))
    extra = list(a.stream_args) + (["--realtime"] if a.realtime else [])
    rows = [r for r in eval_wer.read_manifest(SPEECH)
            if r["path"].is_file() and eval_wer.reference_text(r) and "-" not in r["language"]
            and (a.all or r["language"] == "en") and (not a.only or a.only in r["file"])]
    all_lat, totals = [], {"stream": [0, 0], "offline": [0, 0], "stream_vs_offline": [0, 0]}
    server = websocket_server(a) if a.websocket else None
    leftover = 0
    print("| clip | s | words | mean latency s | p90 s | WER stream % | WER offline % |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lang = r["language"]
        offline_text, offline = offline_words(a.amanuensis, a.model, r["path"], lang, a.threads)
        if a.websocket:  # a session of its own, alone on the server
            committed, text = websocket_sessions(server.url, [(r["path"], lang)])[0]
        else:
            events = stream_events(a.amanuensis, a.model, r["path"], lang, a.threads, extra)
            committed = simulate(events, a.realtime)
            text = "".join(w["word"] for w, _ in committed)
            final = [e for e in events if e["type"] == "partial"][-1]
            leftover += final["text"] != ""  # the stream should end with nothing tentative
        lat = latencies(committed, offline)
        all_lat += lat
        ref = eval_wer.reference_text(r)
        s_stream = eval_wer.score(ref, text, lang)
        s_off = eval_wer.score(ref, offline_text, lang)
        s_vs = eval_wer.score(offline_text, text, lang)
        for key, s in (("stream", s_stream), ("offline", s_off), ("stream_vs_offline", s_vs)):
            if s["errors"] is not None:
                totals[key][0] += s["errors"]
                totals[key][1] += s["ref_len"]
        print(f"| {r['file']} | {float(r['duration_s']):.1f} | {len(committed)} | "
              f"{statistics.mean(lat) if lat else float('nan'):.2f} | "
              f"{sorted(lat)[int(0.9 * (len(lat) - 1))] if lat else float('nan'):.2f} | "
              f"{100 * s_stream['rate']:.1f} | {100 * s_off['rate']:.1f} |", flush=True)
    lat = sorted(all_lat)
    print(f"\nwords matched to the offline transcript: {len(lat)}")
    print(f"latency: mean {statistics.mean(lat):.2f} s, median {statistics.median(lat):.2f} s, "
          f"p90 {lat[int(0.9 * (len(lat) - 1))]:.2f} s")
    for key, (e, n) in totals.items():
        print(f"pooled WER {key}: {100 * e / n:.2f} % ({e}/{n})")
    if server:
        server.stop()
    else:
        print(f"streams that ended with tentative text left: {leftover}")


if __name__ == "__main__":
    main()
