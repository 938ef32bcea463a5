#!/usr/bin/env python3
"""`amanuensis serve` end to end with the official `openai` client: every
response format, timestamp granularities, streaming, translation, the CLI's
transcript, each error, 429 when the queue is full, a client that stalls or
disconnects, and the drain on SIGTERM."""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx2 as httpx  # the HTTP client the openai package brings
import numpy as np
import openai
import soundfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_process import MODELS, ServerProcess  # noqa: E402
from testdata import JFK
from checks import check, finish

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "samples", "jfk.wav")




def words(text):
    return "".join(c for c in text.lower() if c.isalpha() or c == " ").split()


def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=300)


def post(server, fields, files=None, path="/v1/audio/transcriptions", **kw):
    return httpx.post(server.url + path, data=fields, files=files, timeout=300, **kw)


def check_error(name, r, status, param=None, text=None):
    """An OpenAI error object with this status, naming `param`."""
    try:
        e = r.json()["error"]
        shape = {"message", "type", "param", "code"} <= e.keys()
    except (ValueError, KeyError, TypeError):
        e, shape = {}, False
    check(name, r.status_code == status and shape and (param is None or e.get("param") == param)
          and (text is None or text in e.get("message", "")),
          f"{r.status_code} {r.text[:300]!r}")


def cli_json(exe, model, path, *extra):
    r = subprocess.run([exe, "transcribe", path, "--model", model, "--output-format", "json", *extra],
                       capture_output=True, text=True, timeout=300)
    return json.loads(r.stdout)


def check_formats(server, model_name, jfk, cli):
    c = client(server)
    with open(jfk, "rb") as f:
        audio = f.read()
    create = lambda **kw: c.audio.transcriptions.create(model=model_name, file=("jfk.wav", audio), **kw)
    t = create()
    check("json: the CLI's transcript", t.text == cli["text"].strip(), (t.text, cli["text"]))
    check("whisper-1 is an alias", c.audio.transcriptions.create(
        model="whisper-1", file=("jfk.wav", audio)).text == t.text)
    check("batch_size (extra_body): batched mode, one window, the same transcript",
          create(extra_body={"batch_size": 4}).text == t.text)
    txt = create(response_format="text")
    check("text: the transcript and a newline", txt == t.text + "\n", repr(txt))
    srt = create(response_format="srt")
    blocks = [b.splitlines() for b in srt.strip().split("\n\n")]
    check("srt: one numbered block per segment", len(blocks) == len(cli["segments"]) and all(
        b[0] == str(i + 1) and " --> " in b[1] for i, b in enumerate(blocks)), srt)
    vtt = create(response_format="vtt")
    check("vtt: WEBVTT and a cue per segment", vtt.startswith("WEBVTT\n") and
          vtt.count(" --> ") == len(cli["segments"]), vtt)
    v = create(response_format="verbose_json")
    check("verbose_json: language, duration, text", v.language == "english" and
          abs(v.duration - 11.0) < 0.01 and v.text == t.text, v)
    check("verbose_json: the CLI's segments", [(s.start, s.end, s.text) for s in v.segments] ==
          [(s["start"], s["end"], s["text"]) for s in cli["segments"]], v.segments)
    check("verbose_json: no words unless asked", getattr(v, "words", None) is None)
    check("verbose_json: usage in seconds, as OpenAI's", v.usage is not None and
          v.usage.type == "duration" and v.usage.seconds == 11, v.usage)
    vad = cli_json(server.exe, server.model, jfk, "--vad")
    check("chunking_strategy auto: VAD's chunks, the CLI's --vad transcript",
          create(chunking_strategy="auto").text == vad["text"].strip())
    vad = cli_json(server.exe, server.model, jfk, "--vad", "--vad-threshold", "0.3",
                   "--vad-speech-pad-ms", "100", "--vad-min-silence-ms", "300")
    got = create(response_format="verbose_json", chunking_strategy={
        "type": "server_vad", "threshold": 0.3, "prefix_padding_ms": 100, "silence_duration_ms": 300})
    check("chunking_strategy server_vad: its threshold, padding and silence, the CLI's segments",
          [(x.start, x.end, x.text) for x in got.segments] ==
          [(x["start"], x["end"], x["text"]) for x in vad["segments"]], (got.segments, vad))
    seg = create(response_format="verbose_json", timestamp_granularities=["segment"])
    check("granularity segment: segments, no words", seg.segments and getattr(seg, "words", None) is None)
    try:
        w = create(response_format="verbose_json", timestamp_granularities=["word", "segment"])
        ws = w.words or []
        check("granularity word: words present", len(ws) >= 20, w)
        check("granularity word: words ordered, within the audio", all(
            0 <= a.start <= a.end <= w.duration + 1e-3 for a in ws) and all(
            a.start <= b.start for a, b in zip(ws, ws[1:])), ws)
        check("granularity word: the transcript's words", words(" ".join(a.word for a in ws)) ==
              words(w.text), ws)
        check("granularity word: segments too", bool(w.segments))
        cli_words = [(x["word"].strip(), x["start"], x["end"]) for s in cli["word_segments"] for x in s["words"]]
        check("granularity word: the CLI's words and times (starts at speech)",
              [(a.word, a.start, a.end) for a in ws] == cli_words, (ws, cli_words))
        verbose = json.loads(subprocess.run(
            [server.exe, "transcribe", jfk, "--model", server.model, "--word-timestamps",
             "--output-format", "verbose_json"], capture_output=True, text=True, timeout=300).stdout)
        check("granularity word: the CLI's verbose_json words, the same document",
              [a.model_dump() for a in ws] == verbose.get("words"), (ws, verbose.get("words")))
    except openai.APIStatusError as e:
        check("granularity word: words present", False, e)

    events = list(create(stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e for e in events if e.type == "transcript.text.done"]
    check("stream: a delta per segment, then done", len(deltas) == len(cli["segments"]) and
          len(done) == 1 and events[-1].type == "transcript.text.done", events)
    check("stream: done is the transcript, the deltas add up to it",
          done and done[0].text == t.text and "".join(deltas).strip() == t.text, (deltas, done))
    times = [x for e in events if e.type == "transcript.text.delta" for x in (e.start, e.end)]
    check("stream: times to the millisecond", times and all(round(x, 3) == x for x in times), times)
    check_logprobs(create, t.text, cli)


def check_logprobs(create, text, cli):
    """include[]=logprobs: each text token's, in json and in the stream's events."""
    lp = create(include=["logprobs"])
    got = [(x.token, x.logprob, x.bytes) for x in (lp.logprobs or [])]
    text_tokens = [tok for s in cli["segments"] for tok in s["tokens"] if tok < 50257]
    check("logprobs: the transcript, one entry per text token",
          lp.text == text and len(got) == len(text_tokens), (lp, text_tokens))
    check("logprobs: the tokens spell the text, their bytes spell them",
          "".join(t for t, _, _ in got).strip() == text and
          all(bytes(int(x) for x in b).decode() == t for t, _, b in got), got)
    # The window's avg_logprob averages every token's (timestamps and eot too,
    # all <= 0): the text tokens' sum can only be higher.
    total = cli["segments"][0]["avg_logprob"] * (sum(len(s["tokens"]) for s in cli["segments"]) + 1)
    check("logprobs: each <= 0, their sum within avg_logprob's",
          all(x <= 0 for _, x, _ in got) and sum(x for _, x, _ in got) >= total - 1e-3,
          (got, total))
    check("logprobs: not asked, not listed", create().logprobs is None)
    events = list(create(stream=True, include=["logprobs"]))
    deltas = [(x.token, x.logprob) for e in events if e.type == "transcript.text.delta"
              for x in (e.logprobs or [])]
    done = [[(x.token, x.logprob) for x in (e.logprobs or [])]
            for e in events if e.type == "transcript.text.done"]
    check("logprobs streamed: the deltas' add up to done's, which are json's",
          done and deltas == done[0] == [(t, x) for t, x, _ in got], (deltas, done))
    try:
        create(include=["logprobs"], response_format="verbose_json")
        check("logprobs with verbose_json: 400", False)
    except openai.BadRequestError as e:
        check("logprobs with verbose_json: 400 naming include[]",
              e.body and e.body.get("param") == "include[]", e.body)


def check_errors(server, model_name, jfk):
    with open(jfk, "rb") as f:
        audio = f.read()
    wav = lambda data=audio: {"file": ("jfk.wav", data, "audio/wav")}
    base = {"model": model_name}
    check_error("missing file: 400", post(server, base, files={"prompt": (None, "hi")}), 400, "file")
    check_error("temperature=abc: 400", post(server, {**base, "temperature": "abc"}, wav()), 400, "temperature")
    check_error("stream=maybe: 400", post(server, {**base, "stream": "maybe"}, wav()), 400, "stream")
    check_error("unknown field: 400", post(server, {**base, "speakers": "2"}, wav()), 400,
                "speakers")
    check_error("chunking_strategy not OpenAI's: 400", post(
        server, {**base, "chunking_strategy": '{"type": "semantic_vad"}'}, wav()), 400,
        "chunking_strategy")
    check_error("bad language: 400", post(server, {**base, "language": "xx"}, wav()), 400, "language")
    check_error("batch_size=0: 400", post(server, {**base, "batch_size": "0"}, wav()), 400, "batch_size")
    check_error("batch_size=two: 400", post(server, {**base, "batch_size": "two"}, wav()), 400,
                "batch_size")
    check_error("unknown model: 404", post(server, {"model": "gpt-4o-transcribe"}, wav()), 404, "model")
    check_error("truncated WAV: 415", post(server, base, wav(audio[: len(audio) // 2])), 415, "file",
                "truncated")
    check_error("not audio: 415", post(server, base, wav(b"just some words, not audio\n" * 100)), 415, "file")
    check_error("oversized upload: 413", post(server, base, wav(bytes(4 << 20))), 413, "file", "MiB")
    check_error("oversized prompt: 413 naming prompt",
                post(server, {**base, "prompt": "x" * ((3 << 20) - 100)}, wav(bytes(2000))), 413,
                "prompt", "'prompt'")
    check_error("not multipart: 400", httpx.post(server.url + "/v1/audio/transcriptions",
                                                 json={"model": model_name}), 400)
    check_error("unknown path: 404", httpx.get(server.url + "/v1/nothing"), 404)
    try:
        client(server).audio.transcriptions.create(model="nope", file=("jfk.wav", audio))
        check("openai client: unknown model raises NotFoundError", False)
    except openai.NotFoundError as e:
        check("openai client: unknown model raises NotFoundError", e.body.get("param") == "model", e.body)


def check_health_and_models(server, model_name):
    h = server.health()
    check("health: fields", {"model", "precision", "instruction_set", "workers", "workers_busy",
                             "queue_depth", "uptime_s"} <= h.keys() and h["model"] == model_name, h)
    ids = [m.id for m in client(server).models.list()]
    check("models: the model and whisper-1", ids == [model_name, "whisper-1"], ids)
    got = [client(server).models.retrieve(i).id for i in ids]
    check("models.retrieve: each listed model", got == ids, got)
    try:
        client(server).models.retrieve("whisper-9")
        check("models.retrieve: an unknown model is 404", False)
    except openai.NotFoundError as e:
        check("models.retrieve: an unknown model is 404 model_not_found",
              e.body and e.body.get("code") == "model_not_found", e.body)


def raw_request(server, body_bytes, fields_boundary="b0undary"):
    """An open socket that has sent a transcription request's headers and `body_bytes` of its body."""
    s = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    s.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: multipart/form-data; boundary=" + fields_boundary.encode() + b"\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body_bytes[1]) + body_bytes[1][: body_bytes[0]])
    return s


def multipart(model_name, audio, boundary="b0undary"):
    b = boundary.encode()
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="model"\r\n\r\n' + model_name.encode() +
            b"\r\n--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n" + audio + b"\r\n--" + b + b"--\r\n")


def check_slow_and_gone(server, model_name, jfk, long_wav):
    with open(jfk, "rb") as f:
        audio = f.read()
    body = multipart(model_name, audio)
    slow = raw_request(server, (len(body) // 2, body))  # half a request, then silence
    t0 = time.time()
    r = post(server, {"model": model_name}, {"file": ("jfk.wav", audio)})
    check("slow client: a normal request still completes", r.status_code == 200, r.text)
    slow.settimeout(30)
    try:
        closed = slow.recv(4096) is not None  # the server answers or closes after its read timeout
    except OSError:
        closed = True
    check("slow client: dropped after the read timeout", closed and time.time() - t0 < 30)
    slow.close()

    with open(long_wav, "rb") as f:
        long_body = multipart(model_name, f.read())
    gone = raw_request(server, (len(long_body), long_body))
    busy = server.wait_until(lambda h: h["workers_busy"] == 1, 30)
    gone.close()
    check("client gone: its transcription stops, the worker is free",
          busy and server.wait_until(lambda h: h["workers_busy"] == 0, 30), server.health())


def check_queue_full(server, model_name, long_wav):
    with open(long_wav, "rb") as f:
        audio = f.read()
    results = []
    def one():
        r = post(server, {"model": model_name}, {"file": ("long.wav", audio)})
        results.append((r.status_code, r.headers.get("retry-after"), r))
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join()
    codes = sorted(c for c, _, _ in results)
    check("queue full: 1 worker + 1 queued succeed, the rest get 429", codes == [200, 200, 429, 429], codes)
    for c, retry, r in results:
        if c == 429:
            check_error("429: OpenAI's error, Retry-After", r, 429)
            check("429: Retry-After in seconds", retry is not None and retry.isdigit(), retry)


def check_drain(server, model_name, long_wav):
    with open(long_wav, "rb") as f:
        audio = f.read()
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=post(server, {"model": model_name}, {"file": ("long.wav", audio)})))
    t.start()
    check("drain: request in flight", server.wait_until(lambda h: h["workers_busy"] == 1, 30))
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        r = post(server, {"model": model_name}, {"file": ("long.wav", audio)})
        check_error("drain: a new request gets 503", r, 503)
    except httpx.TransportError as e:
        check("drain: a new request gets 503", False, e)
    t.join()
    r = result.get("r")
    check("drain: the request in flight completes", r is not None and r.status_code == 200
          and "country" in r.json().get("text", ""), r and r.text[:200])
    try:
        code = server.proc.wait(60)
    except subprocess.TimeoutExpired:
        code = None
    check("drain: exit status 0", code == 0, code)


def check_access(exe, model, jfk, tmp):
    """--api-key-file, --cors-origin and the access log (JSON, then plain)."""
    key_file, log = os.path.join(tmp, "key"), os.path.join(tmp, "access.jsonl")
    with open(key_file, "w") as f:
        f.write("sk-test-123\n")
    s = ServerProcess(exe, model, "--api-key-file", key_file, "--cors-origin",
                      "https://a.example, https://b.example", "--access-log", log,
                      "--access-log-format", "json")
    with open(jfk, "rb") as f:
        audio = f.read()
    try:
        wrong = openai.OpenAI(base_url=s.url + "/v1", api_key="sk-wrong", max_retries=0)
        try:
            wrong.audio.transcriptions.create(model="tiny.en", file=("jfk.wav", audio))
            raised = False
        except openai.AuthenticationError:
            raised = True
        check("api key: a wrong key raises AuthenticationError (401)", raised)
        right = openai.OpenAI(base_url=s.url + "/v1", api_key="sk-test-123", max_retries=0)
        text = right.audio.transcriptions.create(model="tiny.en", file=("jfk.wav", audio),
                                                 prompt="SECRET-PROMPT").text
        check("api key: the right key transcribes", "country" in text, text)
        r = httpx.get(s.url + "/v1/models")
        check_error("api key: none given is 401", r, 401)
        check("api key: 401 says WWW-Authenticate: Bearer",
              r.headers.get("www-authenticate") == "Bearer", r.headers)
        check("api key: /health stays open", httpx.get(s.url + "/health").status_code == 200)
        r = httpx.options(s.url + "/v1/audio/transcriptions",
                          headers={"Origin": "https://b.example",
                                   "Access-Control-Request-Method": "POST",
                                   "Access-Control-Request-Headers": "authorization, x-stainless-os"})
        check("cors: a preflight from a listed origin, without the key: 204 allowing it",
              r.status_code == 204 and
              r.headers.get("access-control-allow-origin") == "https://b.example" and
              r.headers.get("access-control-allow-methods") == "POST" and
              "x-stainless-os" in r.headers.get("access-control-allow-headers", ""), r.headers)
        r = httpx.get(s.url + "/v1/models", headers={"Origin": "https://b.example",
                                                     "Authorization": "Bearer sk-test-123"})
        check("cors: an answer to a listed origin allows it",
              r.status_code == 200 and
              r.headers.get("access-control-allow-origin") == "https://b.example", r.headers)
        r = httpx.get(s.url + "/v1/models", headers={"Origin": "https://evil.example",
                                                     "Authorization": "Bearer sk-test-123"})
        check("cors: another origin is not allowed",
              "access-control-allow-origin" not in r.headers, r.headers)
    finally:
        s.stop()
    with open(log) as f:
        lines = [json.loads(line) for line in f]
    every = lines
    lines = [e for e in lines if e["path"] != "/health"]  # ServerProcess polls it
    posts = [e for e in lines if e["method"] == "POST"]
    check("access log: a JSON line per request", len(lines) == 6 and len(posts) == 2 and
          all({"time", "client", "method", "path", "status", "seconds"} <= e.keys() for e in every),
          lines)
    ok = [e for e in posts if e["status"] == 200]
    check("access log: the transcription's audio, queue and run seconds",
          len(ok) == 1 and abs(ok[0]["audio_s"] - 11.0) < 0.01 and ok[0]["queue_s"] >= 0 and
          0 < ok[0]["run_s"] <= ok[0]["seconds"], ok)
    check("access log: a 401 and a 204 are logged",
          sorted(e["status"] for e in lines) == [200, 200, 200, 204, 401, 401], lines)
    body = open(log).read()
    check("access log: no text, prompt or key", all(w not in body for w in
                                                    ["country", "SECRET", "sk-test"]), body)

    plain = os.path.join(tmp, "access.log")
    s = ServerProcess(os.path.abspath(exe), ".", "--access-log", plain, cwd=model)  # the folder
    try:
        httpx.get(s.url + "/v1/nothing")
        ids = [m["id"] for m in httpx.get(s.url + "/v1/models").json()["data"]]
        check("--model .: the model is called by its folder's name",
              ids == [os.path.basename(model), "whisper-1"], ids)
    finally:
        s.stop()
    with open(plain) as f:
        text = f.read()
    check("access log (plain): time, client, request, status, seconds",
          re.search(r'^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 - "GET /v1/nothing" 404 seconds=[\d.]+$',
                    text, re.M) is not None, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    args = ap.parse_args()
    tiny, base = os.path.join(MODELS, "tiny.en"), os.path.join(MODELS, "base")
    jfk = str(JFK)
    with tempfile.TemporaryDirectory() as tmp:
        samples, rate = soundfile.read(SAMPLE, dtype="float32")
        long_wav = os.path.join(tmp, "long.wav")  # 66 s: jfk six times
        soundfile.write(long_wav, np.tile(samples, 6), rate, subtype="PCM_16")

        cli = cli_json(args.amanuensis, tiny, jfk)
        cli["word_segments"] = cli_json(args.amanuensis, tiny, jfk, "--word-timestamps")["segments"]
        s = ServerProcess(args.amanuensis, tiny, "--workers", "1", "--queue-size", "1",
                          "--threads-per-worker", "2", "--max-upload-mb", "3")
        try:
            check_health_and_models(s, "tiny.en")
            check_formats(s, "tiny.en", jfk, cli)
            check_errors(s, "tiny.en", jfk)
            check_slow_and_gone(s, "tiny.en", jfk, long_wav)
            check_queue_full(s, "tiny.en", long_wav)
            check_drain(s, "tiny.en", long_wav)
        finally:
            s.stop()

        s = ServerProcess(args.amanuensis, base, "--threads-per-worker", "2")
        try:
            c = client(s)
            with open(jfk, "rb") as f:
                tr = c.audio.translations.create(model="base", file=("jfk.wav", f.read()),
                                                 response_format="verbose_json")
            check("translation: English text, task translate", tr.task == "translate" and
                  "country" in tr.text.lower(), tr)
            with open(jfk, "rb") as f:
                check_error("translation: language is not a parameter", post(
                    s, {"model": "base", "language": "de"}, {"file": ("jfk.wav", f.read())},
                    path="/v1/audio/translations"), 400, "language")
        finally:
            check("SIGTERM when idle: exit 0", s.stop() == 0)
        check_access(args.amanuensis, tiny, jfk, tmp)

    return finish("server_openai_test")


if __name__ == "__main__":
    sys.exit(main())
