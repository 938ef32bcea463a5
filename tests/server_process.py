"""`amanuensis serve` as a child process on a free loopback port, for the
server's tests and tools/load_test.py (not a test itself)."""
import json
import re
import subprocess
import threading
import time
import urllib.request
from testdata import MODELS as MODELS_PATH

MODELS = str(MODELS_PATH)


class ServerProcess:
    def __init__(self, exe, model, *flags, port=0, ready_timeout=120, cwd=None):
        self.exe, self.model = exe, model
        self.proc = subprocess.Popen([exe, "serve", "--model", model, "--port", str(port), *flags],
                                     stderr=subprocess.PIPE, text=True, cwd=cwd)
        self.log = []
        port = None
        deadline = time.time() + ready_timeout
        while port is None and time.time() < deadline:  # the first line names the port
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError("serve exited: " + "".join(self.log))
            self.log.append(line)
            m = re.search(r"on http://[^:]+:(\d+)", line)
            port = m and int(m.group(1))
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()
        self.url = f"http://127.0.0.1:{port}"
        while time.time() < deadline:
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("no /health within %d s" % ready_timeout)

    def health(self):
        with urllib.request.urlopen(self.url + "/health", timeout=10) as r:
            return json.load(r)

    def wait_until(self, predicate, timeout=60):
        """Polls /health until predicate(health) holds; returns whether it did."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self.health()):
                return True
            time.sleep(0.05)
        return False

    def peak_rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
