"""Shared setup of the Python package's tests (pytest, run by ctest as
`python_package`): the package under test is build/python/amanuensis (ctest
puts build/python first on PYTHONPATH), the CLI beside it is the reference for
its transcripts, and the models come from scripts/fetch_models.py's cache."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: testdata
from testdata import JFK, MODELS, REPO, SPEECH  # noqa: E402,F401

LONG = SPEECH / "long_en_ljspeech_LJ001-0001_to_0032.flac"


def cli_path() -> str:
    path = os.environ.get("AMANUENSIS_CLI", str(REPO / "build" / "amanuensis"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"the amanuensis program is not at {path} (set AMANUENSIS_CLI)")
    return path


def cli_json(audio, *args, model="base"):
    """The CLI's JSON for audio, without its wall time."""
    r = subprocess.run([cli_path(), "transcribe", str(audio), "--model", str(MODELS / model),
                        "--output-format", "json", "--quiet", *args],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    out.pop("timing", None)
    return out


def dev_clips():
    """The development set's short clips (the long one is its own case)."""
    return sorted(p for p in SPEECH.iterdir()
                  if p.suffix in (".wav", ".flac", ".mp3") and not p.name.startswith("long"))


@pytest.fixture(scope="session")
def base_int8():
    import amanuensis
    return amanuensis.WhisperModel("base", compute_type="int8", cpu_threads=2)


@pytest.fixture(scope="session")
def tiny():
    import amanuensis
    return amanuensis.WhisperModel("tiny.en", compute_type="int8", cpu_threads=1)
