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


def write_wav(path, samples, rate=16000, float32=False):
    """A minimal mono RIFF WAVE of samples in [-1, 1]: int16 through the wave module
    (clipped), or IEEE float32 by hand (as given: NaN and infinities included)."""
    import struct
    import wave

    import numpy as np
    if not float32:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes((np.clip(np.asarray(samples), -1, 1) * 32767).astype("<i2").tobytes())
        return
    data = np.asarray(samples, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        f.write(b"data" + struct.pack("<I", len(data)) + data)
