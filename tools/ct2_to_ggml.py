#!/usr/bin/env python3
"""Convert a CTranslate2 (faster-whisper) Whisper model folder to whisper.cpp's ggml .bin.

Lets whisper.cpp run on exactly the weights amanuensis and CTranslate2 use, so the three
engines can be benchmarked side by side (tools/bench_encoder_peers.py). Needs numpy only.

  python3 tools/ct2_to_ggml.py ~/.cache/amanuensis/models/base
      -> ~/.cache/amanuensis/ggml/ggml-base.bin (printed on stdout)
  python3 tools/ct2_to_ggml.py MODEL_DIR -o out.bin [--f32] [--force]

Idempotent: the output is written to a temporary file and renamed into place, and an
existing output newer than MODEL_DIR/model.bin with the requested ftype is kept unless
--force is given. The
conversion is deterministic (same input, same bytes).

Input (MODEL_DIR): model.bin + vocabulary.txt (or vocabulary.json), as published in
Systran/faster-whisper-* or fetched by scripts/fetch_models.py. Weights may be float16 or
float32; int8-quantized CTranslate2 models are rejected. CTranslate2 model.bin layout
(little endian; str = u16 length including a trailing NUL, then bytes):
  u32 binary_version (>= 4), str spec_name, u32 spec_revision, u32 num_variables,
  per variable: str name, u8 rank, u32 dims[rank], u8 dtype, u32 num_bytes, data;
  u32 num_aliases, per alias: str alias, str target.
  dtype: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.

Output: whisper.cpp's legacy ggml file (the format of the published ggml-*.bin files and of
whisper.cpp's models/convert-pt-to-ggml.py; little endian int32 unless stated):
  magic 0x67676d6c
  hparams: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
           n_text_state, n_text_head, n_text_layer, n_mels, ftype (1: f16 weights, 0: f32)
  mel filters: n_mels, n_fft (201), then n_mels * 201 float32
  vocabulary: count (50257 = the GPT-2 byte-level BPE ids 0..50256; whisper.cpp derives the
              special tokens itself; n_vocab if smaller), then per token: length, raw bytes
  tensors until EOF: n_dims, name_len, ttype (0 f32, 1 f16), dims innermost first, name, data
Tensor names are openai-whisper's state_dict names (encoder.blocks.N.attn.query.weight, ...)
in that state_dict's order. CTranslate2's fused Q;K;V (and cross-attention K;V) projections
are split by rows; the key projections have no bias in Whisper (CTranslate2 stores zeros,
which is checked). Conv biases are stored as [n, 1]. With ftype 1, matrices are f16 and
1-D tensors, conv biases and positional embeddings f32, as upstream does. For the published
Systran base and tiny.en folders the output has exactly the size of upstream's ggml-base.bin
and ggml-tiny.en.bin (147,951,465 and 77,704,715 bytes); the bytes differ (tensor order).

Mel filters: whisper.cpp reads the mel filterbank from the model file. It is computed here
with numpy (librosa.filters.mel(sr=16000, n_fft=400, n_mels=80 or 128), i.e. Slaney mel
scale with Slaney area normalisation), which is how openai-whisper generated its
assets/mel_filters.npz; the result matches that file to within 4e-9 (float32 rounding).
"""
import argparse
import json
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np

GGML_MAGIC = 0x67676D6C
N_FFT = 400
SAMPLE_RATE = 16000
N_TEXT_TOKENS = 50257  # ids 0..50256 are written; the rest are specials whisper.cpp derives
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class ConversionError(Exception):
    pass


# ----------------------------------------------------------------------------- reading


def read_ct2(path):
    """Returns {name: numpy array} for every variable of a CTranslate2 model.bin."""
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return vals

    def string():
        nonlocal pos
        (n,) = take("<H")
        s = buf[pos:pos + n].rstrip(b"\0").decode("utf-8")
        pos += n
        return s

    try:
        (version,) = take("<I")
        if version < 4:
            raise ConversionError(f"{path}: CTranslate2 binary version {version} < 4 is not supported")
        spec = string()
        if spec != "WhisperSpec":
            raise ConversionError(f"{path}: model spec is {spec!r}, expected 'WhisperSpec'")
        take("<I")  # spec revision
        (count,) = take("<I")
        out = {}
        for _ in range(count):
            name = string()
            (rank,) = take("<B")
            dims = take(f"<{rank}I")
            dtype_id, nbytes = take("<BI")
            if dtype_id not in CT2_DTYPES:
                raise ConversionError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
            arr = np.frombuffer(buf, CT2_DTYPES[dtype_id], nbytes // np.dtype(CT2_DTYPES[dtype_id]).itemsize, pos)
            pos += nbytes
            out[name] = arr.reshape(dims)
    except struct.error as e:
        raise ConversionError(f"{path}: truncated or not a CTranslate2 model.bin ({e})") from None
    return out


def read_vocabulary(model_dir):
    """The id -> token list (GPT-2 byte-level BPE strings) of a faster-whisper model folder."""
    p = model_dir / "vocabulary.json"
    if p.exists():
        return json.loads(p.read_text(encoding="utf-8"))
    p = model_dir / "vocabulary.txt"
    if p.exists():
        return p.read_text(encoding="utf-8").split("\n")
    raise ConversionError(f"{model_dir}: neither vocabulary.json nor vocabulary.txt found")


def byte_decoder():
    """Inverse of GPT-2's bytes_to_unicode(): printable stand-in character -> byte value."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


# ----------------------------------------------------------------------------- mel filters


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
                    f / f_sp)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(n_mels):
    """[n_mels, 201] float32: librosa.filters.mel(sr=16000, n_fft=400, n_mels) (Slaney)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


# ----------------------------------------------------------------------------- mapping


def to_openai_names(ct):
    """CTranslate2 variables -> (hparams dict, {openai-whisper name: float32 array})."""
    for name, a in ct.items():
        if name.endswith("/weight") and a.dtype == np.int8:
            raise ConversionError(f"int8-quantized CTranslate2 model ({name}); convert a float16/float32 one")
    w = {k: v.astype(np.float32) for k, v in ct.items() if v.dtype in (np.float16, np.float32)}
    for required in ("encoder/conv1/weight", "decoder/embeddings/weight", "encoder/num_heads"):
        if required not in ct:
            raise ConversionError(f"model.bin has no variable {required}: not a Whisper model?")
    d = w["encoder/conv1/weight"].shape[0]

    def n_layers(side):
        ids = [int(m.group(1)) for k in w for m in [re.match(side + r"/layer_(\d+)/", k)] if m]
        return 1 + max(ids)

    hp = {
        "n_vocab": w["decoder/embeddings/weight"].shape[0],
        "n_audio_ctx": w["encoder/position_encodings/encodings"].shape[0],
        "n_audio_state": d,
        "n_audio_head": int(ct["encoder/num_heads"]),
        "n_audio_layer": n_layers("encoder"),
        "n_text_ctx": w["decoder/position_encodings/encodings"].shape[0],
        "n_text_state": d,
        "n_text_head": int(ct["decoder/num_heads"]),
        "n_text_layer": n_layers("decoder"),
        "n_mels": w["encoder/conv1/weight"].shape[1],
    }
    T = {}

    def linear(src, dst):
        T[dst + ".weight"] = w[src + "/weight"]
        T[dst + ".bias"] = w[src + "/bias"]

    def layer_norm(src, dst):
        T[dst + ".weight"] = w[src + "/gamma"]
        T[dst + ".bias"] = w[src + "/beta"]

    def split_rows(src, parts, dst):
        W, B = w[src + "/weight"], w[src + "/bias"]
        for i, p in enumerate(parts):
            T[f"{dst}.{p}.weight"] = W[i * d:(i + 1) * d]
            if p == "key":
                if np.any(B[i * d:(i + 1) * d]):
                    raise ConversionError(f"{src}: key bias is not zero; Whisper's key projection has no bias")
            else:
                T[f"{dst}.{p}.bias"] = B[i * d:(i + 1) * d]

    for c in ("conv1", "conv2"):
        T[f"encoder.{c}.weight"] = w[f"encoder/{c}/weight"]
        T[f"encoder.{c}.bias"] = w[f"encoder/{c}/bias"].reshape(-1, 1)
    T["encoder.positional_embedding"] = w["encoder/position_encodings/encodings"]
    for side in ("encoder", "decoder"):
        for i in range(hp["n_audio_layer" if side == "encoder" else "n_text_layer"]):
            c, b = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            split_rows(c + "/self_attention/linear_0", ("query", "key", "value"), b + ".attn")
            linear(c + "/self_attention/linear_1", b + ".attn.out")
            layer_norm(c + "/self_attention/layer_norm", b + ".attn_ln")
            if side == "decoder":
                linear(c + "/attention/linear_0", b + ".cross_attn.query")
                split_rows(c + "/attention/linear_1", ("key", "value"), b + ".cross_attn")
                linear(c + "/attention/linear_2", b + ".cross_attn.out")
                layer_norm(c + "/attention/layer_norm", b + ".cross_attn_ln")
            linear(c + "/ffn/linear_0", b + ".mlp.0")
            linear(c + "/ffn/linear_1", b + ".mlp.2")
            layer_norm(c + "/ffn/layer_norm", b + ".mlp_ln")
    layer_norm("encoder/layer_norm", "encoder.ln_post")
    T["decoder.token_embedding.weight"] = w["decoder/embeddings/weight"]
    T["decoder.positional_embedding"] = w["decoder/position_encodings/encodings"]
    layer_norm("decoder/layer_norm", "decoder.ln")
    return hp, T


def state_dict_order(names):
    """openai-whisper's state_dict order (a module's own tensors, then its children in
    definition order), which is the order whisper.cpp's convert-pt-to-ggml.py writes."""
    block_part = {"attn": 0, "attn_ln": 1, "cross_attn": 2, "cross_attn_ln": 3, "mlp": 4, "mlp_ln": 5}
    proj = {"query": 0, "key": 1, "value": 2, "out": 3, "0": 0, "2": 1}

    def key(name):
        p = name.split(".")
        side = 0 if p[0] == "encoder" else 1
        bias = 0 if p[-1] == "weight" else 1
        if p[1] == "positional_embedding":
            return (side, 0)
        if p[1] in ("conv1", "conv2", "token_embedding"):
            return (side, 1, p[1], bias)
        if p[1] == "blocks":
            return (side, 2, int(p[2]), block_part[p[3]], proj.get(p[4], 0) if len(p) > 5 else 0, bias)
        return (side, 3, bias)  # ln_post / ln
    return sorted(names, key=key)


# ----------------------------------------------------------------------------- writing


def write_ggml(out, hp, tensors, vocab, f16=True):
    decoder = byte_decoder()
    # Real models (n_vocab >= 51864) write 50257; smaller, synthetic ones
    # (tests/model_sizes_test.py) write their whole vocabulary.
    n_text = min(N_TEXT_TOKENS, hp["n_vocab"])
    if len(vocab) < n_text:
        raise ConversionError(f"vocabulary has {len(vocab)} tokens, expected at least {n_text}")
    filters = mel_filters(hp["n_mels"])
    with open(out, "wb") as f:
        f.write(struct.pack("<i", GGML_MAGIC))
        f.write(struct.pack("<11i", hp["n_vocab"], hp["n_audio_ctx"], hp["n_audio_state"], hp["n_audio_head"],
                            hp["n_audio_layer"], hp["n_text_ctx"], hp["n_text_state"], hp["n_text_head"],
                            hp["n_text_layer"], hp["n_mels"], 1 if f16 else 0))
        f.write(struct.pack("<2i", *filters.shape))
        f.write(filters.tobytes())
        f.write(struct.pack("<i", n_text))
        for i, tok in enumerate(vocab[:n_text]):
            try:
                raw = bytes(decoder[ch] for ch in tok)
            except KeyError:
                raise ConversionError(f"token {i} {tok!r} is not a byte-level BPE string") from None
            f.write(struct.pack("<i", len(raw)))
            f.write(raw)
        for name in state_dict_order(tensors):
            a = tensors[name]
            keep_f32 = (not f16 or a.ndim < 2 or name.endswith((".conv1.bias", ".conv2.bias"))
                        or name.endswith("positional_embedding"))
            data = np.ascontiguousarray(a, np.float32 if keep_f32 else np.float16)
            encoded = name.encode()
            f.write(struct.pack("<3i", data.ndim, len(encoded), 0 if keep_f32 else 1))
            f.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
            f.write(encoded)
            f.write(data.tobytes())


def default_output(model_dir, f16=True):
    name = Path(model_dir).expanduser().resolve().name + ("" if f16 else "-f32")
    return Path.home() / ".cache" / "amanuensis" / "ggml" / f"ggml-{name}.bin"


def is_up_to_date(out, model_bin, f16):
    """out exists, is newer than model_bin and is a ggml file with the requested ftype."""
    if not out.is_file() or out.stat().st_mtime < model_bin.stat().st_mtime:
        return False
    with open(out, "rb") as f:
        header = f.read(48)
    return len(header) == 48 and struct.unpack("<12i", header)[0] == GGML_MAGIC and \
        struct.unpack("<12i", header)[11] == (1 if f16 else 0)


def convert(model_dir, out=None, f16=True, force=False, log=sys.stderr):
    """Converts if needed; returns the output path."""
    model_dir = Path(model_dir).expanduser()
    model_bin = model_dir / "model.bin"
    if not model_bin.is_file():
        raise ConversionError(f"{model_bin} not found (expected a CTranslate2 Whisper model folder)")
    out = Path(out).expanduser() if out else default_output(model_dir, f16)
    if not force and is_up_to_date(out, model_bin, f16):
        print(f"{out} is up to date (use --force to rewrite)", file=log)
        return out
    hp, tensors = to_openai_names(read_ct2(model_bin))
    vocab = read_vocabulary(model_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    try:
        write_ggml(tmp, hp, tensors, vocab, f16)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"wrote {out}: {len(tensors)} tensors, {'f16' if f16 else 'f32'}, " +
          ", ".join(f"{k}={v}" for k, v in hp.items()), file=log)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", help="CTranslate2 Whisper model folder (model.bin, vocabulary.txt)")
    ap.add_argument("-o", "--output", help="output .bin (default: ~/.cache/amanuensis/ggml/ggml-<folder name>[-f32].bin)")
    ap.add_argument("--f32", action="store_true", help="store matrices as float32 instead of float16")
    ap.add_argument("--force", action="store_true", help="rewrite the output even if it is up to date")
    args = ap.parse_args()
    try:
        print(convert(args.model_dir, args.output, f16=not args.f32, force=args.force))
    except ConversionError as e:
        sys.exit(f"ct2_to_ggml: error: {e}")


if __name__ == "__main__":
    main()
