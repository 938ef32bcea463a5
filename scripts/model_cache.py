"""Where amanuensis keeps its models: $AMANUENSIS_MODELS, else
~/.cache/amanuensis/models. The one Python definition (the setup script, the
tests and the tools import it); the C++ one is amanuensis::model_cache_dir()."""
import os
import pathlib


def model_cache() -> pathlib.Path:
    env = os.environ.get("AMANUENSIS_MODELS")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "amanuensis" / "models"
