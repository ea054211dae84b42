"""Where a recipe's tiles come from: one class per ``data.kind``, each saying what its kind needs.

Training, previews, export and resume ask the source (:func:`source_for`) instead of switching on
``data.kind``: its front end (audio only), its tiles, how batches are drawn (fresh lines every step,
or from the tile set), whether its tiles are sound, and what a resumed run may not change.

Training may fetch a missing example dataset (``data.prepare``) and builds tile caches on disk.
Commands that read a trained model (``evaluate``, ``embed``, ``attributes``) pass
``trusted=False``: a model file may come from anyone, so its stored data settings never make
gaia-audio fetch data or write anywhere (a missing cache is tiled in memory).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaia_audio.config import Config
from gaia_audio.data.cache import TileSet, build_tile_cache
from gaia_audio.data.examples import prepare_example
from gaia_audio.data.sampler import BatchSampler
from gaia_audio.errors import ConfigError, DataError
from gaia_audio.spectral.presets import make_frontend

if TYPE_CHECKING:
    from gaia_audio.spectral.frontend import Spectrogram


class DataSource:
    """What every kind of data answers; the base draws batches from the tile set, without augmentation."""

    kind = ""
    #: the tiles are spectrograms of sound: previews write WAVs, the export records unit lengths
    has_sound = False
    #: batches are drawn new every step (the tile set only serves samples and evaluation)
    fresh_each_step = False

    def frontend(self, config: Config) -> Spectrogram | None:
        """The spectrogram front end the tiles come through, or None (no sound)."""
        return None

    def prepare(self, config: Config, trusted: bool) -> None:
        """Fetch the example dataset ``data.prepare`` names when ``data.root`` has no manifest (trusted only)."""
        root = Path(config.data.root)
        if trusted and config.data.prepare and not (root / config.data.manifest).is_file():
            prepare_example(config.data.prepare, root)

    def tiles(self, config: Config, frontend: Spectrogram | None, progress: bool, trusted: bool) -> TileSet:
        """The dataset's tiles, (N, C, H, W) in [0, 1]."""
        raise NotImplementedError

    def load(self, config: Config, progress: bool = True, trusted: bool = True) -> tuple[Spectrogram | None, TileSet]:
        """(front end, tiles): :meth:`prepare`, :meth:`frontend` and :meth:`tiles` in turn."""
        self.prepare(config, trusted)
        frontend = self.frontend(config)
        return frontend, self.tiles(config, frontend, progress, trusted)

    def augment_args(self, config: Config, frontend: Spectrogram | None) -> dict | None:
        """``sampler.augment``'s settings, or None for no augmentation."""
        return None

    def sampler(self, config: Config, frontend: Spectrogram | None, tiles: np.ndarray, train_idx: np.ndarray,
                part: tuple[int, int] = (0, 1)):
        """The training batch sampler: ``train.batch_size`` tiles of ``train_idx`` per step, this
        process's ``part`` (rank, world size) of each batch."""
        tc = config.train
        return BatchSampler(tiles, tc.batch_size, tc.seed, self.augment_args(config, frontend), index=train_idx,
                            part=part)

    def resume_keys(self, recipe: dict) -> list[tuple[str, str]]:
        """(section, key) of the settings besides the network's that a resumed run may not change
        (``recipe``: a config mapping): they change the tiles the weights were trained on."""
        return [("data", "image_size")]


class AudioSource(DataSource):
    """A manifest of sound files, cut into units and tiled through the spectrogram front end."""

    kind = "audio"
    has_sound = True

    def frontend(self, config: Config) -> Spectrogram:
        """The recipe's front end.

        Raises:
            ConfigError: settings that cannot work, naming the recipe keys that made them.
        """
        settings = dataclasses.asdict(config.frontend)
        try:
            return make_frontend(**settings)
        except ConfigError as err:  # say which recipe keys made it: frontend.sr=1000 cannot hold an 8 kHz band
            given = ", ".join(f"frontend.{k}={v!r}" for k, v in settings.items() if v is not None)
            raise ConfigError(f"{err.problem} (from {given})") from None

    def tiles(self, config: Config, frontend: Spectrogram, progress: bool, trusted: bool) -> TileSet:
        dc = config.data
        return build_tile_cache(Path(dc.root), frontend, dc.manifest, dc.cache_dir if trusted else None, progress,
                                write=trusted)

    def augment_args(self, config: Config, frontend: Spectrogram) -> dict | None:
        """Time shift, gain and frequency shift (``data.augment``), the gain within the front end's dB range."""
        dc = config.data
        if not dc.augment:
            return None
        return {"max_shift_frames": dc.max_shift_frames, "max_gain_db": dc.max_gain_db,
                "max_freq_shift_bins": dc.max_freq_shift_bins, "db_range": frontend.ref_db - frontend.min_db}

    def resume_keys(self, recipe: dict) -> list[tuple[str, str]]:
        """Every front-end field: a preset, rate, band, dB range or tile width changes the tiles."""
        return [("frontend", k) for k in recipe["frontend"]]


class ImageSource(DataSource):
    """A manifest of image files, centre-cropped and resized to ``data.image_size``."""

    kind = "images"

    def tiles(self, config: Config, frontend: None, progress: bool, trusted: bool) -> TileSet:
        from gaia_audio.data.images import build_image_cache

        dc = config.data
        return build_image_cache(Path(dc.root), dc.image_size, dc.manifest, dc.cache_dir if trusted else None,
                                 progress, write=trusted)


class LinesSource(DataSource):
    """The synthetic lines benchmark: fresh random lines every step; the tiles are a fixed set of
    lines for samples and evaluation. Nothing is read or fetched."""

    kind = "lines"
    fresh_each_step = True

    def prepare(self, config: Config, trusted: bool) -> None:
        """Nothing to fetch: lines are drawn, not read."""

    def tiles(self, config: Config, frontend: None, progress: bool, trusted: bool) -> TileSet:
        from gaia_audio.data.lines import lines_tileset

        return lines_tileset(config.data.image_size, seed=config.train.seed)

    def sampler(self, config: Config, frontend: None, tiles: np.ndarray, train_idx: np.ndarray,
                part: tuple[int, int] = (0, 1)):
        """Fresh random lines for every batch (``data.lines.LinesSampler``); the tiles are not drawn from."""
        from gaia_audio.data.lines import LinesSampler

        return LinesSampler(config.data.image_size, config.train.batch_size, config.train.seed, part=part)


#: ``data.kind`` → its source
SOURCES: dict[str, DataSource] = {source.kind: source for source in (AudioSource(), ImageSource(), LinesSource())}


def source_for_kind(kind: str) -> DataSource:
    """The source of ``data.kind`` ``kind``.

    Raises:
        DataError: an unknown kind, naming the known ones.
    """
    if kind not in SOURCES:
        raise DataError(f"data.kind must be one of {', '.join(SOURCES)}, got {kind!r}")
    return SOURCES[kind]


def source_for(config: Config) -> DataSource:
    """The source of a recipe's ``data.kind`` (:func:`source_for_kind`)."""
    return source_for_kind(config.data.kind)


def load_data(config: Config, progress: bool = True, trusted: bool = True) -> tuple[Spectrogram | None, TileSet]:
    """The front end (None for images and lines) and the dataset's tiles, from the source ``data.kind`` names.

    Args:
        config: the recipe (or a model's stored one).
        progress: show a progress bar while tiling.
        trusted: the config is the user's own recipe: fetch a missing example dataset
            (``data.prepare``) and cache tiles on disk (``data.cache_dir``). False: neither.
    Returns:
        (frontend, tiles) where tiles.tiles is (N, C, H, W) in [0, 1].
    Raises:
        DataError: an unknown ``data.kind``, or data that cannot be read.
    """
    return source_for(config).load(config, progress, trusted)
