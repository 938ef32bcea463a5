#!/usr/bin/env python3
"""Live transcription over `serve`'s WebSocket (/v1/realtime, OpenAI's Realtime
API in transcription mode), end to end with tiny.en:

  * the official `openai` client connects, updates the session (24 kHz
    pcm16, server VAD), streams jfk.wav and gets turns: speech_started,
    deltas, speech_stopped, committed, completed; the completed transcripts
    hold the offline transcript's words and the deltas add up to them;
  * the same audio in other message sizes gives the same events byte for
    byte, but for ids (with catching up off); at 24 kHz the same turns and
    words;
  * --live-step sets the audio between hypotheses; a session behind its
    client (--live-catch-up) takes its queued audio in one hypothesis, with
    the same turns;
  * without turn detection the client commits: commit ends the turn, an
    empty commit is refused, clear drops the audio;
  * bad events (not JSON, unknown type, bad base64, a binary frame, bad
    settings) each get an `error` event naming the problem and the session
    goes on;
  * limits: the API key (header or the browser's subprotocol), the cap on
    sessions (429), a session's length (session_expired), a client that
    sends audio far faster than it can be transcribed (1013), a client that
    vanishes (its session ends), SIGTERM (the turn is committed, close 1001,
    exit 0); a plain GET gets 426, and / serves the page.
"""
import argparse
import base64
import json
import os
import signal
import socket
import sys
import time

import numpy as np
import soundfile as sf
import soxr
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from checks import check, finish
from server_process import MODELS, ServerProcess
from testdata import JFK

TINY = MODELS + "/tiny.en"
WORDS = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"


def words(text):
    return "".join(c for c in text.lower() if c.isalnum() or c == " ").split()


def pcm(rate):
    """jfk.wav then 1.5 s of silence (a turn's end), as pcm16 at `rate`."""
    audio, sr = sf.read(str(JFK), dtype="float32")
    if rate != sr:
        audio = soxr.resample(audio, sr, rate, "HQ")
    audio = np.concatenate([audio, np.zeros(int(1.5 * rate), np.float32)])
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def appends(data, rate, ms):
    step = rate * ms // 1000 * 2
    return [json.dumps({"type": "input_audio_buffer.append",
                        "audio": base64.b64encode(data[i:i + step]).decode()})
            for i in range(0, len(data), step)]


def session_update(ws, **input_):
    ws.send(json.dumps({"type": "session.update",
                        "session": {"type": "transcription", "audio": {"input": input_}}}))
    return next_event(ws)


def next_event(ws, timeout=60):
    return json.loads(ws.recv(timeout=timeout))


def events_until(ws, done, timeout=60):
    out = []
    while True:
        e = next_event(ws, timeout)
        out.append(e)
        if done(e, out):
            return out


def ws_url(server):
    return server.url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"


def turns_completed(n):
    return lambda e, out: sum(x["type"].endswith(".completed") for x in out) >= n


def until_drained(e, _):
    """The commit sent after the audio: by then the trailing silence has ended
    the last turn, so it is refused as empty, after every turn's events."""
    return e["type"] == "error" and e["error"]["code"] == "input_audio_buffer_commit_empty"


def stream_jfk(server, rate, ms):
    """A session with server VAD: jfk.wav in messages of `ms`; its events
    after session.updated, up to the refused commit that follows the audio."""
    with connect(ws_url(server), subprotocols=["realtime"]) as ws:
        assert next_event(ws)["type"] == "session.created"
        updated = session_update(ws, format={"type": "audio/pcm", "rate": rate},
                                 turn_detection={"type": "server_vad"})
        assert updated["type"] == "session.updated", updated
        for m in appends(pcm(rate), rate, ms):
            ws.send(m)
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        return events_until(ws, until_drained)[:-1]


def without_ids(events):
    return [{k: v for k, v in e.items() if k not in ("event_id",)} for e in events]


def check_turns(name, events):
    types = [e["type"] for e in events]
    completed = [e for e in events if e["type"].endswith(".completed")]
    text = " ".join(e["transcript"] for e in completed)
    check(f"{name}: turns start, stop, commit and complete in order",
          types.count("input_audio_buffer.speech_started") == len(completed) >= 1 and
          types.count("input_audio_buffer.speech_stopped") == len(completed) and
          types.count("input_audio_buffer.committed") == len(completed), types)
    found = words(text)
    check(f"{name}: the completed transcripts hold jfk.wav's words",
          sum(w in found for w in WORDS.split()) >= len(WORDS.split()) - 2, text)
    for c in completed:
        deltas = "".join(e["delta"] for e in events
                         if e["type"].endswith(".delta") and e["item_id"] == c["item_id"])
        if deltas != c["transcript"]:
            check(f"{name}: deltas add up to each transcript", False, (deltas, c["transcript"]))
            return
    check(f"{name}: deltas add up to each transcript", True)
    first = {}
    for e in events:
        first.setdefault(e["type"], e)
    check(f"{name}: events carry OpenAI's fields",
          {"audio_start_ms", "item_id"} <= set(first["input_audio_buffer.speech_started"]) and
          {"audio_end_ms", "item_id"} <= set(first["input_audio_buffer.speech_stopped"]) and
          {"previous_item_id", "item_id"} <= set(first["input_audio_buffer.committed"]) and
          {"item_id", "content_index", "transcript"} <=
          set(first["conversation.item.input_audio_transcription.completed"]), first)


def openai_client_session(server):
    from openai import OpenAI
    client = OpenAI(base_url=server.url + "/v1", api_key="key-1")
    data = pcm(24000)
    with client.realtime.connect(model="whisper-1",
                                 extra_query={"intent": "transcription"}) as conn:
        created = conn.recv()
        check("openai client: session.created first", created.type == "session.created", created)
        conn.session.update(session={"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}})
        updated = conn.recv()
        check("openai client: session.updated", updated.type == "session.updated", updated)
        step = 24000 // 10 * 2
        for i in range(0, len(data), step):
            conn.input_audio_buffer.append(audio=base64.b64encode(data[i:i + step]).decode())
        conn.input_audio_buffer.commit()
        events = []
        while True:
            e = conn.recv().to_dict()
            if until_drained(e, events):
                break
            events.append(e)
    check_turns("openai client, 24 kHz", events)


def raw_sessions(server):
    a = stream_jfk(server, 16000, 100)
    check_turns("16 kHz, 100 ms messages", a)
    b = stream_jfk(server, 16000, 37)
    check("the same events with 37 ms messages", without_ids(a) == without_ids(b),
          (len(a), len(b)))
    # 24 kHz resampled is not the 16 kHz file's samples: the same turns
    # (VAD times within two of its 32 ms chunks) and words (tiny.en may read
    # one differently: "Like" / "What your country").
    c = stream_jfk(server, 24000, 250)
    times = [(e["type"], e.get("audio_start_ms", e.get("audio_end_ms"))) for e in vad_events(c)]
    want = [(e["type"], e.get("audio_start_ms", e.get("audio_end_ms"))) for e in vad_events(a)]
    check("24 kHz: the same turns as 16 kHz", len(times) == len(want) and all(
        t == u and abs(x - y) <= 64 for (t, x), (u, y) in zip(times, want)), (times, want))
    turns = [words(e["transcript"]) for e in c if e["type"].endswith(".completed")]
    check("24 kHz: the turns' words of 16 kHz, but for one",
          sum(x != y for t, u in zip(turns, [words(e["transcript"]) for e in a
                                            if e["type"].endswith(".completed")])
              for x, y in zip(t, u)) <= 1 and len(turns) == len(want) // 2, turns)
    return a


def hypotheses(events):
    """A hypothesis reports its tentative text; a turn's end reports ""."""
    return sum(e["type"] == "amanuensis.partial" and e["text"] != "" for e in events)


def vad_events(events):
    return [without_ids([e])[0] for e in events if e["type"].startswith("input_audio_buffer.speech")]


def longer_step(exe, plain):
    """--live-step 1: hypotheses at most 2/3 as often as the default 0.4 s's."""
    s = ServerProcess(exe, TINY, "--live-step", "1", "--live-catch-up", "0")
    try:
        events = stream_jfk(s, 16000, 100)
        check_turns("--live-step 1", events)
        check("--live-step 1: at most 2/3 of the hypotheses",
              hypotheses(events) * 3 <= hypotheses(plain) * 2,
              (hypotheses(events), hypotheses(plain)))
    finally:
        s.stop()


def catching_up(exe, plain):
    """--live-catch-up: a session whose oldest queued message waited that long
    takes all its queued audio in one push. A client far faster than real
    time is behind from its second message: the same turns, far fewer
    hypotheses than `plain` (the events without catching up)."""
    s = ServerProcess(exe, TINY, "--live-catch-up", "0.001")
    try:
        events = stream_jfk(s, 16000, 100)
        check_turns("catching up", events)
        check("catching up: the same turns' starts and stops",
              vad_events(events) == vad_events(plain), vad_events(events))
        check("catching up: at most half the hypotheses",
              hypotheses(events) <= hypotheses(plain) // 2,
              (hypotheses(events), hypotheses(plain)))
    finally:
        s.stop()


def manual_turns(server):
    with connect(ws_url(server)) as ws:
        next_event(ws)
        u = session_update(ws, format={"type": "audio/pcm", "rate": 16000}, turn_detection=None)
        check("turn_detection null is in force",
              u["type"] == "session.updated" and
              u["session"]["audio"]["input"]["turn_detection"] is None, u)
        ws.send(json.dumps({"type": "input_audio_buffer.commit", "event_id": "c0"}))
        e = next_event(ws)
        check("an empty commit is refused", e["type"] == "error" and
              e["error"]["code"] == "input_audio_buffer_commit_empty" and
              e["error"]["event_id"] == "c0", e)
        for m in appends(pcm(16000), 16000, 200):
            ws.send(m)
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        out = events_until(ws, turns_completed(1))
        types = [x["type"] for x in out]
        check("commit: committed then completed, no VAD events",
              "input_audio_buffer.committed" in types and
              "input_audio_buffer.speech_started" not in types, types)
        check("commit: the whole recording's words", sum(
            w in words(out[-1]["transcript"]) for w in WORDS.split()) >= len(WORDS.split()) - 2,
            out[-1])
        for m in appends(pcm(16000)[:32000], 16000, 200):  # 1 s
            ws.send(m)
        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        out = events_until(ws, lambda e, _: e["type"] == "input_audio_buffer.cleared")
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        e = next_event(ws)
        check("clear drops the turn's audio (a commit after it is empty)",
              e["type"] == "error" and e["error"]["code"] == "input_audio_buffer_commit_empty", e)


def bad_events(server):
    with connect(ws_url(server)) as ws:
        next_event(ws)
        cases = [
            ("not JSON", "{oops", "invalid_json", None),
            ("unknown type", json.dumps({"type": "response.create"}), "unknown_event", "type"),
            ("bad base64", json.dumps({"type": "input_audio_buffer.append", "audio": "@@"}),
             "invalid_audio", "audio"),
            ("44.1 kHz", json.dumps({"type": "session.update", "session": {"audio": {"input": {
                "format": {"type": "audio/pcm", "rate": 44100}}}}}), "invalid_value",
             "session.audio.input.format.rate"),
            ("a conversation session", json.dumps({"type": "session.update",
                                                   "session": {"type": "realtime"}}),
             "invalid_value", "session.type"),
            ("an unknown language", json.dumps({"type": "session.update", "session": {
                "audio": {"input": {"transcription": {"language": "xx"}}}}}),
             "invalid_value", "session.audio.input.transcription.language"),
        ]
        for name, text, code, param in cases:
            ws.send(text)
            e = next_event(ws)
            check(f"bad event, {name}: an error naming it", e["type"] == "error" and
                  e["error"]["code"] == code and e["error"]["param"] == param, e)
        ws.send(b"\x00\x01")
        e = next_event(ws)
        check("a binary frame: an error", e["type"] == "error", e)
        u = session_update(ws, format={"type": "audio/pcm", "rate": 16000})
        check("the session goes on after them", u["type"] == "session.updated", u)


def limits(exe):
    s = ServerProcess(exe, TINY, "--api-key", "sekret", "--max-live-sessions", "1",
                      "--live-max-minutes", "0.05")
    try:
        try:
            connect(ws_url(s)).close()
            check("no key: 401", False, "connected")
        except InvalidStatus as e:
            check("no key: 401", e.response.status_code == 401, e.response.status_code)
        with connect(ws_url(s), subprotocols=["realtime", "openai-insecure-api-key.sekret"]) as ws:
            check("the key as a subprotocol (browsers): accepted, 'realtime' chosen",
                  ws.subprotocol == "realtime" and next_event(ws)["type"] == "session.created")
            try:
                connect(ws_url(s), additional_headers={"Authorization": "Bearer sekret"}).close()
                check("a second session over --max-live-sessions 1: 429", False, "connected")
            except InvalidStatus as e:
                check("a second session over --max-live-sessions 1: 429",
                      e.response.status_code == 429, e.response.status_code)
            # --live-max-minutes 0.05: 3 s
            out = []
            try:
                while True:
                    out.append(next_event(ws, timeout=10))
            except ConnectionClosed as closed:
                check("a session past its length: session_expired, then closed",
                      any(e["type"] == "error" and e["error"]["code"] == "session_expired"
                          for e in out) and closed.rcvd and closed.rcvd.code == 1000,
                      (out, closed.rcvd))
        check("the session's slot is free again",
              s.wait_until(lambda h: h["realtime_sessions"] == 0, 10))
    finally:
        s.stop()


def hostile(exe):
    s = ServerProcess(exe, TINY)
    try:
        # Far faster than real time, and more than the backlog holds.
        with connect(ws_url(s), max_size=None) as ws:
            next_event(ws)
            session_update(ws, format={"type": "audio/pcm", "rate": 16000}, turn_detection=None)
            second = np.random.default_rng(1).integers(-3000, 3000, 16000).astype("<i2").tobytes()
            message = json.dumps({"type": "input_audio_buffer.append",
                                  "audio": base64.b64encode(second * 2).decode()})
            code = overloaded = None
            try:
                # The server may close before the last append is sent; what
                # it sent before closing is still read below.
                try:
                    for _ in range(200):  # 400 s of audio, 17 MB
                        ws.send(message)
                except ConnectionClosed:
                    pass
                while True:
                    e = next_event(ws, timeout=60)
                    if e["type"] == "error":
                        overloaded = e["error"]["code"]
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
            check("a client far faster than real time: server_overloaded, closed 1013",
                  code == 1013 and overloaded == "server_overloaded", code)
        # A client that vanishes mid-turn.
        sock = socket.create_connection(("127.0.0.1", int(s.url.rsplit(":", 1)[1])))
        try:
            with connect(ws_url(s), sock=sock) as ws:
                next_event(ws)
                for m in appends(pcm(16000)[:16000 * 2 * 4], 16000, 100):
                    ws.send(m)
                sock.shutdown(socket.SHUT_RDWR)  # gone, without a close frame
                sock.close()
        except (ConnectionClosed, OSError):
            pass
        check("a vanished client's session ends",
              s.wait_until(lambda h: h["realtime_sessions"] == 0, 20), s.health())
        # GET without the upgrade, and the page.
        import urllib.error
        import urllib.request
        try:
            urllib.request.urlopen(s.url + "/v1/realtime")
            check("GET /v1/realtime without Upgrade: 426", False)
        except urllib.error.HTTPError as e:
            check("GET /v1/realtime without Upgrade: 426", e.code == 426, e.code)
        page = urllib.request.urlopen(s.url + "/").read().decode()
        check("/ serves the live transcription page",
              "Live transcription" in page and "/v1/realtime" in page)
        # SIGTERM mid-turn: the turn is committed, the socket closed with 1001.
        out, code = [], None
        with connect(ws_url(s)) as ws:
            next_event(ws)
            session_update(ws, format={"type": "audio/pcm", "rate": 16000}, turn_detection=None)
            for m in appends(pcm(16000)[:16000 * 2 * 5], 16000, 100):
                ws.send(m)
            time.sleep(1.0)
            s.proc.send_signal(signal.SIGTERM)
            try:
                while True:
                    out.append(next_event(ws, timeout=30))
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
        check("SIGTERM: the turn is committed and completed, then close 1001",
              any(e["type"].endswith(".completed") and "americans" in words(e["transcript"])
                  for e in out) and code == 1001, ([e["type"] for e in out], code))
        check("SIGTERM: exit 0", s.proc.wait(60) == 0)
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis
    if not os.path.isdir(TINY):
        check("tiny.en is fetched", False, TINY)
        return finish("server_realtime_test")
    # Never catching up: a fast client's events do not depend on how long
    # its messages waited.
    server = ServerProcess(exe, TINY, "--live-catch-up", "0")
    try:
        openai_client_session(server)
        plain = raw_sessions(server)
        manual_turns(server)
        bad_events(server)
        check("every session ended", server.wait_until(lambda h: h["realtime_sessions"] == 0, 20))
    finally:
        server.stop()
    longer_step(exe, plain)
    catching_up(exe, plain)
    limits(exe)
    hostile(exe)
    return finish("server_realtime_test")


if __name__ == "__main__":
    sys.exit(main())
