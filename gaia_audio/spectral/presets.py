"""Named front-end presets from the literature (shipped as YAML), and :func:`make_frontend` to build one."""
from __future__ import annotations

from typing import TYPE_CHECKING

from gaia_audio.config import DEFAULT_FRONTEND_PRESET, frontend_presets
from gaia_audio.errors import ConfigError

if TYPE_CHECKING:  # the front ends import torch; reading PRESETS (dataset preparation) does not need it
    from gaia_audio.spectral.frontend import Spectrogram

#: {name: every front-end setting}: read from ``gaia_audio/recipes/presets/frontend/<name>.yaml``,
#: which cite the literature behind each value. A recipe overrides any of them.
PRESETS: dict[str, dict] = frontend_presets()
DEFAULT_PRESET = DEFAULT_FRONTEND_PRESET
KINDS = ("linear", "mel")


def make_frontend(preset: str | None = None, kind: str | None = None, **overrides) -> Spectrogram:
    """Build a front end from a named preset, overriding any of its fields.

    Args:
        preset: a key of :data:`PRESETS`; None means "zebra_finch".
        kind: "linear" or "mel"; None keeps the preset's ("linear" for all presets).
        overrides: any of sr, n_fft, hop_length, win_length, fmin, fmax, n_mels, preemphasis,
            ref_db, min_db, n_frames; None values are ignored (the FrontendConfig convention).
    Returns:
        a :class:`Spectrogram` or :class:`MelSpectrogram`.
    Raises:
        ConfigError: unknown preset, kind or field, or settings that cannot work.
    """
    name = DEFAULT_PRESET if preset is None else preset
    if name not in PRESETS:
        raise ConfigError(f"unknown frontend preset '{name}' (use one of {', '.join(PRESETS)})")
    args = dict(PRESETS[name])
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ConfigError(f"unknown frontend setting(s) {', '.join(unknown)}")
    args.update({k: v for k, v in overrides.items() if v is not None})
    if kind is not None:
        args["kind"] = kind
    kind = args.pop("kind")
    n_mels = args.pop("n_mels")
    from gaia_audio.spectral.frontend import Spectrogram
    from gaia_audio.spectral.mel import MelSpectrogram

    if kind == "linear":
        return Spectrogram(**args)
    if kind == "mel":
        return MelSpectrogram(n_mels=n_mels, **args)
    raise ConfigError(f"unknown frontend kind '{kind}' (use one of {', '.join(KINDS)})")
