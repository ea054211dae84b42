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

from gaia_audio import audio
from gaia_audio.errors import DataError
from gaia_audio.segment import read_manifest


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


def build_tile_cache(root: str | os.PathLike, frontend, manifest: str = "manifest.csv",
                     cache_dir: str | os.PathLike | None = None, progress: bool = True) -> TileSet:
    """Tile every unit of ``root/manifest`` through ``frontend``, reusing a matching cache.

    Args:
        root: dataset folder holding the manifest; unit paths are relative to it.
        frontend: a ``frontends.Spectrogram``; units are loaded at ``frontend.sr``.
        manifest: manifest file name, relative to ``root``.
        cache_dir: where the cache lives (default ``root/cache``).
        progress: show a progress bar while building.
    Returns:
        The dataset's tiles, (N, 1, n_freq, n_frames), memory-mapped.
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
    cache_dir = Path(cache_dir) if cache_dir else root / "cache"
    key = _cache_key(frontend, manifest_path)
    tiles_path, index_path = cache_dir / f"tiles-{key}.npy", cache_dir / f"tiles-{key}.json"
    if tiles_path.is_file() and index_path.is_file():
        index = json.loads(index_path.read_text())
        return TileSet(np.load(tiles_path, mmap_mode="r"), np.asarray(index["n_frames_orig"]), index["rows"])

    cache_dir.mkdir(parents=True, exist_ok=True)
    n_freq, n_frames = frontend.tile_shape
    tmp_tiles = tiles_path.with_name(f".{tiles_path.name}.{os.getpid()}.tmp.npy")
    shape = (len(rows), 1, n_freq, n_frames)
    n_frames_orig = []
    try:
        # Sequential writes to a plain .npy file: memory holds one tile whatever the corpus size
        # (pages of a writable memory map would count as this process's memory until evicted).
        with open(tmp_tiles, "wb") as fh, torch.no_grad():
            np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                                                      "fortran_order": False, "shape": shape})
            for row in tqdm(rows, desc="tiling units", unit="unit", disable=not progress):
                y, _ = audio.load(root / row["path"], sr=frontend.sr)
                tile, n_orig = frontend.waveform_to_tile(torch.from_numpy(y))
                fh.write(np.ascontiguousarray(tile.cpu().numpy().reshape(shape[1:]), dtype=np.float16).tobytes())
                n_frames_orig.append(int(n_orig))
        os.replace(tmp_tiles, tiles_path)
        tmp_index = index_path.with_name(f".{index_path.name}.tmp")
        tmp_index.write_text(json.dumps({"n_frames_orig": n_frames_orig, "rows": rows}))
        os.replace(tmp_index, index_path)
    finally:
        if tmp_tiles.exists():
            tmp_tiles.unlink()
    return TileSet(np.load(tiles_path, mmap_mode="r"), np.asarray(n_frames_orig), rows)


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


def augment(batch: torch.Tensor, generator: torch.Generator, *, max_shift_frames: int = 4,
            max_gain_db: float = 6.0, max_freq_shift_bins: int = 1, db_range: float = 80.0,
            part: tuple[int, int] | None = None) -> torch.Tensor:
    """Random time shift, gain and small frequency shift of [0, 1] dB-scaled tiles.

    Args:
        batch: (B, 1, n_freq, n_frames) tiles in [0, 1].
        generator: the CPU generator all randomness is drawn from (so runs repeat exactly).
        max_shift_frames: time shift drawn uniformly from ±this many frames (zero-filled).
        max_gain_db: gain drawn uniformly from ±this many dB (an offset on the dB scale).
        max_freq_shift_bins: frequency shift drawn from ±this many bins (zero-filled).
        db_range: dB span that [0, 1] covers (ref_db − min_db), to turn dB into tile units.
        part: (first, total) when ``batch`` holds rows first, first + 1, … of a batch of ``total``: the draws are
            made for the whole batch, so each slice gets what it would get in the whole.
    Returns:
        (B, 1, n_freq, n_frames) augmented tiles, clipped to [0, 1].
    """
    out = torch.empty_like(batch)
    B = batch.shape[0] if part is None else part[1]
    shifts_t = torch.randint(-max_shift_frames, max_shift_frames + 1, (B,), generator=generator)
    shifts_f = torch.randint(-max_freq_shift_bins, max_freq_shift_bins + 1, (B,), generator=generator)
    gains = (torch.rand(B, generator=generator) * 2 - 1) * max_gain_db / db_range
    first = 0 if part is None else part[0]
    for b in range(batch.shape[0]):
        x = _shift(batch[b], int(shifts_t[first + b]), dim=-1)
        x = _shift(x, int(shifts_f[first + b]), dim=-2)
        out[b] = (x + gains[first + b] * (x > 0)).clamp(0, 1)
    return out


def _shift(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Shift ``x`` by ``k`` along ``dim``, filling with zeros (the dB floor)."""
    if k == 0:
        return x
    out = torch.zeros_like(x)
    n = x.shape[dim]
    if abs(k) >= n:
        return out
    src = x.narrow(dim, 0, n - k) if k > 0 else x.narrow(dim, -k, n + k)
    out.narrow(dim, k, n - k).copy_(src) if k > 0 else out.narrow(dim, 0, n + k).copy_(src)
    return out


class BatchSampler:
    """Draws training batches with a seeded generator (state is checkpointed), streaming from disk.

    Only the drawn tiles are read, so a memory-mapped cache of any size can be trained on: memory
    holds one batch, not the dataset.

    Args:
        tiles: (N, 1, n_freq, n_frames) array, e.g. the memory-mapped float16 cache.
        batch_size: tiles per batch.
        seed: seed of the CPU generator behind index draws and augmentation.
        augment_args: keyword arguments of :func:`augment`, or None for no augmentation.
        index: (M,) rows of ``tiles`` to draw from (e.g. the training split); None for all.
        part: (rank, world_size) in data-parallel training: every process makes the same draws
            for the whole batch but reads and augments only its own contiguous slice.
    """

    def __init__(self, tiles: np.ndarray, batch_size: int, seed: int, augment_args: dict | None = None,
                 index: np.ndarray | None = None, part: tuple[int, int] = (0, 1)):
        self.tiles = tiles
        self.index = np.arange(len(tiles)) if index is None else np.asarray(index, dtype=np.int64)
        if len(self.index) == 0:
            raise DataError("no tiles to train on")
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.augment_args = augment_args
        rank, world_size = part
        if batch_size % world_size:
            raise DataError(f"batch size {batch_size} does not split over {world_size} processes")
        self.first, self.local_size = rank * (batch_size // world_size), batch_size // world_size

    def next(self) -> torch.Tensor:
        """This process's slice of one batch, (batch_size / world_size, 1, n_freq, n_frames) float32 on the CPU."""
        draw = torch.randint(len(self.index), (self.batch_size,), generator=self.generator).numpy()
        rows = self.index[draw[self.first:self.first + self.local_size]]
        unique, inverse = np.unique(rows, return_inverse=True)  # sorted reads are sequential on disk
        batch = torch.from_numpy(np.asarray(self.tiles[unique], dtype=np.float32)[inverse.reshape(-1)])
        if self.augment_args is not None:
            batch = augment(batch, self.generator, part=(self.first, self.batch_size), **self.augment_args)
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
