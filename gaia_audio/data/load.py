"""A recipe's tiles: the front end and the tile set its ``data`` section names.

Training may fetch a missing example dataset (``data.prepare``) and builds tile caches on disk.
Commands that read a trained model (``evaluate``, ``embed``, ``attributes``) pass
``trusted=False``: a model file may come from anyone, so its stored data settings never make
gaia-audio fetch data or write anywhere (a missing cache is tiled in memory).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from gaia_audio.config import Config
from gaia_audio.data.cache import TileSet, build_tile_cache
from gaia_audio.data.examples import prepare_example
from gaia_audio.errors import ConfigError, DataError
from gaia_audio.spectral.frontend import Spectrogram
from gaia_audio.spectral.presets import make_frontend

DATA_KINDS = ("audio", "images", "lines")


def load_data(config: Config, progress: bool = True, trusted: bool = True) -> tuple[Spectrogram | None, TileSet]:
    """The front end (None for images and lines) and the dataset's tiles.

    ``data.kind`` picks the source: "audio" (a manifest of sound files through the spectrogram
    front end), "images" (a manifest of image files, centre-cropped and resized), or "lines"
    (the synthetic lines benchmark, drawn fresh each step; the tiles returned are a fixed set for
    samples and evaluation).

    Args:
        config: the recipe (or a model's stored one).
        progress: show a progress bar while tiling.
        trusted: the config is the user's own recipe: fetch a missing example dataset
            (``data.prepare``) and cache tiles on disk (``data.cache_dir``). False: neither.
    Returns:
        (frontend, tiles) where tiles.tiles is (N, C, H, W) in [0, 1].
    """
    kind, root = config.data.kind, Path(config.data.root)
    if kind == "lines":
        from gaia_audio.data.lines import lines_tileset

        return None, lines_tileset(config.data.image_size, seed=config.train.seed)
    if kind not in DATA_KINDS:
        raise DataError(f"data.kind must be one of {', '.join(DATA_KINDS)}, got {kind!r}")
    if trusted and config.data.prepare and not (root / config.data.manifest).is_file():
        prepare_example(config.data.prepare, root)
    cache_dir = config.data.cache_dir if trusted else None
    if kind == "images":
        from gaia_audio.data.images import build_image_cache

        return None, build_image_cache(root, config.data.image_size, config.data.manifest, cache_dir, progress,
                                       write=trusted)
    settings = dataclasses.asdict(config.frontend)
    try:
        frontend = make_frontend(**settings)
    except ConfigError as err:  # say which recipe keys made it: frontend.sr=1000 cannot hold an 8 kHz band
        given = ", ".join(f"frontend.{k}={v!r}" for k, v in settings.items() if v is not None)
        raise ConfigError(f"{err.problem} (from {given})") from None
    return frontend, build_tile_cache(root, frontend, config.data.manifest, cache_dir, progress, write=trusted)
