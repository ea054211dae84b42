"""Training batches: seeded draws from a tile set, with augmentation, sliced for data-parallel training.

Every draw comes from one CPU generator whose state is checkpointed, so a resumed run draws
exactly what an uninterrupted one would have.
"""
from __future__ import annotations

import numpy as np
import torch

from gaia_audio.errors import DataError


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
