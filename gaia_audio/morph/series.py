"""Morphs between vocalizations: pairs, grids, barycentric lattices and attribute sweeps.

Each builds its series (:mod:`gaia_audio.morph.steps`), places its steps and hands them to
:func:`gaia_audio.morph.finish.finish_series`, which renders them through the series' one path.
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
from gaia_audio.morph.finish import MorphResult, finish_series
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
from gaia_audio.morph.steps import AlignedPair, AttributeLine, UnitPair, WeightedMix
from gaia_audio.morph.tune import TuneSettings, endpoint_fidelity, settings_for, tune_series

#: ``--spacing equal`` notes a continuum whose final steps vary more than this (coefficient of variation)
UNEVEN_CV = 0.2

__all__ = ["MorphResult", "continuum", "morph_attribute", "morph_barycentric", "morph_grid", "morph_pair",
           "morph_weights"]


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
    series = (UnitPair if short else AlignedPair)(vm, a, b, path)
    settings, tuning = settings_for(tune, tune_steps), None
    if settings.steps > 0:
        untuned = endpoint_fidelity(series, {0.0: a, 1.0: b})
        vm, tuning = tune_series(vm, series, settings)
        if settings.detail:
            series.keep_detail()
    if spacing == "equal":
        alphas = equal_alphas(series, alphas, N_DENSE if short else N_DENSE // 2)
    rows = [{"step": k, "alpha": float(alphas[k])} for k in range(steps)]
    targets = {k: a for k in range(steps) if abs(alphas[k]) < 1e-9}
    targets.update({k: b for k in range(steps) if abs(alphas[k] - 1) < 1e-9})
    for k in targets:
        rows[k]["fidelity_untuned_db"] = untuned[0.0 if targets[k] is a else 1.0] if tuning else None
    notes = list(dict.fromkeys(a.notes + b.notes + ([] if short else [
        f"{a.name}, {b.name}: longer than one unit ({vm.max_unit_frames * vm.hop_length / vm.sr:.2f} s): "
        f"aligned by DTW, {len(series.windows)} windows overlap-added"])))
    result = finish_series(series, alphas, rows, targets, name or f"{a.name}_to_{b.name}", notes, [a, b])
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
    rows = [{"step": k, **extra} for k, extra in enumerate(columns)]
    targets = {k: endpoints[int(np.argmax(wk))] for k, wk in enumerate(weights) if np.isclose(wk.max(), 1.0)}
    notes = list(dict.fromkeys(n for e in endpoints for n in e.notes))
    return finish_series(WeightedMix(vm, endpoints), weights, rows, targets, name, notes, endpoints, previous)


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
    multiples = np.linspace(extent[0], extent[1], steps)
    rows = [{"step": k, "alpha": float(e), "attribute": name} for k, e in enumerate(multiples)]
    targets = {k: a for k, e in enumerate(multiples) if abs(e) < 1e-9}
    return finish_series(AttributeLine(vm, a, vector), multiples, rows, targets, f"{a.name}_{name}", list(a.notes), [a])
