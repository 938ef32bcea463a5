"""Finding a model by faster-whisper's names, in amanuensis's cache (nothing is
downloaded: scripts/fetch_models.py fills the cache), and faster-whisper's
download_model and available_models over it."""

import os
from typing import List, Optional, Union

from . import _core

# faster-whisper's model names and the hub repositories they stand for. A
# name, or its repository, is looked up as the cache folder of that name.
_REPOSITORIES = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}
_NAME_OF_REPOSITORY = {repository: name for name, repository in _REPOSITORIES.items()}
VAD_WEIGHTS = os.path.join("silero-vad", "silero_vad_v6_16k.safetensors")


def _roots(download_root: Optional[str]) -> List[str]:
    return ([download_root] if download_root else []) + [_core.model_cache_dir()]


def model_path(name_or_path: Union[str, os.PathLike], download_root: Optional[str] = None) -> str:
    """A path as it is; one of faster-whisper's names ("base", "large",
    "distil-large-v3") or its repository ("Systran/faster-whisper-base") ->
    that name's folder in download_root or the cache."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"model_size_or_path: expected a str, got {type(name_or_path).__name__}")
    name_or_path = os.fspath(name_or_path)
    if os.path.exists(name_or_path):
        return name_or_path
    if os.path.isabs(name_or_path) or name_or_path.startswith((".", "~")):
        raise _core.ModelError(f"model {name_or_path!r}: no such folder or file")
    name = _NAME_OF_REPOSITORY.get(name_or_path, name_or_path)
    name = _ALIASES.get(name, name)
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
    """The model names WhisperModel takes, as faster-whisper lists them."""
    return list(_REPOSITORIES) + list(_ALIASES)


def download_model(size_or_id: str, output_dir: Optional[str] = None,
                   local_files_only: bool = False, cache_dir: Optional[str] = None,
                   revision: Optional[str] = None,
                   use_auth_token: Optional[Union[str, bool]] = None) -> str:
    """The model's folder, as faster-whisper returns it; amanuensis downloads
    nothing, so a model not in output_dir, cache_dir or the cache is a
    ModelError naming the command that fetches it."""
    for name, value in (("revision", revision), ("use_auth_token", use_auth_token)):
        if value is not None:
            raise NotImplementedError(f"{name}=: amanuensis downloads nothing")
    return model_path(size_or_id, output_dir or cache_dir)
