"""Datasets: a manifest of vocal units turned into fixed-size spectrogram tiles, cached on disk.

The cache is one ``.npy`` file of shape (N, 1, n_freq, n_frames) (float16, memory-mapped when
read) plus a JSON index holding each unit's manifest row and original frame count, built in one
pass with a progress bar and renamed into place, so an interrupted build leaves no cache behind.
The cache file name carries a hash of the front end settings and the manifest, so changing
either builds a new cache instead of reading stale tiles.
"""
from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gaia_audio.errors import DataError
from gaia_audio.io import audio
from gaia_audio.io.files import atomic_write, write_text
from gaia_audio.io.manifest import read_manifest


@dataclass
class TileSet:
    """Tiles of a dataset and what is needed to undo the tiling.

    Attributes:
        tiles: (N, 1, n_freq, n_frames) float16 array (memory-mapped from the cache).
        n_frames_orig: (N,) original frame count of each unit before tiling.
        rows: the manifest row of each tile.
    """

    tiles: np.ndarray
    n_frames_orig: np.ndarray
    rows: list[dict]

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: np.ndarray) -> "TileSet":
        """The tiles at ``index`` (an integer array), loaded into memory."""
        index = np.asarray(index, dtype=np.int64)
        return TileSet(np.asarray(self.tiles[index]), self.n_frames_orig[index], [self.rows[i] for i in index])


def _cache_key(frontend, manifest_path: Path) -> str:
    """Hash of the front end's resolved settings and the manifest's bytes."""
    settings = frontend.settings
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(manifest_path.read_bytes())
    return h.hexdigest()[:16]


def check_band(rows: list[dict], frontend, manifest_path: Path) -> None:
    """Refuse units recorded at a rate whose band stops below the front end's ``fmax``.

    Resampled up, such a unit has nothing in the top of the band: a model would train on tiles
    that are partly empty and learn that as what the sounds are.

    Raises:
        DataError: naming the manifest, the first such unit's rate and the front end's band.
    """
    fmax = getattr(frontend, "fmax", None)
    if fmax is None:
        return
    for k, row in enumerate(rows):
        try:
            sr = float(row.get("sr") or 0)
        except (TypeError, ValueError):
            continue  # the unit's own file tells when it is read
        if 0 < sr < 2 * float(fmax):
            raise DataError(f"unit {row.get('path')} (row {k + 2}) is at {sr:g} Hz, which cannot hold the front end's "
                            f"band up to {float(fmax):g} Hz: choose a front end whose fmax is at most {sr / 2:g} Hz "
                            "(frontend.fmax, or another frontend.preset)", manifest_path)


def build_tile_cache(root: str | os.PathLike, frontend, manifest: str = "manifest.csv",
                     cache_dir: str | os.PathLike | None = None, progress: bool = True, write: bool = True) -> TileSet:
    """Tile every unit of ``root/manifest`` through ``frontend``, reusing a matching cache.

    Args:
        root: dataset folder holding the manifest; unit paths are relative to it.
        frontend: a ``spectral.frontend.Spectrogram``; units are loaded at ``frontend.sr``.
        manifest: manifest file name, relative to ``root``.
        cache_dir: where the cache lives (default ``root/cache``).
        progress: show a progress bar while building.
        write: build a missing cache on disk; False tiles into memory and writes nothing
            (what a command reading a shared model's stored data settings does).
    Returns:
        The dataset's tiles, (N, 1, n_freq, n_frames), memory-mapped when cached.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError("data folder does not exist (run the dataset's prepare.py, or set data.root)", root)
    manifest_path = root / manifest
    if not manifest_path.is_file():
        raise DataError("no manifest in the data folder (run the dataset's prepare.py)", manifest_path)
    rows = read_manifest(manifest_path)
    if not rows:
        raise DataError("manifest lists no units", manifest_path)
    check_band(rows, frontend, manifest_path)
    cache_dir = Path(cache_dir) if cache_dir else root / "cache"
    key = _cache_key(frontend, manifest_path)
    tiles_path, index_path = cache_dir / f"tiles-{key}.npy", cache_dir / f"tiles-{key}.json"
    if tiles_path.is_file() and index_path.is_file():
        index = json.loads(index_path.read_text())
        return TileSet(np.load(tiles_path, mmap_mode="r"), np.asarray(index["n_frames_orig"]), index["rows"])

    shape = (len(rows), 1, *frontend.tile_shape)
    units = _tiled_units(root, rows, frontend, progress)
    if not write:
        tiles = np.empty(shape, np.float16)
        n_frames_orig = np.zeros(len(rows), np.int64)
        for k, (tile, n_orig) in enumerate(units):
            tiles[k], n_frames_orig[k] = tile, n_orig
        return TileSet(tiles, n_frames_orig, rows)
    n_frames_orig = []
    # Sequential writes to a plain .npy file: memory holds one tile whatever the corpus size
    # (pages of a writable memory map would count as this process's memory until evicted).
    with atomic_write(tiles_path, suffix=".tmp.npy", error=DataError) as tmp_tiles, open(tmp_tiles, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                                                  "fortran_order": False, "shape": shape})
        for tile, n_orig in units:
            fh.write(tile.tobytes())
            n_frames_orig.append(n_orig)
    write_text(index_path, json.dumps({"n_frames_orig": n_frames_orig, "rows": rows}))
    return TileSet(np.load(tiles_path, mmap_mode="r"), np.asarray(n_frames_orig), rows)


@torch.no_grad()
def _tiled_units(root: Path, rows: list[dict], frontend, progress: bool):
    """Yield ((1, n_freq, n_frames) float16 tile, original frame count) of each manifest row, in order."""
    for row in tqdm(rows, desc="tiling units", unit="unit", disable=not progress):
        y, _ = audio.load(root / row["path"], sr=frontend.sr)
        tile, n_orig = frontend.waveform_to_tile(torch.from_numpy(y))
        yield np.ascontiguousarray(tile.cpu().numpy().reshape(1, *frontend.tile_shape), dtype=np.float16), int(n_orig)


def split_holdout(tiles: TileSet, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """Split unit indices into (train, held-out) by a stable hash of each unit's path.

    The split does not depend on the seed or on the order of the manifest, so a unit stays on
    the same side across runs. At least one unit is kept for training.
    """
    score = np.array([zlib.crc32(row["path"].encode()) / 2**32 for row in tiles.rows])
    held = score < holdout
    if held.all():
        held[np.argmax(score)] = False
    return np.flatnonzero(~held), np.flatnonzero(held)
