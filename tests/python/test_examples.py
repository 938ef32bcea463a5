"""faster-whisper's documented usage (tests/python/examples/, its README's
examples as programs) runs with the import line swapped to amanuensis and
nothing else changed."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import JFK

EXAMPLES = Path(__file__).resolve().parent / "examples"
FRAGMENTS = ["ask not what your country can do for you", "what you can do for your country"]


def swapped(program: Path, tmp_path: Path) -> Path:
    source = program.read_text()
    out = re.sub(r"^from faster_whisper import", "from amanuensis import", source, flags=re.M)
    assert out != source, "no import to swap"
    path = tmp_path / program.name
    path.write_text(out)
    return path


@pytest.mark.parametrize("program", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_example_runs_after_the_import_swap(program, tmp_path):
    r = subprocess.run([sys.executable, str(swapped(program, tmp_path)), str(JFK), "base"],
                       capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    text = re.sub(r"\[[0-9.]+s -> [0-9.]+s\] ", "", r.stdout).replace("\n", " ")
    text = re.sub(r"[^a-z ]", "", text.lower())
    text = re.sub(r" +", " ", text)
    for fragment in FRAGMENTS:
        assert fragment in text, r.stdout
    if program.stem == "basic":
        assert "Detected language 'en' with probability 0.9" in r.stdout
