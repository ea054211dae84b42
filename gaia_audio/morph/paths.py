"""Latent paths and the placement of steps along them.

A continuum walks a path between two codes: ``lerp`` (the straight line GAIA is trained on) or
``slerp`` (the great circle), with α beyond [0, 1] extrapolating. Steps sit at evenly spaced α
(``uniform``), or at equal arc length along the decoded path (``equal``). Grids and barycentric
morphs mix several codes with bilinear or simplex-lattice weights.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from gaia_audio.errors import DataError

PATHS = ("lerp", "slerp")
SPACINGS = ("uniform", "equal")
#: Points decoded along the path to measure its arc length for ``equal`` spacing.
N_DENSE = 64




def step_alphas(steps: int, alpha_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Evenly spaced α from ``alpha_range[0]`` to ``alpha_range[1]``, both included.

    Returns:
        (steps,) float64.
    """
    if steps < 2:
        raise DataError(f"a morph needs at least 2 steps, got {steps}")
    start, stop = map(float, alpha_range)
    if not (math.isfinite(start) and math.isfinite(stop)) or start == stop:
        raise DataError(f"alpha range must be two different finite numbers, got {start} {stop}")
    return np.linspace(start, stop, steps)


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between codes (lerp where a pair is nearly parallel).

    Args:
        z_a, z_b: (..., D) codes (e.g. (D,) for one pair, (W, D) for W aligned windows).
        alpha: (S,) positions; 0 gives z_a, 1 gives z_b, outside [0, 1] extrapolates on the arc.
    Returns:
        (S, ..., D) codes.
    """
    a = alpha.to(z_a.dtype).reshape(-1, *([1] * z_a.ndim))                # (S, 1, ..., 1)
    cos = (z_a * z_b).sum(-1) / (z_a.norm(dim=-1) * z_b.norm(dim=-1)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))[..., None]                  # (..., 1)
    sin = torch.sin(omega)
    lerp = (1 - a) * z_a + a * z_b
    arc = (torch.sin((1 - a) * omega) * z_a + torch.sin(a * omega) * z_b) / sin.clamp_min(1e-6)
    return torch.where(sin < 1e-6, lerp, arc)


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, alpha: np.ndarray, path: str = "lerp") -> torch.Tensor:
    """Codes at positions ``alpha`` on the path from ``z_a`` to ``z_b``.

    Args:
        z_a, z_b: (..., D) codes.
        alpha: (S,) positions.
        path: "lerp" (straight line, what GAIA is trained on) or "slerp" (great circle).
    Returns:
        (S, ..., D) codes.
    """
    if path not in PATHS:
        raise DataError(f"unknown path '{path}' (use {' or '.join(PATHS)})")
    a = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=z_a.dtype, device=z_a.device)
    if path == "slerp":
        return slerp(z_a, z_b, a)
    a = a.reshape(-1, *([1] * z_a.ndim))
    return (1 - a) * z_a + a * z_b


def step_distances(tiles: torch.Tensor) -> np.ndarray:
    """RMS difference between each decoded step and the one before it (NaN for the first).

    Args:
        tiles: (S, ...) decoded steps of equal shape, in [0, 1].
    Returns:
        (S,) float64.
    """
    flat = tiles.reshape(tiles.shape[0], -1).double()
    d = (flat[1:] - flat[:-1]).pow(2).mean(dim=1).sqrt().cpu().numpy()
    return np.concatenate([[np.nan], d])


def equal_arc_alphas(tiles: torch.Tensor, alphas: np.ndarray, steps: int) -> np.ndarray:
    """Re-parameterise a densely decoded path so ``steps`` points sit at equal arc length.

    Args:
        tiles: (M, ...) steps decoded at ``alphas`` (M >= 2, in path order).
        alphas: (M,) increasing or decreasing positions they were decoded at.
        steps: how many positions to return.
    Returns:
        (steps,) positions, the first and last equal to ``alphas[0]`` and ``alphas[-1]``.
    """
    arc = np.concatenate([[0.0], np.cumsum(step_distances(tiles)[1:])])
    if arc[-1] <= 0:  # a path that does not move: nothing to equalise
        return np.linspace(alphas[0], alphas[-1], steps)
    return np.interp(np.linspace(0.0, arc[-1], steps), arc, alphas)


def grid_weights(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear weights of a ``steps`` × ``steps`` grid between four corners a, b, c, d.

    Corners: a at (u, v) = (0, 0), b at (1, 0), c at (0, 1), d at (1, 1); row-major (v outer).

    Returns:
        (weights (steps², 4), coords (steps², 2) holding (u, v)).
    """
    if steps < 2:
        raise DataError(f"a grid needs at least 2 steps per side, got {steps}")
    t = np.linspace(0.0, 1.0, steps)
    v, u = (g.ravel() for g in np.meshgrid(t, t, indexing="ij"))
    weights = np.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], axis=1)
    return weights, np.stack([u, v], axis=1)


def barycentric_weights(n_endpoints: int, steps: int, max_points: int = 5000) -> np.ndarray:
    """Every point of the simplex lattice with ``steps`` points per edge.

    Args:
        n_endpoints: vertices (3 or more).
        steps: points on each edge, vertices included.
        max_points: refuse lattices larger than this.
    Returns:
        (M, n_endpoints) non-negative weights summing to 1, in lattice order.
    """
    if n_endpoints < 2 or steps < 2:
        raise DataError(f"a barycentric morph needs >= 2 endpoints and >= 2 steps, got {n_endpoints}, {steps}")
    n = steps - 1
    count = math.comb(n + n_endpoints - 1, n_endpoints - 1)
    if count > max_points:
        raise DataError(f"{n_endpoints} endpoints with {steps} steps per edge make {count} sounds "
                        f"(more than {max_points}); use fewer steps")
    points = []
    for bars in itertools.combinations(range(n + n_endpoints - 1), n_endpoints - 1):  # stars and bars
        edges = (-1, *bars, n + n_endpoints - 1)
        points.append([edges[k + 1] - edges[k] - 1 for k in range(n_endpoints)])
    return np.asarray(points, dtype=np.float64) / n
