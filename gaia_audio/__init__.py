"""gaia-audio: learn the space of vocalizations with GAIA and morph between them."""
__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def __getattr__(name: str):
    """Import the API on first use, so ``import gaia_audio`` stays light (no torch)."""
    if name == "load_model":
        from gaia_audio.api import load_model

        return load_model
    raise AttributeError(f"module 'gaia_audio' has no attribute {name!r}")
