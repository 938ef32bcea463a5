"""faster-whisper's VadOptions: Silero VAD's settings, with its defaults."""

from dataclasses import dataclass
from typing import Optional

from . import _core


@dataclass
class VadOptions:
    """Voice activity detection: speech above `threshold` (a probability), ended
    below `neg_threshold` (None: threshold - 0.15), pieces shorter than
    `min_speech_duration_ms` dropped, longer than `max_speech_duration_s` cut,
    silences under `min_silence_duration_ms` bridged, `speech_pad_ms` added
    on each side."""

    threshold: float = 0.5
    neg_threshold: Optional[float] = None
    min_speech_duration_ms: int = 0
    max_speech_duration_s: float = float("inf")
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400


def vad_options_of(parameters) -> VadOptions:
    """`vad_parameters` as faster-whisper takes it: None, a dict or VadOptions."""
    if parameters is None:
        return VadOptions()
    if isinstance(parameters, dict):
        return VadOptions(**parameters)  # TypeError names an unknown key
    if isinstance(parameters, VadOptions) or type(parameters).__name__ == "VadOptions":
        return VadOptions(**{k: getattr(parameters, k) for k in VadOptions.__dataclass_fields__})
    raise TypeError(f"vad_parameters: expected a dict or VadOptions, got {type(parameters).__name__}")


def engine_vad_options(v: VadOptions) -> "_core.VadOptions":
    out = _core.VadOptions()
    out.threshold = v.threshold
    out.neg_threshold = -1.0 if v.neg_threshold is None else v.neg_threshold
    out.min_speech_duration_ms = v.min_speech_duration_ms
    out.max_speech_duration_s = v.max_speech_duration_s
    out.min_silence_duration_ms = v.min_silence_duration_ms
    out.speech_pad_ms = v.speech_pad_ms
    return out
