#!/usr/bin/env python3
"""Writes tests/data/hf_tiny_random/: a tiny, randomly initialized Whisper saved
by the `transformers` package itself (save_pretrained, safetensors), and the
output of transformers' own encoder on a fixed log-mel. The safetensors loader
test reads both. Needs torch + transformers (not installed by the project's
scripts: run it by hand where they are available).

  python3 tools/make_hf_fixture.py
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                   "hf_tiny_random")


def fixture_mel():
    """The log-mel both sides use (tests/model_formats_test.py imports it)."""
    c = np.arange(80, dtype=np.float64)[:, None]
    t = np.arange(3000, dtype=np.float64)[None, :]
    return (0.6 * np.sin(0.05 * t + 0.3 * c) * np.cos(0.011 * t * (1 + c / 80))).astype(np.float32)


def main():
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=100, num_mel_bins=80, d_model=64, encoder_layers=2,
                           encoder_attention_heads=1, decoder_layers=1, decoder_attention_heads=1,
                           encoder_ffn_dim=256, decoder_ffn_dim=256, max_source_positions=1500,
                           max_target_positions=32, pad_token_id=0, bos_token_id=1,
                           eos_token_id=2, decoder_start_token_id=3)
    # Saved in float16 (half the bytes); the reference output is computed from
    # those same float16 values, upcast.
    model = WhisperForConditionalGeneration(config).eval().half()
    model.save_pretrained(OUT, safe_serialization=True)
    model = model.float()
    with torch.no_grad():
        out = model.model.encoder(torch.from_numpy(fixture_mel())[None]).last_hidden_state[0]
    # Every 10th frame keeps the fixture small and still covers the whole window.
    np.save(os.path.join(OUT, "encoder_every_10th_frame.npy"), out.numpy()[::10].astype(np.float32))


if __name__ == "__main__":
    main()
