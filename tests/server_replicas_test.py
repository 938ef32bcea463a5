#!/usr/bin/env python3
"""deploy/nginx.conf in front of two `amanuensis serve` replicas (tiny.en),
under load from 6 clients that retry only what the balancer itself refuses
(502/503/504 from nginx, or no connection):
  * one replica killed (SIGKILL) mid-run: no request lost, every transcript
    the CLI's;
  * one replica drained (SIGTERM) mid-run: no request fails or is retried by
    a client, the drained replica exits 0;
  * /health answers through nginx."""
import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx2 as httpx  # the HTTP client the openai package brings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from server_process import MODELS, ServerProcess  # noqa: E402
from testdata import JFK  # noqa: E402
from checks import check, finish  # noqa: E402
import load_test  # noqa: E402

CONF = os.path.join(HERE, "..", "deploy", "nginx.conf")
REQUESTS = 48
CLIENTS = 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_of(server):
    return int(server.url.rsplit(":", 1)[1])


def start_nginx(prefix, listen, replicas):
    """deploy/nginx.conf with these ports; returns the process once it answers."""
    conf = open(CONF).read()
    conf = conf.replace("127.0.0.1:8080", f"127.0.0.1:{listen}")
    conf = conf.replace("127.0.0.1:8001", f"127.0.0.1:{replicas[0]}")
    conf = conf.replace("127.0.0.1:8002", f"127.0.0.1:{replicas[1]}")
    if os.geteuid() == 0:  # its workers would run as nobody, who cannot write here
        conf = "user root;\n" + conf
    path = os.path.join(prefix, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", prefix, "-c", path,
                             "-e", os.path.join(prefix, "error.log"), "-g", "daemon off;"])
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{listen}/health", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("nginx exited: " + open(os.path.join(prefix, "error.log")).read())
        time.sleep(0.1)
    raise RuntimeError("nginx does not answer")


def load(url, files, data, refs, event_at=None, event=None):
    """REQUESTS requests from CLIENTS threads; `event` runs once `event_at`
    have completed. Returns [(file, status, text)] and the clients' retries."""
    done, retries, lock = [0], [0], threading.Lock()

    def one(i):
        f = files[i % len(files)]
        for attempt in range(10):
            try:
                r = httpx.post(url + "/v1/audio/transcriptions", data={"model": "tiny.en"},
                               files={"file": (os.path.basename(f), data[f])}, timeout=120)
                status, text = r.status_code, r.text
            except httpx.HTTPError as e:
                status, text = 0, str(e)
            if status not in (0, 502, 503, 504):  # the balancer's refusals
                break
            with lock:
                retries[0] += 1
            time.sleep(0.2)
        with lock:
            done[0] += 1
            if event and done[0] == event_at:
                threading.Thread(target=event).start()
        return f, status, text

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(REQUESTS)))
    return results, retries[0]


def all_the_cli(results, refs):
    import json
    bad = []
    for f, status, text in results:
        got = json.loads(text).get("text") if status == 200 else None
        if got != refs[f]["text"].strip():
            bad.append((os.path.basename(f), status, text[:200]))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    exe = ap.parse_args().amanuensis
    model = os.path.join(MODELS, "tiny.en")
    files = [str(JFK)] + sorted(
        f for f in load_test.glob.glob(os.path.join(load_test.SPEECH, "en_*"))
        if f.endswith(load_test.AUDIO) and load_test.seconds(f) <= 6)[:5]
    refs = load_test.references(exe, model, "int8", files)
    data = {f: open(f, "rb").read() for f in files}
    flags = ["--workers", "1", "--threads-per-worker", "1", "--queue-size", "16"]
    a, b = ServerProcess(exe, model, *flags), ServerProcess(exe, model, *flags)
    servers = [a, b]
    nginx = None
    with tempfile.TemporaryDirectory() as prefix:
        try:
            listen = free_port()
            nginx = start_nginx(prefix, listen, [port_of(a), port_of(b)])
            url = f"http://127.0.0.1:{listen}"
            r = httpx.get(url + "/health", timeout=5)
            check("/health through nginx", r.status_code == 200 and r.json()["status"] == "ok",
                  r.text)

            results, retries = load(url, files, data, refs, REQUESTS // 4,
                                    lambda: b.proc.send_signal(signal.SIGKILL))
            bad = all_the_cli(results, refs)
            check(f"a replica killed mid-run: {REQUESTS} transcripts, each the CLI's "
                  f"({retries} client retries)", not bad and b.proc.wait(10) == -signal.SIGKILL,
                  bad[:5])
            log = open(os.path.join(prefix, "error.log")).read()
            check("the kill cost nginx requests it sent to the other replica",
                  re.search(r"upstream prematurely closed|Connection refused|reset by peer", log)
                  is not None, log[-500:])

            b = ServerProcess(exe, model, *flags, port=port_of(b))
            servers.append(b)
            time.sleep(2.5)  # nginx's fail_timeout: the restarted replica is tried again
            status = {}
            results, retries = load(url, files, data, refs, REQUESTS // 4,
                                    lambda: status.update(a=a.stop(timeout=60)))
            bad = all_the_cli(results, refs)
            check(f"a replica drained mid-run: {REQUESTS} transcripts, each the CLI's, "
                  f"no client retry", not bad and retries == 0, (bad[:5], retries))
            check("the drained replica exits 0", status.get("a") == 0, status)
            r = httpx.get(url + "/health", timeout=5)
            check("/health through nginx with one replica left", r.status_code == 200, r.text)
        finally:
            for s in servers:
                s.stop()
            if nginx:
                nginx.terminate()
                nginx.wait(10)
    return finish("server_replicas_test")


if __name__ == "__main__":
    sys.exit(main())
