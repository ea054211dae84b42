"""gaia-audio: learn the space of vocalizations with GAIA and morph between them.

    from gaia_audio import MorphRequest, continuum, load_model, write_continua
    m = load_model("birdsong")                          # a shipped model, a run folder or its model.safetensors
    result = continuum(m, y_a, y_b, sr, steps=16)       # result.waveforms, result.sr, result.rows
    written = write_continua(MorphRequest.of_sounds(["a.wav", "b.wav"], steps=16), "a_to_b")  # as `gaia-audio morph`
"""
__version__ = "0.1.0"

__all__ = ["MorphRequest", "__version__", "continuum", "load_model", "write_continua"]


def __getattr__(name: str):
    """Import the API on first use, so ``import gaia_audio`` stays light (no torch)."""
    if name == "load_model":
        from gaia_audio.morph.model import load_model

        return load_model
    if name == "continuum":
        from gaia_audio.morph.series import continuum

        return continuum
    if name in ("MorphRequest", "write_continua"):
        from gaia_audio.stimuli import continua

        return getattr(continua, name)
    raise AttributeError(f"module 'gaia_audio' has no attribute {name!r}")
