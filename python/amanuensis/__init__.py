"""amanuensis: Whisper speech-to-text on a plain CPU, with faster-whisper's
Python API. A program written for faster-whisper 1.2 runs after

    from faster_whisper import WhisperModel      ->  from amanuensis import WhisperModel

and gives the same bytes on every CPU and thread count. Errors of the engine
are amanuensis.Error, with a one-line message (InvalidInputError is also a
ValueError, UnsupportedError a NotImplementedError, ModelError a ValueError,
ResourceLimitError a MemoryError)."""

from ._core import (Error, InvalidInputError, ModelError, ResourceLimitError,
                    UnsupportedError)
from .audio import decode_audio
from .models import available_models, download_model
from .transcribe import (BatchedInferencePipeline, Segment, TranscriptionInfo,
                         TranscriptionOptions, WhisperModel, Word)
from .utils import format_timestamp
from .vad import VadOptions

__version__ = "0.1.0"

__all__ = [
    "BatchedInferencePipeline", "Error", "InvalidInputError", "ModelError",
    "ResourceLimitError", "Segment", "TranscriptionInfo", "TranscriptionOptions",
    "UnsupportedError", "VadOptions", "WhisperModel", "Word", "available_models",
    "decode_audio", "download_model", "format_timestamp",
]
