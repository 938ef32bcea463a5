#!/usr/bin/env python3
"""The live transcription page that `serve` gives at /, in a real browser:
headless Chromium (Debian's package) with its fake microphone playing
jfk.wav opens the page, which captures the microphone, streams it over
/v1/realtime and shows the text. The test drives the page over the DevTools
protocol: grey partial text appears while it listens, the committed text
at the end holds jfk.wav's words, and a screenshot is written (its path is
printed: build/web_page.png beside the program)."""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
from websockets.sync.client import connect

from checks import check, finish
from server_process import MODELS, ServerProcess
from testdata import JFK

WORDS = "and so my fellow americans ask not what your country can do for you ask what you can do for your country".split()


class Page:
    """One browser tab over the DevTools protocol."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv(timeout=30))
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(m["error"])
                return m["result"]

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r["result"].get("value")

    def wait(self, expression, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        return None


def devtools_page(browser, timeout=30):
    """The page target's DevTools URL, from the port Chromium prints."""
    deadline = time.time() + timeout
    port = None
    while port is None and time.time() < deadline:
        line = browser.stderr.readline()
        if not line:
            raise RuntimeError("chromium exited")
        m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        port = m and m.group(1)
    import urllib.request
    while time.time() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.2)
    raise RuntimeError("no page target")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        check("chromium is installed (Debian package chromium; scripts/setup.sh installs it)",
              False)
        return finish("web_page_test")
    screenshot = os.path.join(os.path.dirname(os.path.abspath(exe)), "web_page.png")
    server = ServerProcess(exe, MODELS + "/tiny.en")
    tmp = tempfile.mkdtemp()
    browser = None
    try:
        # The microphone: a second of silence, jfk.wav, two seconds of silence.
        audio, rate = sf.read(str(JFK), dtype="int16")
        silence = np.zeros(rate, np.int16)
        mic = os.path.join(tmp, "mic.wav")
        sf.write(mic, np.concatenate([silence, audio, silence, silence]), rate, subtype="PCM_16")
        browser = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={mic}%noloop",
             "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0",
             f"--user-data-dir={os.path.join(tmp, 'profile')}", "--window-size=900,700",
             server.url + "/?autostart"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        with connect(devtools_page(browser), max_size=None) as ws:
            page = Page(ws)
            check("the page connects and listens",
                  page.wait("document.body.dataset.state === 'listening'", 30),
                  page.eval("document.body.dataset.state + ': ' + "
                            "document.getElementById('status').textContent"))
            # While jfk.wav plays: grey text that may still change, then committed text.
            partial = page.wait("Array.from(document.querySelectorAll('.partial'))"
                                ".map(e => e.textContent).join('').trim()", 20)
            check("partial text shows in grey while speech goes on", bool(partial), partial)
            page.wait("window.transcript().toLowerCase().includes('your country')"
                      " && window.transcript().split('country').length > 2", 30)
            page.eval("window.stopListening()")
            done = page.wait("document.body.dataset.state === 'done'", 30)
            text = page.eval("window.transcript()") or ""
            check("Stop: the page finishes", bool(done), page.eval("document.body.dataset.state"))
            found = "".join(c for c in text.lower() if c.isalnum() or c == " ").split()
            check("the committed text holds jfk.wav's words",
                  sum(w in found for w in WORDS) >= len(WORDS) - 3, text)
            check("nothing is left in grey", page.eval(
                "Array.from(document.querySelectorAll('.partial')).every(e => !e.textContent)"))
            png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
            with open(screenshot, "wb") as f:
                f.write(png)
            check(f"a screenshot: {screenshot}", png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000,
                  len(png))
    finally:
        if browser:
            browser.kill()
            browser.wait()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return finish("web_page_test")


if __name__ == "__main__":
    sys.exit(main())
