"""Finding a model by faster-whisper's names, in amanuensis's cache (nothing is
downloaded: scripts/fetch_models.py fills the cache)."""

import os
from typing import List, Optional

from . import _core

# Hub names that faster-whisper resolves, and the folder each is cached under.
_HUB_PREFIXES = ("Systran/faster-whisper-", "Systran/faster-distil-whisper-",
                 "mobiuslabsgmbh/faster-whisper-", "openai/whisper-", "distil-whisper/")
VAD_WEIGHTS = os.path.join("silero-vad", "silero_vad_v6_16k.safetensors")


def _roots(download_root: Optional[str]) -> List[str]:
    return ([download_root] if download_root else []) + [_core.model_cache_dir()]


def model_path(name_or_path: str, download_root: Optional[str] = None) -> str:
    """A path as it is; a size ("base", "tiny.en", "large-v3") or hub name
    ("Systran/faster-whisper-base") -> its folder in download_root or the cache."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"model_size_or_path: expected a str, got {type(name_or_path).__name__}")
    name_or_path = os.fspath(name_or_path)
    if os.path.exists(name_or_path):
        return name_or_path
    name = name_or_path
    for prefix in _HUB_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
    for root in _roots(download_root):
        candidate = os.path.join(root, name)
        if os.path.isdir(candidate):
            return candidate
    raise _core.ModelError(
        f"model {name_or_path!r}: not a path, and no folder {name!r} in "
        f"{' or '.join(_roots(download_root))} (amanuensis downloads nothing; "
        f"scripts/fetch_models.py {name} caches the sizes it knows)")


def vad_weights() -> str:
    """Silero VAD's weights in the cache, or "" when they are not there."""
    path = os.path.join(_core.model_cache_dir(), VAD_WEIGHTS)
    return path if os.path.isfile(path) else ""


def available_models() -> List[str]:
    """The Whisper models in amanuensis's cache."""
    root = _core.model_cache_dir()
    if not os.path.isdir(root):
        return []
    return sorted(n for n in os.listdir(root)
                  if n != "silero-vad" and os.path.isdir(os.path.join(root, n)))
