"""The lines data set of Berthelot et al. 2018 ("ACAI"), drawn fresh for every training batch.

Each 32×32 image holds one anti-aliased line, 2 px wide, from the centre (16, 16) to
(16 + 15·cos(−θ), 16 + 15·sin(−θ)); background −1, each pixel 2·coverage − 1 (Berthelot et al.
2018, section 3.1). Models see the same images as (x + 1) / 2 in [0, 1].
Coverage is computed by supersampling each pixel on a regular grid (8×8 points by default).
The benchmark's metrics are in :mod:`gaia_audio.bench.lines`.
"""
from __future__ import annotations

import numpy as np
import torch

from gaia_audio.data.cache import TileSet
from gaia_audio.errors import DataError

LINE_SIZE = 32  #: image side of the benchmark
LINE_WIDTH = 2.0  #: line width in pixels
SUPERSAMPLE = 8  #: coverage samples per pixel side


def render_lines(theta: np.ndarray, size: int = LINE_SIZE, width: float = LINE_WIDTH,
                 supersample: int = SUPERSAMPLE, chunk: int = 256) -> np.ndarray:
    """Images of lines from the centre at angles ``theta``, values in [−1, 1].

    Args:
        theta: (N,) angles in radians (counter-clockwise on screen, 0 = pointing right).
        size: image side; the line runs from (size/2, size/2) for size/2 − 1 pixels.
        width: line width in pixels.
        supersample: coverage sample points per pixel side.
        chunk: lines rendered per vectorised block (bounds memory).
    Returns:
        (N, size, size) float32: −1 background, 2·coverage − 1 on the line.
    """
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    centre, length, half = size / 2, size / 2 - 1, width / 2
    # Only a window around each line is sampled: the line's bounding box fits in win × win pixels.
    win = min(size, int(np.ceil(length + width)) + 2)
    offsets = ((np.arange(win * supersample) + 0.5) / supersample).astype(np.float32)     # (win·ss,)
    grid = np.arange(win)
    out = np.full((len(theta), size, size), -1.0, np.float32)
    for start in range(0, len(theta), chunk):
        th = theta[start:start + chunk]
        n = len(th)
        ux, uy = np.cos(-th), np.sin(-th)                                                   # (n,)
        # Lowest x and y of the rectangle's corners: the nearer end, less half the width across.
        x0 = np.clip(np.floor(centre + np.minimum(0, length * ux) - half * np.abs(uy)).astype(int), 0, size - win)
        y0 = np.clip(np.floor(centre + np.minimum(0, length * uy) - half * np.abs(ux)).astype(int), 0, size - win)
        px = (x0 - centre)[:, None].astype(np.float32) + offsets[None]                      # (n, win·ss) x of columns
        py = (y0 - centre)[:, None].astype(np.float32) + offsets[None]                      # (n, win·ss) y of rows
        ux32, uy32 = ux.astype(np.float32)[:, None, None], uy.astype(np.float32)[:, None, None]
        along = px[:, None, :] * ux32 + py[:, :, None] * uy32                               # (n, R, C)
        across = np.abs(py[:, :, None] * ux32 - px[:, None, :] * uy32)
        inside = (along >= 0) & (along <= length) & (across <= half)
        coverage = inside.reshape(n, win, supersample, win, supersample).mean(axis=(2, 4), dtype=np.float32)
        rows = (y0[:, None] + grid[None])[:, :, None]                                       # (n, win, 1)
        cols = (x0[:, None] + grid[None])[:, None, :]                                       # (n, 1, win)
        out[start + np.arange(n)[:, None, None], rows, cols] = 2 * coverage - 1
    return out


def random_thetas(n: int, generator: torch.Generator) -> np.ndarray:
    """(n,) angles uniform on [0, 2π), drawn from a torch generator (so a run's state is exact)."""
    return (torch.rand(n, generator=generator, dtype=torch.float64) * (2 * np.pi)).numpy()


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """[−1, 1] benchmark images → the [0, 1] tiles the models see (same shape)."""
    return (np.asarray(images, np.float32) + 1) / 2


class LinesSampler:
    """Fresh random lines for every training batch, from a checkpointable torch generator.

    Args:
        image_size: image side (32 for the benchmark).
        batch_size: lines per batch.
        seed: seed of the generator.
        part: (rank, world_size) in data-parallel training: every process draws the whole batch's
            angles and renders only its own contiguous slice.
    """

    def __init__(self, image_size: int, batch_size: int, seed: int, part: tuple[int, int] = (0, 1)):
        if image_size < 4:
            raise DataError(f"data.image_size must be at least 4 for lines, got {image_size}")
        self.image_size, self.batch_size = int(image_size), int(batch_size)
        self.generator = torch.Generator().manual_seed(seed)
        n = self.batch_size // part[1]
        self.rows = slice(part[0] * n, (part[0] + 1) * n)

    def next(self) -> torch.Tensor:
        """This process's slice of one batch, (batch_size / world_size, 1, image_size, image_size) in [0, 1]."""
        images = render_lines(random_thetas(self.batch_size, self.generator)[self.rows], self.image_size)
        return torch.from_numpy(to_unit_range(images)[:, None])

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def lines_tileset(image_size: int = LINE_SIZE, seed: int = 0, n: int = 256) -> TileSet:
    """A fixed set of random lines (for training samples and held-out evaluation).

    Args:
        image_size: image side.
        seed: seed of the angles (offset from the training sampler's stream).
        n: number of lines.
    Returns:
        TileSet with tiles (n, 1, image_size, image_size) float16 in [0, 1]; rows carry
        ``path`` (a stable name) and ``theta``.
    """
    if image_size < 4:
        raise DataError(f"data.image_size must be at least 4 for lines, got {image_size}")
    thetas = random_thetas(n, torch.Generator().manual_seed(10_007 + seed))
    tiles = to_unit_range(render_lines(thetas, image_size))[:, None].astype(np.float16)
    rows = [{"path": f"line_{i:05d}", "theta": float(t)} for i, t in enumerate(thetas)]
    return TileSet(tiles, np.zeros(n, dtype=np.int64), rows)
