#!/usr/bin/env python3
"""Converts a CTranslate2 Whisper model folder to a Hugging Face checkpoint
(model.safetensors with transformers' WhisperForConditionalGeneration names,
plus config.json), with numpy and the `safetensors` package only. The tests
use it to check the safetensors loader against the CTranslate2 loader on the
same real weights.

  python3 tools/ct2_to_hf.py CT2_MODEL_DIR OUT_DIR [--dtype float16|float32]

CTranslate2 stacks Q, K, V (and the decoder's cross-attention K, V) in one
matrix; Hugging Face keeps them apart, and K has no bias (CTranslate2 stores
zeros, checked here).
"""
import argparse
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct2_to_ggml import read_ct2  # noqa: E402  (the one CTranslate2 reader of the tools)

def convert(src, dst, dtype):
    from safetensors.numpy import save_file
    ct = read_ct2(os.path.join(src, "model.bin"))
    d, n_mels = ct["encoder/conv1/weight"].shape[:2]
    hf = {}

    def layer_norm(c, h):
        hf[h + ".weight"], hf[h + ".bias"] = ct[c + "/gamma"], ct[c + "/beta"]

    def linear(c, h):
        hf[h + ".weight"], hf[h + ".bias"] = ct[c + "/weight"], ct[c + "/bias"]

    def split(c, names, h):
        w, b = ct[c + "/weight"], ct[c + "/bias"]
        for i, name in enumerate(names):
            hf[f"{h}.{name}_proj.weight"] = w[i * d:(i + 1) * d]
            if name == "k":
                if np.any(b[i * d:(i + 1) * d]):
                    raise SystemExit(f"{c}: K bias is not zero")
            else:
                hf[f"{h}.{name}_proj.bias"] = b[i * d:(i + 1) * d]

    layers = {side: 1 + max(int(m.group(1)) for k in ct for m in [re.match(side + r"/layer_(\d+)/", k)] if m)
              for side in ("encoder", "decoder")}
    for conv in ("conv1", "conv2"):
        linear("encoder/" + conv, "model.encoder." + conv)
    hf["model.encoder.embed_positions.weight"] = ct["encoder/position_encodings/encodings"]
    for side, count in layers.items():
        for i in range(count):
            c, h = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            split(c + "/self_attention/linear_0", ("q", "k", "v"), h + ".self_attn")
            linear(c + "/self_attention/linear_1", h + ".self_attn.out_proj")
            layer_norm(c + "/self_attention/layer_norm", h + ".self_attn_layer_norm")
            if side == "decoder":
                linear(c + "/attention/linear_0", h + ".encoder_attn.q_proj")
                split(c + "/attention/linear_1", ("k", "v"), h + ".encoder_attn")
                linear(c + "/attention/linear_2", h + ".encoder_attn.out_proj")
                layer_norm(c + "/attention/layer_norm", h + ".encoder_attn_layer_norm")
            layer_norm(c + "/ffn/layer_norm", h + ".final_layer_norm")
            linear(c + "/ffn/linear_0", h + ".fc1")
            linear(c + "/ffn/linear_1", h + ".fc2")
        layer_norm(side + "/layer_norm", f"model.{side}.layer_norm")
    hf["model.decoder.embed_tokens.weight"] = ct["decoder/embeddings/weight"]
    hf["model.decoder.embed_positions.weight"] = ct["decoder/position_encodings/encodings"]

    vocab = ct["decoder/embeddings/weight"].shape[0]
    eos = 50256 if vocab == 51864 else 50257
    config = {
        "architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper",
        "vocab_size": int(vocab), "num_mel_bins": int(n_mels), "d_model": int(d),
        "encoder_layers": layers["encoder"], "decoder_layers": layers["decoder"],
        "encoder_attention_heads": int(ct["encoder/num_heads"]),
        "decoder_attention_heads": int(ct["decoder/num_heads"]),
        "encoder_ffn_dim": int(4 * d), "decoder_ffn_dim": int(4 * d),
        "max_source_positions": 1500, "max_target_positions": 448,
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": True,
        "bos_token_id": 50257, "eos_token_id": eos, "pad_token_id": eos,
        "decoder_start_token_id": eos + 1, "torch_dtype": dtype,
    }
    os.makedirs(dst, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=dtype) for k, v in hf.items()},
              os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    args = ap.parse_args()
    convert(args.src, args.dst, args.dtype)


if __name__ == "__main__":
    main()
