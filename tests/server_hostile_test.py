#!/usr/bin/env python3
"""`amanuensis serve` against clients that misbehave, over raw sockets:
  * request smuggling: a body the server refuses early is never read as
    requests (exactly one answer, then the connection closes);
  * slow clients: 50 that trickle headers and 50 that trickle bodies; /health
    answers each probe within 1 s, jfk.wav requests are answered (not starved),
    the tricklers are dropped (headers: after --header-timeout, bodies: 408
    below --min-upload-rate), SIGTERM exits at once;
  * a client that half-closes after its request gets its answer;
  * more than --max-connections: 503 and closed; idle keep-alive: closed;
  * --request-timeout and a gone client stop a transcription within a second;
  * --max-audio-seconds refuses a small upload holding long audio (413);
  * bad flags (key, access log, limits): a one-line error;
  * 100-continue, 405, 431, unparsable requests, pipelining."""
import argparse
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_process import MODELS, ServerProcess  # noqa: E402
from testdata import JFK  # noqa: E402
from checks import check, finish  # noqa: E402

BOUNDARY = b"b0undary"


def multipart(audio, model=b"tiny.en"):
    b = BOUNDARY
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="model"\r\n\r\n' + model +
            b"\r\n--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n" + audio + b"\r\n--" + b + b"--\r\n")


def connect(server, timeout=30):
    s = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=timeout)
    return s


def post_head(length, content_type=b"multipart/form-data; boundary=" + BOUNDARY, extra=b""):
    return (b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type +
            b"\r\nContent-Length: %d\r\n" % length + extra + b"\r\n")


def read_all(s, timeout=10):
    """Everything the server sends until it closes (or `timeout` of silence)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        return data, True


def statuses(data):
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def answer(server, raw, timeout=30):
    s = connect(server, timeout)
    s.sendall(raw)
    data, closed = read_all(s, timeout=3)
    s.close()
    return data, closed


def timed_health(server):
    t = time.time()
    try:
        s = connect(server, 5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_all(s, 5)
        s.close()
        ok = statuses(data) == [200]
    except OSError:
        ok = False
    return ok, time.time() - t


def jfk_request(server, audio, model=b"tiny.en"):
    """(status, seconds, bytes) of one transcription over a fresh connection."""
    body = multipart(audio, model)
    t = time.time()
    s = connect(server, 60)
    s.sendall(post_head(len(body), extra=b"Connection: close\r\n") + body)
    data, _ = read_all(s, 60)
    s.close()
    codes = statuses(data)
    return (codes[-1] if codes else 0), time.time() - t, data


def check_smuggling(server):
    hidden = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"x" * 4096 + hidden + b"y" * 100
    for name, raw in [
        ("not multipart", post_head(len(body), b"text/plain") + body),
        ("unknown path", b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
         % len(body) + body),
        ("wrong method", b"PUT /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: %d\r\n\r\n" % len(body) + body),
        ("body over the limit", post_head(3 << 20) + body),
    ]:
        data, closed = answer(server, raw)
        check(f"smuggling, {name}: one answer, then closed", len(statuses(data)) == 1 and closed
              and b'"object":"list"' not in data, (statuses(data), closed, data[:200]))
    # A body the server reads (a malformed form) is consumed: one 400, and
    # the connection stays usable.
    s = connect(server)
    s.sendall(post_head(len(body)) + body + b"GET /health HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n")
    data, closed = read_all(s)
    check("malformed form read to its end: its 400, then the next request's 200",
          statuses(data) == [400, 200] and b'"object":"list"' not in data, statuses(data))


def check_protocol(server, audio):
    data, closed = answer(server, b"GET /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n\r\n")
    check("GET on a POST route: 405 with Allow: POST", statuses(data) == [405] and
          b"Allow: POST" in data and b'"error"' in data, data[:300])
    data, closed = answer(server, b"HELLO\r\n\r\n")
    check("not HTTP: 400, closed", statuses(data) == [400] and closed, data[:200])
    data, closed = answer(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 +
                          b"\r\n\r\n")
    check("headers over the limit: 431, closed", statuses(data) == [431] and closed, data[:200])
    data, closed = answer(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("two pipelined requests: two answers in order", statuses(data) == [200, 200] and
          data.index(b'"status"') < data.index(b'"object":"list"'), data[:300])
    # 100-continue: over the limit, refused before the body is sent; else continued.
    s = connect(server)
    s.sendall(post_head(3 << 20, extra=b"Expect: 100-continue\r\n"))
    data, closed = read_all(s, 5)
    check("100-continue over the limit: 413 without the body", statuses(data) == [413] and closed,
          data[:200])
    body = multipart(audio)
    s = connect(server)
    s.sendall(post_head(len(body), extra=b"Expect: 100-continue\r\nConnection: close\r\n"))
    s.settimeout(5)
    first = s.recv(100)
    s.sendall(body)
    data, _ = read_all(s, 60)
    check("100-continue: 100, then the transcript", first.startswith(b"HTTP/1.1 100 ") and
          statuses(data) == [200] and b"ask not" in data, (first, data[:200]))
    # Half-closed after the whole request: the answer still comes.
    s = connect(server, 60)
    s.sendall(post_head(len(body)) + body)
    s.shutdown(socket.SHUT_WR)
    data, closed = read_all(s, 60)
    codes = [c for c in statuses(data) if c >= 200]
    check("half-closed client: its transcript, then closed", codes == [200] and
          b"ask not" in data and closed, data[:300])


def slow_clients(server, audio, seconds, tricklers=50, model=b"tiny.en"):
    """`tricklers` clients trickling headers and as many trickling bodies for
    `seconds`, while /health is probed every 0.2 s and jfk.wav is sent every
    2 s; then SIGTERM. What each saw, for the checks below and for
    tools/hostile_clients.py."""
    idle = sorted(jfk_request(server, audio, model)[1] for _ in range(3))[1]
    stop = threading.Event()
    out = {"idle_s": idle, "probes": [], "loaded": [], "header_drops": [], "body_refusals": [],
           "body_drops": []}

    def header_trickler():
        while not stop.is_set():
            try:
                s = connect(server, 30)
                t = time.time()
                for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 1000:
                    if stop.is_set():
                        break
                    s.send(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                out["header_drops"].append(time.time() - t)
            finally:
                s.close()

    def body_trickler():
        while not stop.is_set():
            try:
                s = connect(server, 30)
                s.sendall(post_head(1 << 20))
                t = time.time()
                while not stop.is_set():
                    s.send(b"x" * 10)
                    time.sleep(0.2)
                    s.settimeout(0)
                    try:
                        got = s.recv(4096)
                    except BlockingIOError:
                        got = None
                    s.settimeout(30)
                    if got == b"":  # closed unanswered: the server stopping, at the end
                        out["body_drops"].append(time.time() - t)
                        break
                    if got is not None:
                        out["body_refusals"].append((statuses(got), time.time() - t))
                        break
            except OSError:
                out["body_drops"].append(time.time() - t)
            finally:
                s.close()

    def transcriber():
        while not stop.wait(2.0):
            status, took, _ = jfk_request(server, audio, model)
            out["loaded"].append((status, took))

    threads = [threading.Thread(target=header_trickler) for _ in range(tricklers)] + \
              [threading.Thread(target=body_trickler) for _ in range(tricklers)] + \
              [threading.Thread(target=transcriber)]
    for t in threads:
        t.start()
    end = time.time() + seconds
    while time.time() < end:
        out["probes"].append(timed_health(server))
        time.sleep(0.2)
    t0 = time.time()
    server.proc.send_signal(signal.SIGTERM)
    out["exit_status"] = server.stop(timeout=30)
    out["sigterm_s"] = time.time() - t0
    stop.set()
    for t in threads:
        t.join()
    return out


def check_slow_clients(server, audio, header_timeout):
    r = slow_clients(server, audio, 3 * header_timeout + 6)
    probes, loaded, idle = r["probes"], r["loaded"], r["idle_s"]
    check(f"100 slow clients: /health answers each of {len(probes)} probes within 1 s",
          all(ok and t < 1.0 for ok, t in probes), max(t for _, t in probes))
    # Not starved: the 2x goal is measured by tools/hostile_clients.py (a
    # benchmark); here the tricklers share the machine with the test itself.
    worst = max((t for _, t in loaded), default=None)
    check(f"100 slow clients: jfk.wav {len(loaded)} times, each answered, none starved "
          f"(at worst {worst} s vs {idle:.2f} s idle)",
          loaded and all(c == 200 and t < 5 * idle + 1.0 for c, t in loaded), (loaded, idle))
    heads = r["header_drops"]
    check("header tricklers dropped after --header-timeout",
          len(heads) > 0 and all(t < header_timeout + 1.5 for t in heads),
          (len(heads), max(heads, default=None)))
    refused = r["body_refusals"]
    check("body tricklers answered 408 below --min-upload-rate",
          len(refused) > 0 and all(codes == [408] and t < 2 * header_timeout + 2
                                   for codes, t in refused), refused[:5])
    check(f"SIGTERM among slow clients: exit 0 in {r['sigterm_s']:.1f} s",
          r["exit_status"] == 0 and r["sigterm_s"] < 5, r["exit_status"])


def check_connection_cap(exe, model, audio):
    server = ServerProcess(exe, model, "--max-connections", "8", "--idle-timeout", "2")
    try:
        opened = time.time()
        held = [connect(server) for _ in range(8)]
        time.sleep(0.5)
        data, closed = answer(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        check("over --max-connections: 503, Retry-After, closed", statuses(data) == [503] and
              b"Retry-After" in data and closed, data[:200])
        data, closed = read_all(held[0], 10)
        check("an idle connection is closed after --idle-timeout",
              data == b"" and closed and 1.9 < time.time() - opened < 4, time.time() - opened)
        for s in held:
            s.close()
        time.sleep(0.5)
        ok, _ = timed_health(server)
        check("the connections closed: served again", ok)
    finally:
        server.stop()


def check_audio_caps(exe, model, audio, tmp):
    """--max-audio-seconds: a small upload holding long audio is refused with
    413 before it is decoded (its container says how long it is), and the
    server's memory stays small."""
    opus = os.path.join(tmp, "noise.opus")  # 20 minutes of noise in about 1 MB
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anoisesrc=d=1200:c=white:a=0.1:r=16000", "-ac", "1", "-c:a", "libopus",
                    "-b:a", "6k", opus], check=True, timeout=300)
    server = ServerProcess(exe, model, "--max-audio-seconds", "10")
    try:
        for name, data in [("jfk.wav, 11 s", audio), ("noise.opus, 20 min", open(opus, "rb").read())]:
            t = time.time()
            status, _, body = jfk_request(server, data)
            check(f"--max-audio-seconds 10, {name}: 413 audio_too_long at once",
                  status == 413 and b"audio_too_long" in body and time.time() - t < 3,
                  (status, time.time() - t, body[-300:]))
        rss = server.peak_rss_kb() / 1024
        check(f"--max-audio-seconds: peak RSS {rss:.0f} MB stays under 400 MB", rss < 400, rss)
    finally:
        server.stop()
    # 20 minutes in 685 KiB is about 1790 s per MiB: over a cap of 1000, under the default 2048.
    noise = open(opus, "rb").read()
    for per_mb, refused in [("1000", True), ("2048", False)]:
        server = ServerProcess(exe, model, "--max-audio-seconds-per-mb", per_mb, "--workers", "1",
                               "--request-timeout", "2")
        try:
            status, _, body = jfk_request(server, noise)
            check(f"--max-audio-seconds-per-mb {per_mb}: 20 min in {len(noise) >> 10} KiB "
                  + ("refused (413)" if refused else "taken (then cut by the deadline: 504)"),
                  status == (413 if refused else 504), (status, body[-200:]))
            status, _, _ = jfk_request(server, audio)
            check(f"--max-audio-seconds-per-mb {per_mb}: jfk.wav is taken", status == 200, status)
        finally:
            server.stop()


def check_deadline_and_gone(exe, model, audio):
    """--request-timeout and a client that leaves stop a transcription inside
    its window (Callbacks::interrupt), not at the window's end."""
    import numpy as np
    import soundfile
    samples, rate = soundfile.read(io.BytesIO(audio), dtype="int16")
    buf = io.BytesIO()
    soundfile.write(buf, np.tile(samples, 30), rate, format="WAV", subtype="PCM_16")  # 5.5 min
    long_audio = buf.getvalue()
    # base on one thread: a window takes 2-3 s here, so a check only between
    # windows would miss both bounds below.
    server = ServerProcess(exe, os.path.join(MODELS, "base"), "--request-timeout", "3",
                           "--workers", "1", "--threads-per-worker", "1", "--max-upload-mb", "20")
    try:
        t = time.time()
        status, _, body = jfk_request(server, long_audio, b"base")
        took = time.time() - t
        check(f"--request-timeout 3: 504 after {took:.2f} s (within 1 s of it)",
              status == 504 and took < 4.0, (status, took, body[-200:]))
        s = connect(server, 60)
        body = multipart(long_audio, b"base")
        s.sendall(post_head(len(body)) + body)
        busy = server.wait_until(lambda h: h["workers_busy"] == 1, 10)
        time.sleep(0.5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # a reset, as a client killed mid-request leaves it
        t = time.time()
        freed = server.wait_until(lambda h: h["workers_busy"] == 0, 10)
        check(f"a client gone mid-window frees its worker in {time.time() - t:.2f} s (< 1.5 s)",
              busy and freed and time.time() - t < 1.5, server.health())
    finally:
        server.stop()


def check_flags(exe, model, tmp):
    """Bad serve flags: one line 'amanuensis: error: ...', exit > 0, nothing served."""
    key = os.path.join(tmp, "key")
    with open(key, "w") as f:
        f.write("k\n")
    for name, flags, needle in [
        ("a missing key file", ["--api-key-file", os.path.join(tmp, "none")], "cannot read an API key"),
        ("a key with a space", ["--api-key", "a b"], "printable ASCII"),
        ("a key given twice", ["--api-key", "a", "--api-key-file", key], "not both"),
        ("an unknown log format", ["--access-log-format", "xml"], "plain or json"),
        ("an unwritable log", ["--access-log", "/nonexistent/dir/log"], "cannot open the access log"),
        ("--header-timeout 0", ["--header-timeout", "0"], "--header-timeout must be"),
        ("--max-connections 0", ["--max-connections", "0"], "--max-connections must be"),
        ("--min-upload-rate -1", ["--min-upload-rate", "-1"], "--min-upload-rate must be"),
        ("--max-audio-seconds 0", ["--max-audio-seconds", "0"], "--max-audio-seconds must be"),
        ("--live-step 0.05", ["--live-step", "0.05"], "--live-step must be"),
        ("--live-catch-up -1", ["--live-catch-up", "-1"], "--live-catch-up must be"),
    ]:
        r = subprocess.run([exe, "serve", "--model", model, "--port", "0", *flags],
                           capture_output=True, text=True, timeout=60)
        lines = r.stderr.splitlines()
        check(f"serve with {name}: one-line error, exit > 0", r.returncode > 0 and len(lines) == 1
              and lines[0].startswith("amanuensis: error: ") and needle in lines[0],
              (r.returncode, r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis
    model = os.path.join(MODELS, "tiny.en")
    audio = open(JFK, "rb").read()
    header_timeout = 2
    server = ServerProcess(exe, model, "--header-timeout", str(header_timeout), "--workers", "1",
                           "--max-upload-mb", "1", "--request-timeout", "30",
                           "--word-starts", "attention")
    try:
        check_smuggling(server)
        check_protocol(server, audio)
        check_slow_clients(server, audio, header_timeout)
    finally:
        server.stop()
    check_connection_cap(exe, model, audio)
    check_deadline_and_gone(exe, model, audio)
    with tempfile.TemporaryDirectory() as tmp:
        check_audio_caps(exe, model, audio, tmp)
        check_flags(exe, model, tmp)
    return finish("server_hostile_test")


if __name__ == "__main__":
    sys.exit(main())
