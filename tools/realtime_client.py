#!/usr/bin/env python3
"""A live client of `serve`'s /v1/realtime (OpenAI's Realtime API in
transcription mode): plays a recording at its real pace in 100 ms messages
and times each committed word's arrival. Used by tools/eval_streaming.py
--websocket; on its own it prints the committed text as it arrives:

  python3 tools/realtime_client.py http://127.0.0.1:8000 recording.wav [--language en]
"""
import argparse
import base64
import json
import threading
import time

import numpy as np
import soundfile as sf
import soxr
from websockets.sync.client import connect

RATE = 16000
MESSAGE_S = 0.1


def stream_file(url, path, language="", on_delta=None):
    """([({"word": w}, seconds after the first sample was sent)], committed text)."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != RATE:
        audio = soxr.resample(audio, rate, RATE, "HQ")
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    step = int(RATE * MESSAGE_S)
    committed, text = [], []
    done = threading.Event()
    ws_url = url.replace("http://", "ws://").rstrip("/") + "/v1/realtime?intent=transcription"
    with connect(ws_url, max_size=None) as ws:
        json.loads(ws.recv())  # session.created
        update = {"format": {"type": "audio/pcm", "rate": RATE}}
        if language:
            update["transcription"] = {"language": language}
        ws.send(json.dumps({"type": "session.update",
                            "session": {"type": "transcription", "audio": {"input": update}}}))
        json.loads(ws.recv())  # session.updated
        start = time.monotonic()

        def read():
            while not done.is_set():
                e = json.loads(ws.recv())
                now = time.monotonic() - start
                if e["type"] == "conversation.item.input_audio_transcription.delta":
                    text.append(e["delta"])
                    committed.extend(({"word": " " + w}, now) for w in e["delta"].split())
                    if on_delta:
                        on_delta(e["delta"])
                # The no-op update sent after the audio: its answer comes after every
                # event of the audio before it (the server handles messages in order).
                if e["type"] == "session.updated" and sent_all.is_set():
                    done.set()
        sent_all = threading.Event()
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        for i in range(0, len(pcm), step):
            due = start + (i + step) / RATE  # a message leaves once its audio has been spoken
            time.sleep(max(0.0, due - time.monotonic()))
            ws.send(json.dumps({"type": "input_audio_buffer.append",
                                "audio": base64.b64encode(pcm[i:i + step].tobytes()).decode()}))
        sent_all.set()
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))  # the last turn, if open
        ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription"}}))
        done.wait(300)
    return committed, " ".join(t.strip() for t in text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("recording")
    ap.add_argument("--language", default="")
    a = ap.parse_args()
    stream_file(a.url, a.recording, a.language, on_delta=lambda d: print(d, end="", flush=True))
    print()


if __name__ == "__main__":
    main()
