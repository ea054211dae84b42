"""Morphs between vocalizations: endpoints, time alignment, latent paths and step spacing.

A morph encodes its endpoints, walks a path between their codes (``lerp`` or ``slerp``, with
α beyond [0, 1] extrapolating), decodes each step, restores its duration and inverts it to a
waveform. The endpoints go through the same encode → decode → invert path as every other step,
so the whole series carries the same processing.

Time: single vocal units (up to the longest unit the model was trained on, ``max_unit_frames``)
are time-normalised into one tile each, and a step's duration goes linearly from one endpoint's
to the other's. Longer inputs are aligned by DTW between their spectrograms (see
:mod:`gaia_audio.morph.align`); tile-wide windows taken at aligned positions are encoded pairwise,
interpolated, decoded and overlap-added on a time axis that is itself interpolated between the
two warps.

Spacing: ``uniform`` steps are evenly spaced in α; ``equal`` steps sit at equal perceptual
distances along the decoded path, so consecutive steps sound equally far apart. The distance is
:func:`gaia_audio.morph.perceptual.perceptual_distance` of the waveforms (mel log-spectral distance
in dB, each sound relative to its own loudest bin, frames compared on normalised time): the path is
decoded at ``N_DENSE`` points, untiled to each point's duration and inverted (PGHI alone, the chain
without its FGLA refinement), and steps are placed by the inverse of the cumulative distance
(DiffMorpher); where the steps' own distances still vary by more than ``EVEN_CV`` the arc is
corrected by them and re-spaced once more (:mod:`gaia_audio.morph.paths`). The manifest's
``distance_prev`` is the same distance, on the final waveforms, for every kind of morph.
"""
from __future__ import annotations

import numpy as np
import torch

from gaia_audio.errors import DataError
from gaia_audio.morph.align import aligned_windows, dtw_path, overlap_add
from gaia_audio.morph.detail import add_detail, residual
from gaia_audio.morph.finish import MorphResult, finish, finish_chunks
from gaia_audio.morph.model import Endpoint, VocalModel, make_endpoint
from gaia_audio.morph.paths import (
    N_DENSE,
    SPACINGS,
    barycentric_weights,
    equal_alphas,
    grid_weights,
    interpolate,
    lattice_previous,
    step_alphas,
    step_cv,
)
from gaia_audio.morph.tune import TuneSettings, endpoint_fidelity, settings_for, tune_series

#: ``--spacing equal`` notes a continuum whose final steps vary more than this (coefficient of variation)
UNEVEN_CV = 0.2

__all__ = ["MorphResult", "continuum", "morph_attribute", "morph_barycentric", "morph_grid", "morph_pair",
           "morph_weights"]


# ---- endpoints and series -------------------------------------------------------------------


class _UnitSeries:
    """Steps between two single units: one time-normalised tile per step, duration interpolated."""

    def __init__(self, vm: VocalModel, a: Endpoint, b: Endpoint, path: str):
        self.vm, self.a, self.b, self.path = vm, a, b, path
        self.x = torch.stack([vm.to_tile(a.S), vm.to_tile(b.S)])   # (2, 1, n_freq, n_frames)
        self.z = vm.encode_tiles(self.x)                            # (2, D)
        self.residuals = None                                       # R_a, R_b once details are kept

    def keep_detail(self) -> None:
        """Add back from now on what the decoder misses of each endpoint (:mod:`gaia_audio.morph.detail`)."""
        tiles = self.decode(np.array([0.0, 1.0]))
        self.residuals = [residual(e.S.cpu().numpy(), self.vm.from_tile(tile, e.S.shape[1]))
                          for e, tile in zip((self.a, self.b), tiles)]

    def pivots(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The endpoints' codes (1, D) each and tiles (1, 1, n_freq, n_frames) each, for tuning."""
        return self.z[:1], self.z[1:], self.x[:1], self.x[1:]

    def retune(self, vm: VocalModel, z_a: torch.Tensor, z_b: torch.Tensor) -> None:
        """Decode from now on with ``vm`` (a tuned decoder) at pivots ``z_a``, ``z_b`` (1, D)."""
        self.vm, self.z = vm, torch.cat([z_a, z_b])

    def decode(self, alphas: np.ndarray) -> torch.Tensor:
        """(S, 1, n_freq, n_frames) decoded tiles at positions ``alphas``."""
        return self.vm.decode_codes(interpolate(self.z[0], self.z[1], alphas, self.path))

    def spectrogram(self, tiles: torch.Tensor, alpha: float) -> tuple[np.ndarray, int]:
        """The step's (n_freq, T) spectrogram at its interpolated duration, and its length in samples."""
        n = _lerp_length(len(self.a.y), len(self.b.y), alpha)
        S = self.vm.from_tile(tiles, self.vm.frames_for(n))
        return (S if self.residuals is None else add_detail(S, alpha, *self.residuals)), n


class _AlignedSeries:
    """Steps between two long inputs: DTW-aligned windows, interpolated pairwise, overlap-added."""

    def __init__(self, vm: VocalModel, a: Endpoint, b: Endpoint, path: str):
        self.vm, self.a, self.b, self.path = vm, a, b, path
        S_a, S_b = a.S.cpu().numpy(), b.S.cpu().numpy()
        self.windows = aligned_windows(dtw_path(S_a, S_b, source=f"{a.name}, {b.name}"), vm.n_frames)
        tiles_a = torch.stack([vm.to_tile(a.S[:, i0:i1]) for i0, i1, _, _ in self.windows])
        tiles_b = torch.stack([vm.to_tile(b.S[:, j0:j1]) for _, _, j0, j1 in self.windows])
        self.z_a, self.z_b = vm.encode_tiles(tiles_a), vm.encode_tiles(tiles_b)  # (W, D) each
        self.x_a, self.x_b = tiles_a, tiles_b                                    # (W, 1, n_freq, n_frames)
        self.residuals = None                                # per window (R_a, R_b) once details are kept

    def keep_detail(self) -> None:
        """Add back from now on what the decoder misses of each endpoint's windows, on each window's
        own frames (:mod:`gaia_audio.morph.detail`)."""
        tiles = self.decode(np.array([0.0, 1.0]))                               # (2, W, 1, n_freq, n_frames)
        S_a, S_b = self.a.S.cpu().numpy(), self.b.S.cpu().numpy()
        self.residuals = [(residual(S_a[:, i0:i1], self.vm.from_tile(t_a, i1 - i0)),
                           residual(S_b[:, j0:j1], self.vm.from_tile(t_b, j1 - j0)))
                          for t_a, t_b, (i0, i1, j0, j1) in zip(tiles[0], tiles[1], self.windows)]

    def pivots(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The aligned windows' codes (W, D) and tiles (W, 1, n_freq, n_frames) of each endpoint."""
        return self.z_a, self.z_b, self.x_a, self.x_b

    def retune(self, vm: VocalModel, z_a: torch.Tensor, z_b: torch.Tensor) -> None:
        """Decode from now on with ``vm`` (a tuned decoder) at pivots ``z_a``, ``z_b`` (W, D)."""
        self.vm, self.z_a, self.z_b = vm, z_a, z_b

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
        for w, (tile, (i0, i1, j0, j1)) in enumerate(zip(tiles, self.windows)):
            start = round((1 - alpha) * i0 + alpha * j0)
            length = max(1, round((1 - alpha) * (i1 - i0) + alpha * (j1 - j0)))
            piece = self.vm.from_tile(tile, length)
            pieces.append(piece if self.residuals is None else add_detail(piece, alpha, *self.residuals[w]))
            offsets.append(int(min(max(start, 0), total - 1)))
        return overlap_add(pieces, offsets, total), n


def _lerp_length(n_a: int, n_b: int, alpha: float) -> int:
    """Samples of a step: linear in α between the endpoints' lengths (at least 1)."""
    return max(1, int(round(n_a + alpha * (n_b - n_a))))


@torch.no_grad()
def morph_pair(vm: VocalModel, a: Endpoint, b: Endpoint, steps: int = 16,
               alpha_range: tuple[float, float] = (0.0, 1.0), path: str = "lerp", spacing: str = "equal",
               name: str | None = None, tune_steps: int | None = None, tune: TuneSettings | None = None) -> MorphResult:
    """A continuum of ``steps`` sounds from ``a`` (α = 0) to ``b`` (α = 1).

    Unless ``tune_steps`` is 0, a copy of the decoder is first tuned to the pair
    (:mod:`gaia_audio.morph.tune`), so that the ends are the recordings; the model is not changed.

    Args:
        vm: the model.
        a, b: endpoints from :func:`make_endpoint`.
        steps: sounds in the series, both ends of ``alpha_range`` included.
        alpha_range: first and last α; beyond [0, 1] extrapolates.
        path: "lerp" or "slerp".
        spacing: "equal" perceptual distances between consecutive steps (the default), or "uniform" in α.
        name: the pair's name in the manifest (default "a_to_b" from the endpoints' names).
        tune_steps: decoder tuning steps (None: ``tune``'s, by default ``tune.DEFAULT_TUNE_STEPS``; 0: none).
        tune: all tuning settings (``tune.TuneSettings``).
    Returns:
        The waveforms and their manifest rows (alpha, duration, level, realism, distance to the
        previous step, and fidelity to the original for steps at α = 0 or 1, before tuning too);
        ``result.tuning`` records the tuning (None without).
    """
    if spacing not in SPACINGS:
        raise DataError(f"unknown spacing '{spacing}' (use {' or '.join(SPACINGS)})")
    alphas = step_alphas(steps, alpha_range)
    interpolate(torch.zeros(1), torch.zeros(1), alphas[:1], path)  # checks the path name early
    short = max(a.n_frames, b.n_frames) <= vm.max_unit_frames
    series = (_UnitSeries if short else _AlignedSeries)(vm, a, b, path)
    settings, tuning = settings_for(tune, tune_steps), None
    if settings.steps > 0:
        untuned = endpoint_fidelity(vm, series, {0.0: a, 1.0: b})
        vm, tuning = tune_series(vm, series, settings)
        if settings.detail:
            series.keep_detail()
    if spacing == "equal":
        alphas = equal_alphas(vm, series, alphas, N_DENSE if short else N_DENSE // 2)
    rows = [{"step": k, "alpha": float(alphas[k])} for k in range(steps)]
    targets = {k: a for k in range(steps) if abs(alphas[k]) < 1e-9}
    targets.update({k: b for k in range(steps) if abs(alphas[k] - 1) < 1e-9})
    for k in targets:
        rows[k]["fidelity_untuned_db"] = untuned[0.0 if targets[k] is a else 1.0] if tuning else None
    notes = list(dict.fromkeys(a.notes + b.notes + ([] if short else [
        f"{a.name}, {b.name}: longer than one unit ({vm.max_unit_frames * vm.hop_length / vm.sr:.2f} s): "
        f"aligned by DTW, {len(series.windows)} windows overlap-added"])))

    def build(ks: slice):  # the steps in ks, decoded and untiled to their durations (a chunk at a time)
        tiles = series.decode(alphas[ks])
        built = [series.spectrogram(tile, float(alpha)) for tile, alpha in zip(tiles, alphas[ks])]
        return tiles, [S for S, _ in built], [n for _, n in built]

    result = finish_chunks(vm, build, rows, targets, name or f"{a.name}_to_{b.name}", notes, [a, b])
    result.tuning = tuning
    result.recordings = [(e.name, e.S.cpu().numpy()) for e in (a, b)]
    if spacing == "equal":
        _note_uneven(result)
    return result


def _note_uneven(result: MorphResult) -> None:
    """Say so when ``--spacing equal`` could not make the steps even (a path that jumps, or very few steps)."""
    distances = [row["distance_prev"] for row in result.rows[1:]
                 if isinstance(row.get("distance_prev"), (int, float))]
    cv = step_cv(distances) if len(distances) >= 2 else 0.0
    if cv > UNEVEN_CV:
        shown = " / ".join(f"{d:.1f}" for d in distances) if len(distances) <= 6 else \
            f"{min(distances):.1f} to {max(distances):.1f}"
        result.notes.append(f"{result.name}: steps are not evenly spaced (distances {shown} dB, CV {cv:.2f}): the path "
                            f"changes faster than the steps can follow; more --steps spread it")


@torch.no_grad()
def morph_weights(vm: VocalModel, endpoints: list[Endpoint], weights: np.ndarray, columns: list[dict],
                  name: str, previous: list[int | None] | None = None) -> MorphResult:
    """Sounds at weighted mixtures of several endpoints' codes (bilinear grids, barycentric morphs).

    Args:
        vm: the model.
        endpoints: N units, each at most a tile long.
        weights: (M, N) mixing weights, each row summing to 1.
        columns: per sound, the manifest columns that place it (e.g. {"u": .., "v": ..}).
        name: the manifest's ``pair`` value.
        previous: per sound, the index of the sound its ``distance_prev`` is measured from
            (None in the list: no distance); default: the sound before.
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
    rows = [{"step": k, **extra} for k, extra in enumerate(columns)]
    targets = {k: endpoints[int(np.argmax(wk))] for k, wk in enumerate(weights) if np.isclose(wk.max(), 1.0)}
    notes = list(dict.fromkeys(n for e in endpoints for n in e.notes))
    return finish(vm, tiles, spectrograms, lengths, rows, targets, name, notes, endpoints, previous)


def morph_grid(vm: VocalModel, corners: list[Endpoint], steps: int, name: str = "grid") -> MorphResult:
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


def morph_barycentric(vm: VocalModel, endpoints: list[Endpoint], steps: int, name: str = "barycentric") -> MorphResult:
    """Every point of the simplex lattice between three or more units (``steps`` per edge).

    Returns:
        The lattice's sounds; columns w0 … w{N-1} hold each endpoint's weight; ``distance_prev``
        is to the latest earlier lattice neighbour (one share of weight moved).
    """
    if len(endpoints) < 3:
        raise DataError(f"a barycentric morph needs 3 or more endpoints, got {len(endpoints)}")
    weights = barycentric_weights(len(endpoints), steps)
    columns = [{f"w{i}": float(w) for i, w in enumerate(wk)} for wk in weights]
    return morph_weights(vm, endpoints, weights, columns, name, lattice_previous(weights))


def continuum(vm: VocalModel, y_a: np.ndarray, y_b: np.ndarray, sr: int, steps: int = 16,
              alpha_range: tuple[float, float] = (0.0, 1.0), path: str = "lerp", spacing: str = "equal",
              names: tuple[str, str] = ("a", "b"), tune_steps: int | None = None,
              tune: TuneSettings | None = None) -> MorphResult:
    """A continuum of ``steps`` sounds from ``y_a`` to ``y_b``, endpoints resynthesized too
    (by a copy of the decoder tuned to the pair unless ``tune_steps`` is 0: see :func:`morph_pair`).

    Args:
        vm: the model (``gaia_audio.load_model``).
        y_a, y_b: (n,) or (channels, n) samples of the two endpoints.
        sr: their sample rate (resampled to ``vm.sr`` if different; see ``result.notes``).
        steps: sounds in the series.
        alpha_range: first and last α (0 = a, 1 = b); beyond [0, 1] extrapolates.
        path: "lerp" or "slerp".
        spacing: "equal" perceptual distances between consecutive steps (the default), or "uniform" in α.
        names: how the manifest rows name the endpoints.
        tune_steps, tune: the per-pair tuning (:func:`morph_pair`).
    Returns:
        ``result.waveforms`` (list of (n_k,) arrays at ``result.sr``) and ``result.rows``.
    """
    a = make_endpoint(vm, y_a, sr, names[0])
    b = make_endpoint(vm, y_b, sr, names[1])
    return morph_pair(vm, a, b, steps, alpha_range, path, spacing, tune_steps=tune_steps, tune=tune)


@torch.no_grad()
def morph_attribute(vm: VocalModel, a: Endpoint, vector: np.ndarray, name: str,
                    extent: tuple[float, float] = (-3.0, 3.0), steps: int = 9) -> MorphResult:
    """Move one sound along an attribute direction: codes z + e·vector for e across ``extent``.

    Args:
        vm: the model.
        a: the sound, from :func:`make_endpoint` (a single unit).
        vector: (code_dim,) attribute vector (one standard deviation of the label;
            ``gaia_audio.analysis.attributes``).
        name: the attribute's name (for the manifest).
        extent: first and last multiple of the vector.
        steps: sounds in the series.
    Returns:
        Rows carry ``alpha`` = the multiple e; the step at e = 0 (if any) is scored for fidelity
        to the input.
    """
    if a.n_frames > vm.max_unit_frames:
        raise DataError(f"{a.name}: attribute morphs take one vocal unit (up to "
                        f"{vm.max_unit_frames * vm.hop_length / vm.sr:.2f} s); segment longer sounds first")
    z = vm.encode_tiles(vm.to_tile(a.S)[None])[0]                                  # (code_dim,)
    multiples = np.linspace(extent[0], extent[1], steps)
    codes = z[None] + torch.as_tensor(multiples, dtype=z.dtype, device=z.device)[:, None] * \
        torch.as_tensor(vector, dtype=z.dtype, device=z.device)[None]
    tiles = vm.decode_codes(codes)
    n = len(a.y)
    spectrograms = [vm.from_tile(tiles[k], vm.frames_for(n)) for k in range(steps)]
    rows = [{"step": k, "alpha": float(e), "attribute": name} for k, e in enumerate(multiples)]
    targets = {k: a for k, e in enumerate(multiples) if abs(e) < 1e-9}
    return finish(vm, tiles, spectrograms, [n] * steps, rows, targets, f"{a.name}_{name}", list(a.notes), [a])
