"""Latent paths and the placement of steps along them.

A continuum walks a path between two codes: ``lerp`` (the straight line GAIA is trained on) or
``slerp`` (the great circle), with α beyond [0, 1] extrapolating. Steps sit at evenly spaced α
(``uniform``), or at equal arc length along the decoded path (``equal``), the arc measured by
whatever distance the caller gives between consecutive points; the series use the perceptual
distance of the decoded waveforms (:mod:`gaia_audio.morph.perceptual`: mel log-spectral distance in
dB, level and time normalised) and re-space by the inverse of its cumulative sum, as DiffMorpher
does. Grids and barycentric morphs mix several codes with bilinear or simplex-lattice weights.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from gaia_audio.bounds import MAX_LATTICE_SOUNDS, check_grid_steps
from gaia_audio.errors import DataError
from gaia_audio.morph.perceptual import frame_distance, perceptual_frames
from gaia_audio.morph.stream import STREAM_CHUNK

PATHS = ("lerp", "slerp")
SPACINGS = ("uniform", "equal")
#: Points decoded along the path to measure its arc length for ``equal`` spacing.
N_DENSE = 64
#: ``equal`` spacing re-spaces once more (:func:`corrected_alphas`) when the steps' own distances
#: vary more than this (coefficient of variation).
EVEN_CV = 0.1


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


def arc_length(distances: np.ndarray) -> np.ndarray:
    """Cumulative length of a path from the distances between its consecutive points.

    Args:
        distances: (M - 1,) non-negative distances between points 0-1, 1-2, ...
    Returns:
        (M,) float64, starting at 0.
    """
    return np.concatenate([[0.0], np.cumsum(np.asarray(distances, dtype=np.float64))])


def equal_arc_alphas(distances: np.ndarray, alphas: np.ndarray, steps: int) -> np.ndarray:
    """Re-space a densely measured path so ``steps`` points sit at equal arc length (DiffMorpher).

    The arc length is the cumulative distance between consecutive decoded points; the new
    positions invert it, linearly between the measured points.

    Args:
        distances: (M - 1,) distances between the points decoded at consecutive ``alphas``.
        alphas: (M,) increasing or decreasing positions (M >= 2, in path order).
        steps: how many positions to return.
    Returns:
        (steps,) positions, the first and last equal to ``alphas[0]`` and ``alphas[-1]``.
    """
    arc = arc_length(distances)
    if arc[-1] <= 0:  # a path that does not move: nothing to equalise
        return np.linspace(alphas[0], alphas[-1], steps)
    out = np.interp(np.linspace(0.0, arc[-1], steps), arc, alphas)
    out[0], out[-1] = alphas[0], alphas[-1]
    return out


def corrected_alphas(distances: np.ndarray, alphas: np.ndarray, knots: np.ndarray, measured: np.ndarray,
                     steps: int) -> np.ndarray:
    """Re-space once more after measuring the steps themselves.

    A path's arc length summed over many small steps need not equal the distance between two
    steps further apart (the measure is not additive). This keeps the dense arc's shape inside each
    interval between ``knots`` but scales the interval to the distance ``measured`` directly
    between its ends, and re-spaces on that corrected arc.

    Args:
        distances: (M - 1,) dense distances, as for :func:`equal_arc_alphas`.
        alphas: (M,) the dense positions.
        knots: (K,) positions of the steps measured, in path order, from ``alphas[0]`` to ``alphas[-1]``.
        measured: (K - 1,) distances between consecutive knots' sounds.
        steps: how many positions to return.
    Returns:
        (steps,) positions, first and last as ``alphas``.
    """
    alphas, knots = np.asarray(alphas, np.float64), np.asarray(knots, np.float64)
    span = alphas[-1] - alphas[0]
    t, t_knots = (alphas - alphas[0]) / span, (knots - alphas[0]) / span        # increasing, in [0, 1]
    grid = np.union1d(t, t_knots)
    arc = np.interp(grid, t, arc_length(distances))
    arc_knots = np.interp(t_knots, t, arc_length(distances))
    target = arc_length(measured)
    corrected = np.empty_like(arc)
    for k in range(len(knots) - 1):
        inside = (grid >= t_knots[k]) & (grid <= t_knots[k + 1])
        if arc_knots[k + 1] > arc_knots[k]:
            frac = (arc[inside] - arc_knots[k]) / (arc_knots[k + 1] - arc_knots[k])
        else:  # the dense pass saw no motion here: spread the measured distance evenly in α
            frac = (grid[inside] - t_knots[k]) / max(t_knots[k + 1] - t_knots[k], 1e-12)
        corrected[inside] = target[k] + frac * measured[k]
    return equal_arc_alphas(np.diff(corrected), alphas[0] + grid * span, steps)


def step_cv(distances) -> float:
    """Coefficient of variation (population std / mean) of consecutive-step distances; 0 = even steps.

    The one definition the spacing, the evaluation and the continuum benchmark share.

    Args:
        distances: (steps − 1,) distance of each step to the one before.
    Returns:
        the CV; inf when every distance is 0 (a series that does not move is not evenly spaced).
    Raises:
        DataError: no distances (fewer than 2 steps).
    """
    d = np.asarray(distances, np.float64)
    if d.size == 0:
        raise DataError("step evenness needs at least 2 steps")
    mean = d.mean()
    return float(d.std() / mean) if mean > 0 else float("inf")


def grid_weights(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear weights of a ``steps`` × ``steps`` grid between four corners a, b, c, d.

    Corners: a at (u, v) = (0, 0), b at (1, 0), c at (0, 1), d at (1, 1); row-major (v outer).

    Returns:
        (weights (steps², 4), coords (steps², 2) holding (u, v)).
    """
    if steps < 2:
        raise DataError(f"a grid needs at least 2 steps per side, got {steps}")
    check_grid_steps(steps)
    t = np.linspace(0.0, 1.0, steps)
    v, u = (g.ravel() for g in np.meshgrid(t, t, indexing="ij"))
    weights = np.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], axis=1)
    return weights, np.stack([u, v], axis=1)


def barycentric_weights(n_endpoints: int, steps: int, max_points: int = MAX_LATTICE_SOUNDS) -> np.ndarray:
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


def lattice_previous(weights: np.ndarray) -> list[int | None]:
    """Per lattice point, the latest earlier point one lattice step away (None for the first).

    One lattice step moves one share of weight (the smallest non-zero difference between two
    points) from one endpoint to another: what ``distance_prev`` of a barycentric morph compares.

    Args:
        weights: (M, N) lattice points in order, as from :func:`barycentric_weights`.
    Returns:
        M indices (or None).
    """
    w = np.asarray(weights, dtype=np.float64)
    step = 2 * w[w > 1e-12].min()  # L1 length of one lattice step: one share moved
    previous: list[int | None] = []
    for k in range(len(w)):
        near = np.flatnonzero(np.isclose(np.abs(w[:k] - w[k]).sum(axis=1), step))
        previous.append(int(near[-1]) if len(near) else None)
    return previous


def equal_alphas(series, alphas: np.ndarray, n_dense: int) -> np.ndarray:
    """Positions of ``len(alphas)`` steps at equal perceptual distances along the decoded path.

    Args:
        series: the pair's series (``gaia_audio.morph.steps``: renders steps at any α).
        alphas: (S,) uniform positions; the first and last are kept.
        n_dense: points decoded to measure the path.
    Returns:
        (S,) positions.
    """
    def measure(at: np.ndarray) -> np.ndarray:  # (len(at) - 1,) distances of PGHI-only waveforms
        distances, last = [], None
        for start in range(0, len(at), STREAM_CHUNK):  # a chunk at a time: long series stay small
            frames = perceptual_frames(series.render(at[start:start + STREAM_CHUNK], method="pghi").waveforms,
                                       series.vm.sr)
            distances += [frame_distance(p, f) for p, f in zip([last, *frames[:-1]], frames) if p is not None]
            last = frames[-1]
        return np.asarray(distances)

    steps = len(alphas)
    dense = np.linspace(alphas[0], alphas[-1], n_dense)  # finer steps are placed between its points
    d_dense = measure(dense)
    alphas = equal_arc_alphas(d_dense, dense, steps)
    measured = measure(alphas)
    if step_cv(measured) > EVEN_CV:  # still uneven: correct the arc by the steps' own distances
        again = corrected_alphas(d_dense, dense, alphas, measured, steps)
        if step_cv(measure(again)) < step_cv(measured):
            alphas = again
    return alphas
