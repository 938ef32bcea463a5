#!/usr/bin/env python3
"""Every Whisper size loads and encodes correctly, tiny to large-v3 (issue 3).

Real weights exist here only for tiny.en and base, so each size is built from
seeded random weights at its real dimensions (mel bins, width, heads) and
written by CTranslate2's own writer: a ctranslate2.specs.WhisperSpec filled as
ctranslate2/converters/transformers.py's WhisperLoader fills it from a
transformers Whisper, then validate / optimize / save as its Converter does.
Each model has 2 encoder layers: the real 4/6/12/24/32/32 only repeat the same
layer, and a second one already checks that a layer's output feeds the next.
The decoder, which the encoder does not use, is a minimal one that CTranslate2
saves and loads (1 layer, 64 tokens). Weights are saved in float32 or, as the
published faster-whisper folders are, float16, alternating by size.

Per size:
1. CTranslate2 float32 encodes the log-mel of jfk.wav (faster-whisper's
   feature extractor with the size's mel bins): the reference. Our
   --precision fp32 must match it (mean frame cosine >= 0.99999, relative L2
   <= 1e-4), our int8 closely (mean frame cosine >= 0.99).
2. The same weights converted to Hugging Face safetensors (tools/ct2_to_hf.py)
   and to whisper.cpp ggml (tools/ct2_to_ggml.py), in the saved dtype, must
   give int8 and fp32 output byte-identical to the CTranslate2 folder's.
3. The reference's output on jfk.wav and on silence must differ (mean frame
   cosine < 0.9): otherwise the weights would drown the input and the cosine
   targets above would prove little (see the gains below).
"""
import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from testdata import JFK, dev_tool

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
TOOLS = os.path.join(ROOT, "tools")

# name, mel bins, width, heads, dtype saved, the real model's encoder layers
SIZES = [
    ("tiny", 80, 384, 6, "float32", 4),
    ("base", 80, 512, 8, "float16", 6),
    ("small", 80, 768, 12, "float32", 12),
    ("medium", 80, 1024, 16, "float16", 24),
    ("large-v2", 80, 1280, 20, "float32", 32),
    ("large-v3", 128, 1280, 20, "float16", 32),
]
ENCODER_LAYERS = 2
DECODER_LAYERS = 1
VOCAB_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>",
                  "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                  "<|notimestamps|>"]
VOCAB_SIZE = 64
DECODER_POSITIONS = 448
# Weights are N(0, gain / sqrt(fan in)), which keeps activations at a trained
# model's size at every width: 0.02 to 0.05 for large's matrices, as in the
# real checkpoints (conv1 gets ~0.2: real filters are smooth across mel bins,
# random ones must be larger to pass the same signal). The log-mel (std 0.4)
# reaches the residual stream at std ~1.5, above the position encodings (0.7),
# and Q and K give softmax logits of std ~2.7, so attention is peaked as in a
# trained model. With plain N(0, 0.02..0.05) weights the conv output was a
# tenth of the position encodings and attention near uniform: the output on
# jfk.wav and on silence had mean frame cosine 0.99, and any int8 target
# below that proved nothing.
MEL_GAIN, CONV2_GAIN, QK_GAIN, GELU_GAIN = 3.0, 2.5, 1.7, 1.5
TARGET = {"fp32 cosine": 0.99999, "fp32 rel L2": 1e-4, "int8 cosine": 0.999}


def sinusoids(length, channels, max_timescale=10000):
    """Whisper's encoder position encodings (openai-whisper's model.sinusoids)."""
    increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = np.exp(-increment * np.arange(channels // 2))
    scaled_time = np.arange(length)[:, None] * inv_timescales[None, :]
    return np.concatenate([np.sin(scaled_time), np.cos(scaled_time)], axis=1).astype(np.float32)


def write_ct2_model(out_dir, n_mels, d, heads, dtype, seed, tokens=None,
                    decoder_layers=DECODER_LAYERS):
    """A random Whisper written by CTranslate2's own spec writer; `tokens`: a
    real vocabulary (default: a minimal one of VOCAB_SIZE)."""
    from ctranslate2.specs import whisper_spec

    rng = np.random.default_rng(seed)

    def normal(std, *shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def weight(gain, n_out, *fan_in):  # gain / sqrt(fan in): activations of a trained size
        return normal(gain / np.sqrt(np.prod(fan_in)), n_out, *fan_in)

    # The tensors of a transformers Whisper module, as the loader reads them.
    def linear(spec, n_out, n_in, gain):  # ModelLoader.set_linear
        spec.weight, spec.bias = weight(gain, n_out, n_in), normal(0.1, n_out)

    def layer_norm(spec):  # ModelLoader.set_layer_norm
        spec.gamma = 1 + normal(0.05, d)
        spec.beta = normal(0.02, d)

    def fused(spec, parts):  # BartLoader.set_attention: utils.fuse_linear of q, k, v
        # q_proj, k_proj (bias=False in Whisper: fuse_linear puts zeros there), v_proj
        spec.weight = np.concatenate([weight(QK_GAIN if p in "qk" else 1, d, d) for p in parts])
        spec.bias = np.concatenate([np.zeros(d, np.float32) if p == "k" else normal(0.1, d)
                                    for p in parts])

    def attention_layer(spec, cross):  # BartLoader.set_encoder / set_decoder, per layer
        fused(spec.self_attention.linear[0], "qkv")
        linear(spec.self_attention.linear[1], d, d, 1)  # out_proj
        layer_norm(spec.self_attention.layer_norm)  # self_attn_layer_norm
        if cross:
            fused(spec.attention.linear[0], "q")  # encoder_attn
            fused(spec.attention.linear[1], "kv")
            linear(spec.attention.linear[2], d, d, 1)
            layer_norm(spec.attention.layer_norm)  # encoder_attn_layer_norm
        linear(spec.ffn.linear_0, 4 * d, d, 1)  # fc1
        linear(spec.ffn.linear_1, d, 4 * d, GELU_GAIN)  # fc2
        layer_norm(spec.ffn.layer_norm)  # final_layer_norm

    spec = whisper_spec.WhisperSpec(ENCODER_LAYERS, heads, decoder_layers, heads)
    # WhisperLoader.set_encoder: set_conv1d twice, then BartLoader.set_encoder,
    # whose set_common_layers is WhisperLoader's (embed_positions, layer_norm).
    enc = spec.encoder
    enc.conv1.weight, enc.conv1.bias = weight(MEL_GAIN, d, n_mels, 3), normal(0.1, d)
    enc.conv2.weight, enc.conv2.bias = weight(CONV2_GAIN, d, d, 3), normal(0.1, d)
    enc.position_encodings.encodings = sinusoids(1500, d)
    layer_norm(enc.layer_norm)
    for layer in enc.layer:
        attention_layer(layer, cross=False)
    # WhisperLoader.set_decoder: embed_tokens, then the same for the decoder
    # (learned embed_positions); get_model_spec: projection = proj_out, which
    # transformers ties to embed_tokens (optimize() then stores an alias).
    dec = spec.decoder
    if tokens is None:
        tokens = [chr(c) for c in range(ord("!"), ord("!") + 32)] + VOCAB_SPECIALS
        tokens += ["<|%.2f|>" % (i * 0.02) for i in range(VOCAB_SIZE - len(tokens))]
    dec.embeddings.weight = normal(0.02, len(tokens), d)
    dec.position_encodings.encodings = normal(0.01, DECODER_POSITIONS, d)
    layer_norm(dec.layer_norm)
    for layer in dec.layer:
        attention_layer(layer, cross=True)
    dec.projection.weight = dec.embeddings.weight

    # WhisperLoader.set_config without a generation config, and get_vocabulary
    # (tokens, then timestamps up to the vocabulary size).
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [tokens.index("<|endoftext|>")]
    spec.config.lang_ids = [tokens.index("<|en|>")]
    spec.config.alignment_heads = [(layer, head) for layer in range(decoder_layers // 2, decoder_layers)
                                   for head in range(heads)]
    spec.register_vocabulary(tokens)

    # Converter.convert
    spec.validate()
    spec.optimize(quantization=dtype)
    os.makedirs(out_dir)
    spec.save(out_dir)


def log_mel(audio, n_mels):
    """What encoder_accuracy.py feeds both encoders: faster-whisper's features."""
    from faster_whisper.feature_extractor import FeatureExtractor
    return FeatureExtractor(feature_size=n_mels)(audio, padding=480000)[:, :3000].astype(np.float32)


def frame_cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--amanuensis", required=True)
    ap.add_argument("--jfk", default=str(JFK))
    ap.add_argument("--threads", default="2")
    ap.add_argument("--sizes", nargs="+", default=[s[0] for s in SIZES], help="a subset, by name")
    args = ap.parse_args()
    unknown = set(args.sizes) - {s[0] for s in SIZES}
    if unknown:
        ap.error(f"unknown sizes: {' '.join(sorted(unknown))}")

    import ctranslate2
    from faster_whisper.audio import decode_audio
    sys.path.insert(0, TOOLS)
    from ct2_to_ggml import read_ct2

    audio = {"jfk": decode_audio(args.jfk, sampling_rate=16000),
             "silence": np.zeros(16000, np.float32)}
    mels, rows, failures = {}, [], []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (name, n_mels, d, heads, dtype, real_layers) in enumerate(SIZES):
            if name not in args.sizes:
                continue
            work = os.path.join(tmp, name)
            ct2_dir = os.path.join(work, "ct2")
            write_ct2_model(ct2_dir, n_mels, d, heads, dtype, seed)
            saved = read_ct2(os.path.join(ct2_dir, "model.bin"))["encoder/conv1/weight"].dtype.name
            if n_mels not in mels:
                mels[n_mels] = {clip: log_mel(samples, n_mels) for clip, samples in audio.items()}
            mel = mels[n_mels]
            mel_path = os.path.join(work, "mel.npy")
            np.save(mel_path, mel["jfk"])

            model = ctranslate2.models.Whisper(ct2_dir, device="cpu", compute_type="float32",
                                               intra_threads=int(args.threads))
            ref, silence = (np.array(model.encode(ctranslate2.StorageView.from_array(mel[clip][None]),
                                                  to_cpu=True))[0].astype(np.float64)
                            for clip in ("jfk", "silence"))
            del model

            def encode(model_path, precision):
                """Our encoder's output file, or None (and a failure) if it fails."""
                out = os.path.join(work, f"{os.path.basename(model_path)}-{precision}.npy")
                cmd = [dev_tool(args.amanuensis), "encode", "--model", model_path, "--mel", mel_path, "--out",
                       out, "--precision", precision, "--threads", args.threads]
                run = subprocess.run(cmd, capture_output=True, text=True)
                if run.returncode != 0:
                    failures.append(f"{name}: {' '.join(cmd)} exited {run.returncode}: "
                                    f"{run.stderr.strip()}")
                    return None
                return out

            ours = {p: encode(ct2_dir, p) for p in ("fp32", "int8")}
            checks, cells = {}, []
            # Does the output depend on the audio at all? If it did not, any
            # cosine target below would prove nothing.
            sensitivity = frame_cosines(ref, silence).mean()
            checks["output depends on the input"] = sensitivity < 0.9
            for precision, path in ours.items():
                out = np.load(path).astype(np.float64) if path else np.full_like(ref, np.nan)
                if out.shape != ref.shape:
                    failures.append(f"{name}: {precision} output {out.shape}, CTranslate2 {ref.shape}")
                    out = np.full_like(ref, np.nan)
                cos = frame_cosines(out, ref).mean()
                if precision == "fp32":
                    rel = np.linalg.norm(out - ref) / np.linalg.norm(ref)
                    checks["fp32 cosine"] = cos >= TARGET["fp32 cosine"]
                    checks["fp32 rel L2"] = rel <= TARGET["fp32 rel L2"]
                    cells += [f"{cos:.7f}", f"{rel:.2e}", f"{np.abs(out - ref).max():.2e}"]
                else:
                    checks["int8 cosine"] = cos >= TARGET["int8 cosine"]
                    cells.append(f"{cos:.5f}")

            hf_dir, ggml = os.path.join(work, "hf"), os.path.join(work, "ggml.bin")
            subprocess.run([sys.executable, os.path.join(TOOLS, "ct2_to_hf.py"), ct2_dir, hf_dir,
                            "--dtype", dtype], check=True)
            subprocess.run([sys.executable, os.path.join(TOOLS, "ct2_to_ggml.py"), ct2_dir, "-o",
                            ggml] + (["--f32"] if dtype == "float32" else []),
                           check=True, capture_output=True)
            same = []
            for fmt, path in (("safetensors", hf_dir), ("ggml", ggml)):
                for precision in ("int8", "fp32"):
                    other = encode(path, precision)
                    ok = bool(other and ours[precision]) and filecmp.cmp(other, ours[precision],
                                                                         shallow=False)
                    checks[f"{fmt} {precision} vs CTranslate2 files"] = ok
                    same.append(ok)
            shutil.rmtree(work)

            failures += [f"{name}: {check}" for check, ok in checks.items() if not ok]
            rows.append(f"| {name} | {n_mels} | {d} | {heads} | {ENCODER_LAYERS} of {real_layers} | "
                        f"{saved} | {sensitivity:.3f} | {' | '.join(cells)} | "
                        f"{'yes' if all(same) else '**no**'} | "
                        f"{'ok' if all(checks.values()) else '**FAIL**'} |")
            print(rows[-1], flush=True)

    print(f"\n{time.time() - start:.0f} s. Targets, against CTranslate2 float32 on jfk.wav: fp32 "
          f"mean frame cosine >= {TARGET['fp32 cosine']} and relative L2 <= "
          f"{TARGET['fp32 rel L2']:.0e}, int8 mean frame cosine >= {TARGET['int8 cosine']}; "
          "int8 and fp32 output from safetensors and ggml byte-identical to the CTranslate2 "
          "folder's; CTranslate2's own output on jfk.wav vs silence below 0.9 (the weights make "
          "the output depend on the audio).\n")
    print("| size | mels | d | heads | encoder layers | saved as | CT2 jfk vs silence | fp32 cosine "
          "| fp32 rel L2 | fp32 max abs | int8 cosine | other formats identical | |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    for f in failures:
        print("FAIL " + f)
    failed = len({f.split(":")[0] for f in failures})
    print(f"\n{len(rows) - failed} sizes passed, {failed} failed")
    if not rows:
        print("FAIL no size ran (unknown --sizes?)")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
