"""The lines benchmark (Berthelot et al. 2018, "ACAI"): its two exact metrics.

Each 32×32 image holds one anti-aliased line, 2 px wide, from the centre (16, 16) to
(16 + 15·cos(−θ), 16 + 15·sin(−θ)); background −1, each pixel 2·coverage − 1 (Berthelot et al.
2018, section 3.1). Models here see the same images as (x + 1) / 2 in [0, 1]
(decoders end in a sigmoid) and are scored back on the [−1, 1] scale:

- Mean Distance: cosine distance of every decoded frame to its nearest of 10,000 reference lines.
- Smoothness: largest step of the nearest reference angle along a path over the total change,
  minus the ideal 1/15.

The images themselves are drawn by :mod:`gaia_audio.data.lines`.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from gaia_audio.data.lines import LINE_SIZE, random_thetas, render_lines, to_unit_range
from gaia_audio.errors import DataError

N_REFERENCE = 10_000  #: reference lines at θ = 2πk/10⁴
N_FRAMES = 16  #: frames per interpolation, decoded endpoints included (α = n/15)


def to_line_range(tiles: np.ndarray) -> np.ndarray:
    """[0, 1] decoded tiles → the benchmark's [−1, 1] scale (same shape, no clipping)."""
    return 2 * np.asarray(tiles, np.float32) - 1


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
