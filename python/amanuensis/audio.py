"""Audio in: faster-whisper's decode_audio, and the samples a transcription takes."""

import os
from typing import BinaryIO, Union

import numpy as np

from . import _core

SAMPLING_RATE = 16000  # the only rate Whisper takes


def decode_audio(input_file: Union[str, BinaryIO], sampling_rate: int = 16000,
                 split_stereo: bool = False) -> np.ndarray:
    """Any audio or video file (a path or a binary file object) -> 16 kHz mono
    float32 samples in [-1, 1], by the engine's decoders (libsndfile, FFmpeg)."""
    if sampling_rate != SAMPLING_RATE:
        raise NotImplementedError(
            f"decode_audio: sampling_rate={sampling_rate}: amanuensis decodes to 16000 Hz only")
    if split_stereo:
        raise NotImplementedError("decode_audio: split_stereo=True: amanuensis mixes channels down")
    if isinstance(input_file, (str, os.PathLike)):
        return _core.load_audio(os.fspath(input_file))
    if hasattr(input_file, "read"):
        data = input_file.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("decode_audio: the file object must be opened in binary mode")
        return _core.decode_audio(bytes(data), str(getattr(input_file, "name", "<file object>")))
    raise TypeError(f"decode_audio: expected a path or a binary file object, "
                    f"got {type(input_file).__name__}")


def samples_of(audio) -> np.ndarray:
    """What WhisperModel.transcribe takes as audio (a path, a binary file object
    or 16 kHz mono samples) -> contiguous float32 samples."""
    if isinstance(audio, np.ndarray):
        if audio.ndim != 1:
            raise ValueError(f"audio: expected 1-D 16 kHz mono samples, got shape {audio.shape}")
        if not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"audio: expected float samples in [-1, 1], got {audio.dtype}")
        return np.ascontiguousarray(audio, dtype=np.float32)
    return decode_audio(audio)
