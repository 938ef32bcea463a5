"""Where the tests' data lives: inside the repository, so that a fresh clone with
nothing beside it runs the whole suite. samples/jfk.wav is the shipped sample;
tests/data/speech/ is the development set of real recordings (its README.md and
manifest.tsv give each clip's source and licence)."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JFK = REPO / "samples" / "jfk.wav"
SPEECH = REPO / "tests" / "data" / "speech"

sys.path.insert(0, str(REPO / "scripts"))
from model_cache import model_cache  # noqa: E402

MODELS = model_cache()  # the downloaded models (scripts/fetch_models.py)


def dev_tool(amanuensis) -> str:
    """The developer's tool (amanuensis-dev: encode, mel, attention, tokenize, vad,
    bench) built beside the `amanuensis` program whose path the tests are given."""
    return str(Path(amanuensis).resolve().with_name("amanuensis-dev"))
