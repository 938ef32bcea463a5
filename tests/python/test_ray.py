"""amanuensis.ray on a two-node Ray cluster on loopback (`ray start --head` and
a second `ray start --address`, one CPU each): part of the development set
(every third short clip, four languages, and the long file, which is still in
flight when workers die) is transcribed with every file's JSON equal to the
CLI's transcript; a run whose second node loses its worker processes partway
still ends with every file written once and the same bytes; a rerun skips
what is done."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import LONG, cli_json, dev_clips

FILES = dev_clips()[::3] + [LONG]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli(*args):
    r = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"ray {' '.join(args)}: {r.stdout[-2000:]}{r.stderr[-2000:]}"


@pytest.fixture(scope="module")
def cluster():
    """(address, the second node's node-manager port)."""
    head, second = free_port(), free_port()
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--object-store-memory=100000000",
              "--disable-usage-stats"]
    ray_cli("start", "--head", f"--port={head}", "--include-dashboard=false", *common)
    try:
        ray_cli("start", f"--address=127.0.0.1:{head}", f"--node-manager-port={second}", *common)
        yield f"127.0.0.1:{head}", second
    finally:
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"],
                       capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def cli_transcripts():
    return {str(f): cli_json(f, "--threads", "2") for f in FILES}


def run_job(address, output, manifest, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "amanuensis.ray", str(manifest), str(output),
                             "--model", "base", "--cpu-threads", "1"],
                            env=dict(os.environ, RAY_ADDRESS=address), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def transcripts(output):
    out = {}
    for name in os.listdir(output):
        if name.endswith(".json"):
            with open(os.path.join(output, name)) as f:
                t = json.load(f)
            assert t["file"] not in out, f"{t['file']} written twice"
            out[t["file"]] = t
    return out


def summary(output):
    with open(os.path.join(output, "summary.tsv")) as f:
        header, *lines = f.read().splitlines()
    rows = [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]
    return rows


def children(pid):
    """The processes whose parent is pid, with their command lines."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append((int(entry), cmdline))
    return out


def raylet_of(node_manager_port):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "raylet" in cmdline and f"--node_manager_port={node_manager_port}" in cmdline:
                return int(entry)
    raise AssertionError(f"no raylet with node manager port {node_manager_port}")


def test_archive_on_two_nodes(cluster, cli_transcripts, tmp_path):
    address, second_node = cluster
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join(f"{f}\n" for f in FILES))

    # 1. The whole set: one JSON per file, the CLI's transcript.
    first = tmp_path / "first"
    job = run_job(address, first, manifest)
    log = job.communicate(timeout=900)[0]
    assert job.returncode == 0, log[-4000:]
    got = transcripts(first)
    assert sorted(got) == sorted(cli_transcripts)
    for f, cli in cli_transcripts.items():
        assert got[f]["text"] == cli["text"], f
        assert [s["tokens"] for s in got[f]["segments"]] == \
               [s["tokens"] for s in cli["segments"]], f
        # The CLI's JSON prints times rounded to the millisecond.
        times = [t for s in got[f]["segments"] for t in (s["start"], s["end"])]
        assert times == pytest.approx(
            [t for s in cli["segments"] for t in (s["start"], s["end"])], abs=5e-4), f
    rows = summary(first)
    assert sorted(r["file"] for r in rows) == sorted(cli_transcripts)
    assert all(r["status"] == "done" for r in rows)

    # 2. The second node's workers killed partway: nothing lost, nothing twice.
    second = tmp_path / "second"
    job = run_job(address, second, manifest)
    deadline = time.monotonic() + 600
    while len([n for n in os.listdir(second)] if second.exists() else []) < 5:
        assert time.monotonic() < deadline and job.poll() is None, "the job ended too soon"
        time.sleep(0.2)
    # Its worker processes (ray::MapWorker..., ray::IDLE), not its agents.
    killed = [pid for pid, cmd in children(raylet_of(second_node))
              if cmd.startswith("ray::") and not cmd.split()[0].endswith("Agent")]
    assert killed, "no worker processes on the second node"
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    log = job.communicate(timeout=900)[0]
    assert job.returncode == 0, log[-4000:]
    again = transcripts(second)
    assert again == got  # the same bytes, every file once
    assert not [n for n in os.listdir(second) if n.endswith(".partial")]
    rows = summary(second)
    assert sorted(r["file"] for r in rows) == sorted(cli_transcripts)
    assert all(r["status"] == "done" for r in rows), rows

    # 3. A rerun skips everything done.
    job = run_job(address, second, manifest)
    log = job.communicate(timeout=600)[0]
    assert job.returncode == 0, log[-4000:]
    assert all(r["status"] == "skipped" for r in summary(second))
    assert transcripts(second) == got


def test_a_bad_file_is_reported_not_fatal(cluster, tmp_path):
    address, _ = cluster
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    (tmp_path / "relative.flac").write_bytes(FILES[0].read_bytes())
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"{junk}\n{FILES[0]}\n{tmp_path / 'missing.flac'}\nrelative.flac\n")
    job = run_job(address, "out", manifest, cwd=tmp_path)  # relative: the caller's folder
    log = job.communicate(timeout=600)[0]
    assert job.returncode == 1, log[-4000:]  # some failed
    out = tmp_path / "out"
    rows = {r["file"]: r for r in summary(out)}
    assert rows[str(FILES[0])]["status"] == "done"
    assert rows[str(tmp_path / "relative.flac")]["status"] == "done"
    assert rows[str(junk)]["status"] == "failed" and "junk.wav" in rows[str(junk)]["error"]
    assert rows[str(tmp_path / "missing.flac")]["status"] == "failed"
    done = transcripts(out)
    assert sorted(done) == sorted([str(FILES[0]), str(tmp_path / "relative.flac")])
    assert done[str(FILES[0])]["segments"] == done[str(tmp_path / "relative.flac")]["segments"]
