"""Where the tests' data lives: inside the repository, so that a fresh clone with
nothing beside it runs the whole suite. samples/jfk.wav is the shipped sample;
tests/data/speech/ is the development set of real recordings (its README.md and
manifest.tsv give each clip's source and licence)."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JFK = REPO / "samples" / "jfk.wav"
SPEECH = REPO / "tests" / "data" / "speech"
