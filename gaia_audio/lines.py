"""The lines benchmark (Berthelot et al. 2018, "ACAI"): data and its two exact metrics.

Each 32×32 image holds one anti-aliased line, 2 px wide, from the centre (16, 16) to
(16 + 15·cos(−θ), 16 + 15·sin(−θ)); background −1, each pixel 2·coverage − 1 (see
../shared/lines-benchmark.md). Models here see the same images as (x + 1) / 2 in [0, 1]
(decoders end in a sigmoid) and are scored back on the [−1, 1] scale:

- Mean Distance: cosine distance of every decoded frame to its nearest of 10,000 reference lines.
- Smoothness: largest step of the nearest reference angle along a path over the total change,
  minus the ideal 1/15.

Coverage is computed by supersampling each pixel on a regular grid (8×8 points by default).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from gaia_audio.data import TileSet
from gaia_audio.errors import DataError

LINE_SIZE = 32  #: image side of the benchmark
LINE_WIDTH = 2.0  #: line width in pixels
N_REFERENCE = 10_000  #: reference lines at θ = 2πk/10⁴
N_FRAMES = 16  #: frames per interpolation, decoded endpoints included (α = n/15)
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


def to_line_range(tiles: np.ndarray) -> np.ndarray:
    """[0, 1] decoded tiles → the benchmark's [−1, 1] scale (same shape, no clipping)."""
    return 2 * np.asarray(tiles, np.float32) - 1


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


@functools.lru_cache(maxsize=2)
def reference_set(size: int = LINE_SIZE, n: int = N_REFERENCE) -> tuple[np.ndarray, np.ndarray]:
    """The reference lines at θ = 2πk/n, k = 0…n−1, flattened and scaled to unit norm.

    Returns:
        (thetas (n,), unit vectors (n, size²) float32).
    """
    thetas = 2 * np.pi * np.arange(n) / n
    flat = render_lines(thetas, size).reshape(n, -1)
    return thetas, flat / np.linalg.norm(flat, axis=1, keepdims=True)


def nearest_reference(frames: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distance to, and angle of, each frame's nearest reference line.

    Args:
        frames: (..., H, W) images on the [−1, 1] scale (H = W = 32 for the benchmark).
        chunk: frames compared per matrix product.
    Returns:
        (distance (...), theta (...)) float64.
    """
    frames = np.asarray(frames, np.float32)
    lead, (h, w) = frames.shape[:-2], frames.shape[-2:]
    if h != w:
        raise DataError(f"line frames must be square, got {h}×{w}")
    thetas, ref = reference_set(h)
    flat = frames.reshape(-1, h * w)
    norms = np.linalg.norm(flat, axis=1)
    distance, theta = np.empty(len(flat)), np.empty(len(flat))
    for i in range(0, len(flat), chunk):
        sim = (flat[i:i + chunk] @ ref.T) / np.maximum(norms[i:i + chunk, None], 1e-12)  # (c, n_ref)
        best = sim.argmax(axis=1)
        distance[i:i + chunk] = 1 - sim[np.arange(len(best)), best]
        theta[i:i + chunk] = thetas[best]
    return distance.reshape(lead), theta.reshape(lead)


def smoothness_of_angles(theta: np.ndarray) -> np.ndarray:
    """Smoothness of each path of recovered angles: max step / total change − 1/(n − 1).

    Args:
        theta: (P, n) angle of each frame's nearest reference line, in path order.
    Returns:
        (P,) scores; 0 where the total change (after unwrapping) is below 1e-4.
    """
    theta = np.unwrap(np.asarray(theta, np.float64), axis=1)
    steps = np.abs(np.diff(theta, axis=1)).max(axis=1)
    total = np.abs(theta[:, -1] - theta[:, 0])
    defined = total >= 1e-4
    score = np.zeros(len(theta))
    score[defined] = steps[defined] / total[defined] - 1 / (theta.shape[1] - 1)
    return score


def score_paths(paths: np.ndarray) -> dict[str, float]:
    """The benchmark's two scores of interpolation paths.

    Args:
        paths: (P, n_frames, H, W) decoded frames on the [−1, 1] scale, endpoints included.
    Returns:
        {"mean_distance": mean cosine distance (the paper reports it ×10⁻³),
         "smoothness": mean smoothness, "n_paths": P}.
    """
    paths = np.asarray(paths)
    if paths.ndim != 4 or paths.shape[1] < 2:
        raise DataError(f"paths must be (P, n_frames >= 2, H, W), got {paths.shape}")
    distance, theta = nearest_reference(paths)
    return {"mean_distance": float(distance.mean()), "smoothness": float(smoothness_of_angles(theta).mean()),
            "n_paths": int(len(paths))}


def evaluation_pairs(n_pairs: int, seed: int = 1234) -> np.ndarray:
    """(n_pairs, 2) endpoint angles, independent and uniform on [0, 2π)."""
    return random_thetas(2 * n_pairs, torch.Generator().manual_seed(seed)).reshape(n_pairs, 2)


def true_paths(pairs: np.ndarray, n_frames: int = N_FRAMES, size: int = LINE_SIZE) -> np.ndarray:
    """The correct interpolations: lines at angles along the shorter arc. (P, n_frames, size, size)."""
    pairs = np.asarray(pairs, np.float64)
    delta = (pairs[:, 1] - pairs[:, 0] + np.pi) % (2 * np.pi) - np.pi
    alpha = np.linspace(0, 1, n_frames)
    thetas = pairs[:, :1] + alpha[None] * delta[:, None]
    return render_lines(thetas.reshape(-1), size).reshape(len(pairs), n_frames, size, size)


def crossfade_paths(pairs: np.ndarray, n_frames: int = N_FRAMES, size: int = LINE_SIZE) -> np.ndarray:
    """Pixel cross-fades (1 − α)·x₁ + α·x₂ between the endpoint lines. (P, n_frames, size, size)."""
    ends = render_lines(np.asarray(pairs).reshape(-1), size).reshape(len(pairs), 2, size, size)
    alpha = np.linspace(0, 1, n_frames, dtype=np.float32)[None, :, None, None]
    return (1 - alpha) * ends[:, :1] + alpha * ends[:, 1:]


def switch_paths(pairs: np.ndarray, n_frames: int = N_FRAMES, size: int = LINE_SIZE) -> np.ndarray:
    """Abrupt switches: x₁ for the first half of the frames, x₂ for the rest. (P, n_frames, size, size)."""
    ends = render_lines(np.asarray(pairs).reshape(-1), size).reshape(len(pairs), 2, size, size)
    second = (np.arange(n_frames) >= n_frames // 2)[None, :, None, None]
    return np.where(second, ends[:, 1:], ends[:, :1])


@torch.no_grad()
def model_paths(model: torch.nn.Module, pairs: np.ndarray, n_frames: int = N_FRAMES, size: int = LINE_SIZE,
                batch_size: int = 256) -> np.ndarray:
    """Decode latent interpolations between encoded endpoint lines, on the [−1, 1] scale.

    Args:
        model: any model kind (``encode``/``decode`` on (B, 1, size, size) tiles in [0, 1]).
        pairs: (P, 2) endpoint angles.
        n_frames: frames per path (z at α = n/(n_frames − 1)).
        size: image side.
        batch_size: codes decoded per forward pass.
    Returns:
        (P, n_frames, size, size) float32 decoded frames, unclipped.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ends = to_unit_range(render_lines(np.asarray(pairs).reshape(-1), size))[:, None]       # (2P, 1, S, S)
    x = torch.from_numpy(ends).to(device)
    z = torch.cat([model.encode(c) for c in x.split(batch_size)]).float()                   # (2P, code_dim)
    z = z.reshape(len(pairs), 2, -1)
    alpha = torch.linspace(0, 1, n_frames, device=device)[None, :, None]                    # (1, n, 1)
    codes = ((1 - alpha) * z[:, :1] + alpha * z[:, 1:]).reshape(-1, z.shape[-1])             # (P·n, code_dim)
    frames = torch.cat([model.decode(c).float().cpu() for c in codes.split(batch_size)])    # (P·n, 1, S, S)
    model.train(was_training)
    return to_line_range(frames.numpy()).reshape(len(pairs), n_frames, size, size)
