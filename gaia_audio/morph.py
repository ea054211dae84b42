"""Morphs between vocalizations: endpoints, time alignment, latent paths and step spacing.

A morph encodes its endpoints, walks a path between their codes (``lerp`` or ``slerp``, with
α beyond [0, 1] extrapolating), decodes each step, restores its duration and inverts it to a
waveform. The endpoints go through the same encode → decode → invert path as every other step,
so the whole series carries the same processing.

Time: single vocal units (up to the longest unit the model was trained on, ``max_unit_frames``)
are time-normalised into one tile each, and a step's duration goes linearly from one endpoint's
to the other's. Longer inputs are aligned by DTW between their spectrograms (see
:mod:`gaia_audio.alignment`); tile-wide windows taken at aligned positions are encoded pairwise,
interpolated, decoded and overlap-added on a time axis that is itself interpolated between the
two warps.

Spacing: ``uniform`` steps are evenly spaced in α; ``equal`` steps are evenly spaced in arc length
along the decoded path, so consecutive steps differ by the same amount (RMS difference of decoded
tiles, the ``distance_prev`` column of the manifest).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from gaia_audio.alignment import aligned_windows, dtw_path, overlap_add
from gaia_audio.errors import DataError

if TYPE_CHECKING:
    from gaia_audio.api import VocalModel

PATHS = ("lerp", "slerp")
SPACINGS = ("uniform", "equal")
#: Points decoded along the path to measure its arc length for ``equal`` spacing.
N_DENSE = 64


@dataclass
class MorphResult:
    """A series of resynthesized steps and what the manifest says about each.

    Attributes:
        waveforms: one (n_k,) float32 array per step, at ``sr``.
        sr: sample rate of the waveforms.
        rows: one dict per step: pair, step, alpha (or weights), duration_s, level_db, realism,
            distance_prev, fidelity_db (empty where it does not apply).
        spectrograms: one (n_freq, T_k) [0, 1] array per step, for plots.
        notes: what was changed on the way (resampling, mix-down), one line each.
        name: the pair's (or grid's) name.
        stems: file name (without extension) of each step.
        hop_length: STFT hop of the spectrograms (for plot axes).
        freq_range: (fmin, fmax) in Hz that the spectrogram rows span (for plot axes).
    """

    waveforms: list[np.ndarray]
    sr: int
    rows: list[dict]
    spectrograms: list[np.ndarray]
    notes: list[str] = field(default_factory=list)
    name: str = "morph"
    stems: list[str] | None = None
    hop_length: int | None = None
    freq_range: tuple[float, float] | None = None

    def __post_init__(self):
        if self.stems is None:
            width = max(2, len(str(len(self.waveforms) - 1)))
            self.stems = [f"step_{k:0{width}d}" for k in range(len(self.waveforms))]


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


# ---- endpoints and series -------------------------------------------------------------------


@dataclass
class Endpoint:
    """One input sound, ready to morph.

    Attributes:
        name: how rows and notes refer to it (a file name, "a", "b").
        y: (n,) float32 mono samples at the model's sample rate.
        S: (n_freq, T) spectrogram in [0, 1] from the model's front end.
        notes: what was changed to make it fit the model (resampling, mix-down).
    """

    name: str
    y: np.ndarray
    S: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.S.shape[-1])


def make_endpoint(vm: "VocalModel", y: np.ndarray, sr: int, name: str = "input", channel: int | None = None) -> Endpoint:
    """Check an input sound and bring it to the model: mono, the model's rate, loud enough.

    Args:
        vm: the model it will be encoded with.
        y: (n,) mono or (channels, n) samples in [-1, 1].
        sr: their sample rate.
        name: the input's name, used in errors and notes.
        channel: pick this channel of a multichannel input instead of mixing all down.
    Returns:
        The endpoint; ``notes`` says what was changed.
    Raises:
        AudioError: empty, NaN/Inf, too short for one STFT window, silent or too quiet input, or a
            channel that does not exist.
    """
    from gaia_audio import audio
    from gaia_audio.errors import AudioError

    y = np.asarray(y, dtype=np.float32)
    notes = []
    if y.ndim == 2 and y.shape[0] == 1:
        y = y[0]
    elif y.ndim == 2:
        if channel is not None:
            if not -y.shape[0] <= channel < y.shape[0]:
                raise AudioError(f"channel {channel} out of range: the input has {y.shape[0]} channels, numbered from 0", name)
            notes.append(f"{name}: channel {channel} of {y.shape[0]} used")
            y = y[channel]
        else:
            notes.append(f"{name}: {y.shape[0]} channels mixed down to mono (pick one with --channel)")
            y = y.mean(axis=0)
    if y.ndim != 1:
        raise AudioError(f"expected samples of shape (n,) or (channels, n), got {y.shape}", name)
    if y.size == 0:
        raise AudioError("empty input (0 samples)", name)
    if not np.all(np.isfinite(y)):
        raise AudioError("input holds NaN or Inf samples", name)
    if int(sr) != vm.sr:
        notes.append(f"{name}: resampled from {int(sr)} Hz to the model's {vm.sr} Hz")
        y = audio.resample(y, int(sr), vm.sr)
    if y.size < vm.win_length:
        raise AudioError(f"too short: {1000 * y.size / vm.sr:.1f} ms, less than one analysis window "
                         f"({1000 * vm.win_length / vm.sr:.1f} ms)", name)
    if not np.any(y):
        raise AudioError("silent input (all samples are zero)", name)
    S = vm.spectrogram(y)
    loudest = float(S.max())
    if loudest < vm.quiet_threshold:
        raise AudioError(f"too quiet for the model: its loudest bin is {vm.level_db(loudest):.0f} dB, within "
                         f"{vm.quiet_db:.0f} dB of the front end's floor ({vm.min_db:.0f} dB; 0 dB = full-scale "
                         f"sine); amplify it (e.g. normalise its peak) and try again", name)
    return Endpoint(name, y, S, notes)


class _UnitSeries:
    """Steps between two single units: one time-normalised tile per step, duration interpolated."""

    def __init__(self, vm: "VocalModel", a: Endpoint, b: Endpoint, path: str):
        self.vm, self.a, self.b, self.path = vm, a, b, path
        self.z = vm.encode_tiles(torch.stack([vm.to_tile(a.S), vm.to_tile(b.S)]))  # (2, D)

    def decode(self, alphas: np.ndarray) -> torch.Tensor:
        """(S, 1, n_freq, n_frames) decoded tiles at positions ``alphas``."""
        return self.vm.decode_codes(interpolate(self.z[0], self.z[1], alphas, self.path))

    def spectrogram(self, tiles: torch.Tensor, alpha: float) -> tuple[np.ndarray, int]:
        """The step's (n_freq, T) spectrogram at its interpolated duration, and its length in samples."""
        n = _lerp_length(len(self.a.y), len(self.b.y), alpha)
        return self.vm.from_tile(tiles, self.vm.frames_for(n)), n


class _AlignedSeries:
    """Steps between two long inputs: DTW-aligned windows, interpolated pairwise, overlap-added."""

    def __init__(self, vm: "VocalModel", a: Endpoint, b: Endpoint, path: str):
        self.vm, self.a, self.b, self.path = vm, a, b, path
        S_a, S_b = a.S.cpu().numpy(), b.S.cpu().numpy()
        self.windows = aligned_windows(dtw_path(S_a, S_b, source=f"{a.name}, {b.name}"), vm.n_frames)
        tiles_a = torch.stack([vm.stretch_tile(a.S[:, i0:i1]) for i0, i1, _, _ in self.windows])
        tiles_b = torch.stack([vm.stretch_tile(b.S[:, j0:j1]) for _, _, j0, j1 in self.windows])
        self.z_a, self.z_b = vm.encode_tiles(tiles_a), vm.encode_tiles(tiles_b)  # (W, D) each

    def decode(self, alphas: np.ndarray) -> torch.Tensor:
        """(S, W, 1, n_freq, n_frames) decoded window tiles at positions ``alphas``."""
        z = interpolate(self.z_a, self.z_b, alphas, self.path)                  # (S, W, D)
        tiles = self.vm.decode_codes(z.reshape(-1, z.shape[-1]))
        return tiles.reshape(z.shape[0], z.shape[1], *tiles.shape[1:])

    def spectrogram(self, tiles: torch.Tensor, alpha: float) -> tuple[np.ndarray, int]:
        """Overlap-add the decoded windows on the time axis warped by ``alpha``."""
        n = _lerp_length(len(self.a.y), len(self.b.y), alpha)
        total = self.vm.frames_for(n)
        pieces, offsets = [], []
        for tile, (i0, i1, j0, j1) in zip(tiles, self.windows):
            start = round((1 - alpha) * i0 + alpha * j0)
            length = max(1, round((1 - alpha) * (i1 - i0) + alpha * (j1 - j0)))
            pieces.append(self.vm.from_tile(tile, length))
            offsets.append(int(min(max(start, 0), total - 1)))
        return overlap_add(pieces, offsets, total), n


def _lerp_length(n_a: int, n_b: int, alpha: float) -> int:
    """Samples of a step: linear in α between the endpoints' lengths (at least 1)."""
    return max(1, int(round(n_a + alpha * (n_b - n_a))))


def _finish(vm: "VocalModel", tiles: torch.Tensor, spectrograms: list[np.ndarray], lengths: list[int],
            rows: list[dict], targets: dict[int, Endpoint], name: str, notes: list[str]) -> MorphResult:
    """Invert each step and fill in the manifest columns every kind of morph shares."""
    from gaia_audio import audio
    from gaia_audio.inversion import spectral_convergence_db

    n_steps = tiles.shape[0]
    realism = vm.realism(tiles.reshape(-1, *tiles.shape[-3:]))
    realism = None if realism is None else realism.reshape(n_steps, -1).mean(axis=1)
    waveforms = vm.invert_many(spectrograms, lengths)
    for k, row in enumerate(rows):
        row["pair"] = name
        row["duration_s"] = len(waveforms[k]) / vm.sr
        row["level_db"] = float(audio.rms_db(waveforms[k]))
        row["realism"] = float(realism[k]) if realism is not None else None
        row.setdefault("distance_prev", None)
        fidelity = None
        if k in targets:
            fidelity = spectral_convergence_db(vm.magnitude(targets[k].S.cpu().numpy()), vm.magnitude(spectrograms[k]))
        row["fidelity_db"] = fidelity
    return MorphResult(waveforms, vm.sr, rows, spectrograms, notes, name, hop_length=vm.hop_length,
                       freq_range=vm.freq_range)


@torch.no_grad()
def morph_pair(vm: "VocalModel", a: Endpoint, b: Endpoint, steps: int = 16,
               alpha_range: tuple[float, float] = (0.0, 1.0), path: str = "lerp", spacing: str = "uniform",
               name: str | None = None) -> MorphResult:
    """A continuum of ``steps`` sounds from ``a`` (α = 0) to ``b`` (α = 1).

    Args:
        vm: the model.
        a, b: endpoints from :func:`make_endpoint`.
        steps: sounds in the series, both ends of ``alpha_range`` included.
        alpha_range: first and last α; beyond [0, 1] extrapolates.
        path: "lerp" or "slerp".
        spacing: "uniform" in α, or "equal" arc length along the decoded path.
        name: the pair's name in the manifest (default "a_to_b" from the endpoints' names).
    Returns:
        The waveforms and their manifest rows (alpha, duration, level, realism, distance to the
        previous step, and fidelity to the original for steps at α = 0 or 1).
    """
    if spacing not in SPACINGS:
        raise DataError(f"unknown spacing '{spacing}' (use {' or '.join(SPACINGS)})")
    alphas = step_alphas(steps, alpha_range)
    interpolate(torch.zeros(1), torch.zeros(1), alphas[:1], path)  # checks the path name early
    short = max(a.n_frames, b.n_frames) <= vm.max_unit_frames
    series = (_UnitSeries if short else _AlignedSeries)(vm, a, b, path)
    if spacing == "equal":
        dense = np.linspace(alphas[0], alphas[-1], max(N_DENSE if short else N_DENSE // 2, steps))
        alphas = equal_arc_alphas(series.decode(dense), dense, steps)
    tiles = series.decode(alphas)
    built = [series.spectrogram(tiles[k], float(alphas[k])) for k in range(steps)]
    distances = step_distances(tiles)
    rows = [{"step": k, "alpha": float(alphas[k]), "distance_prev": None if k == 0 else float(distances[k])}
            for k in range(steps)]
    targets = {k: a for k in range(steps) if abs(alphas[k]) < 1e-9}
    targets.update({k: b for k in range(steps) if abs(alphas[k] - 1) < 1e-9})
    notes = list(dict.fromkeys(a.notes + b.notes + ([] if short else [
        f"{a.name}, {b.name}: longer than one unit ({vm.max_unit_frames * vm.hop_length / vm.sr:.2f} s): aligned by DTW, "
        f"{len(series.windows)} windows overlap-added"])))
    return _finish(vm, tiles, [s for s, _ in built], [n for _, n in built], rows, targets,
                   name or f"{a.name}_to_{b.name}", notes)


@torch.no_grad()
def morph_weights(vm: "VocalModel", endpoints: list[Endpoint], weights: np.ndarray, columns: list[dict],
                  name: str, previous: list[int | None] | None = None) -> MorphResult:
    """Sounds at weighted mixtures of several endpoints' codes (bilinear grids, barycentric morphs).

    Args:
        vm: the model.
        endpoints: N units, each at most a tile long.
        weights: (M, N) mixing weights, each row summing to 1.
        columns: per sound, the manifest columns that place it (e.g. {"u": .., "v": ..}).
        name: the manifest's ``pair`` value.
        previous: per sound, the index of the sound its ``distance_prev`` is measured from.
    Returns:
        The waveforms and manifest rows; rows with a weight of 1 carry their endpoint's fidelity.
    """
    long = [e.name for e in endpoints if e.n_frames > vm.max_unit_frames]
    if long:
        raise DataError(f"grids and barycentric morphs take single units of at most "
                        f"{vm.max_unit_frames * vm.hop_length / vm.sr:.2f} s; too long: {', '.join(long)}")
    z = vm.encode_tiles(torch.stack([vm.to_tile(e.S) for e in endpoints]))  # (N, D)
    w = torch.as_tensor(weights, dtype=z.dtype, device=z.device)
    tiles = vm.decode_codes(w @ z)                                          # (M, 1, H, W)
    lengths = [max(1, int(round(float(np.dot(wk, [len(e.y) for e in endpoints]))))) for wk in weights]
    spectrograms = [vm.from_tile(tiles[k], vm.frames_for(n)) for k, n in enumerate(lengths)]
    flat = tiles.reshape(tiles.shape[0], -1).double()
    rows = []
    for k, extra in enumerate(columns):
        prev = previous[k] if previous else None
        dist = None if prev is None else float((flat[k] - flat[prev]).pow(2).mean().sqrt())
        rows.append({"step": k, **extra, "distance_prev": dist})
    targets = {k: endpoints[int(np.argmax(wk))] for k, wk in enumerate(weights) if np.isclose(wk.max(), 1.0)}
    notes = list(dict.fromkeys(n for e in endpoints for n in e.notes))
    return _finish(vm, tiles, spectrograms, lengths, rows, targets, name, notes)


def morph_grid(vm: "VocalModel", corners: list[Endpoint], steps: int, name: str = "grid") -> MorphResult:
    """A ``steps`` × ``steps`` bilinear grid between four corner units (a, b on top; c, d below).

    Returns:
        steps² sounds in row-major order; columns u (a→b) and v (a→c); ``distance_prev`` is to the
        left neighbour in the same row.
    """
    if len(corners) != 4:
        raise DataError(f"a grid needs exactly 4 corner sounds, got {len(corners)}")
    weights, coords = grid_weights(steps)
    columns = [{"u": float(u), "v": float(v)} for u, v in coords]
    previous = [None if k % steps == 0 else k - 1 for k in range(len(coords))]
    result = morph_weights(vm, corners, weights, columns, name, previous)
    result.stems = [f"step_{k // steps:02d}_{k % steps:02d}" for k in range(len(coords))]
    return result


def morph_barycentric(vm: "VocalModel", endpoints: list[Endpoint], steps: int, name: str = "barycentric") -> MorphResult:
    """Every point of the simplex lattice between three or more units (``steps`` per edge).

    Returns:
        The lattice's sounds; columns w0 … w{N-1} hold each endpoint's weight.
    """
    if len(endpoints) < 3:
        raise DataError(f"a barycentric morph needs 3 or more endpoints, got {len(endpoints)}")
    weights = barycentric_weights(len(endpoints), steps)
    columns = [{f"w{i}": float(w) for i, w in enumerate(wk)} for wk in weights]
    return morph_weights(vm, endpoints, weights, columns, name)
