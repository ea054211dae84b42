"""Identification responses to fitted psychometric functions: one per participant × pair, and one pooled per pair.

The rows of ``fits.csv`` come from here: the maximum-likelihood ψ (:mod:`.psychometric`) with
parametric-bootstrap intervals of the boundary and slope, the boundary also as an α of the
continuum where the α of the steps is known, and the deviance with its bootstrap p-value.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from gaia_audio.errors import DataError
from gaia_audio.experiment.psychometric import Fit, Intervals, bootstrap, fit_counts, step_to_alpha
from gaia_audio.experiment.responses import POOLED, Response

#: Columns of fits.csv, in order.
FIT_COLUMNS = ("participant", "pair", "n_trials", "boundary_step", "boundary_step_lo", "boundary_step_hi",
               "boundary_alpha", "slope", "slope_lo", "slope_hi", "lapse", "guess", "deviance", "deviance_p",
               "sigmoid", "n_boot")


@dataclass
class FitSettings:
    """How every curve is fitted.

    Attributes:
        sigmoid: "logistic" or "normal".
        guess, lapse: a fixed rate, or None to fit it in [0, max_rate].
        max_rate: the bound of a free rate.
        n_boot: bootstrap datasets per curve.
        level: the intervals' coverage.
        seed: seed of the bootstrap's generator.
    """

    sigmoid: str = "logistic"
    guess: float | None = None
    lapse: float | None = None
    max_rate: float = 0.25
    n_boot: int = 200
    level: float = 0.95
    seed: int = 0


@dataclass
class Curve:
    """One fitted group of identification responses.

    Attributes:
        participant: a participant's name, or :data:`POOLED`.
        pair: the continuum.
        steps, k, n: (S,) the steps answered, "b" answers and trials at each.
        fit, intervals: the ML fit and its bootstrap intervals.
        alphas: {step: α} where the responses give α.
    """

    participant: str
    pair: str
    steps: np.ndarray
    k: np.ndarray
    n: np.ndarray
    fit: Fit
    intervals: Intervals
    alphas: dict[int, float] = field(default_factory=dict)

    def row(self) -> dict:
        """The curve's row of fits.csv (keys :data:`FIT_COLUMNS`)."""
        known = sorted(self.alphas)
        alpha = step_to_alpha(self.fit.boundary, np.array(known, float), np.array([self.alphas[s] for s in known]))
        return {"participant": self.participant, "pair": self.pair, "n_trials": self.fit.n_trials,
                "boundary_step": self.fit.boundary, "boundary_step_lo": self.intervals.boundary[0],
                "boundary_step_hi": self.intervals.boundary[1], "boundary_alpha": alpha, "slope": self.fit.slope,
                "slope_lo": self.intervals.slope[0], "slope_hi": self.intervals.slope[1], "lapse": self.fit.lapse,
                "guess": self.fit.guess, "deviance": self.fit.deviance, "deviance_p": self.intervals.deviance_p,
                "sigmoid": self.fit.sigmoid, "n_boot": self.intervals.n_boot}


def counts(responses: list[Response]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binomial counts of identification responses.

    Returns:
        (steps, k, n), each (S,): the distinct steps ascending, "b" answers and trials at each.
    """
    steps = np.array(sorted({r.steps[0] for r in responses}))
    index = {s: i for i, s in enumerate(steps)}
    k, n = np.zeros(len(steps)), np.zeros(len(steps))
    for r in responses:
        n[index[r.steps[0]]] += 1
        k[index[r.steps[0]]] += r.response
    return steps, k, n


def fit_curves(responses: list[Response], settings: FitSettings, path: str | os.PathLike,
               alphas: dict[str, dict[int, float]] | None = None) -> list[Curve]:
    """Fit the identification responses of every participant × pair, then of every pair pooled.

    Args:
        responses: what :func:`~gaia_audio.experiment.responses.read_responses` returned (discrimination
            rows are left out here).
        settings: how to fit.
        path: the responses file, named in errors.
        alphas: {pair: {step: α}} from the continuum's manifest; default: the α the responses give.
    Returns:
        The curves (none without identification responses): pairs in order of first appearance, each
        pair's participants first (sorted), then the pooled curve.
    Raises:
        DataError: naming ``path``: a group whose answers are all one
            endpoint (or that covers fewer than 2 steps), with its first and last line.
    """
    chosen = [r for r in responses if r.design == "identification"]
    if not chosen:
        return []
    rng = np.random.default_rng(settings.seed)
    curves = []
    for pair in dict.fromkeys(r.pair for r in chosen):
        rows = [r for r in chosen if r.pair == pair]
        pair_alphas = (alphas or {}).get(pair) or {r.steps[0]: r.alpha for r in rows if math.isfinite(r.alpha)}
        people = sorted({r.participant for r in rows})
        for person in people + [POOLED]:
            group = rows if person == POOLED else [r for r in rows if r.participant == person]
            curves.append(_curve(person, pair, group, settings, rng, path, pair_alphas))
    return curves


def _curve(person: str, pair: str, group: list[Response], settings: FitSettings, rng: np.random.Generator,
           path: str | os.PathLike, alphas: dict[int, float]) -> Curve:
    """Fit one group, or raise the DataError that says why it cannot be fitted."""
    steps, k, n = counts(group)
    where = f"participant {person}, pair '{pair}' (lines {group[0].line} to {group[-1].line})"
    if k.sum() == 0 or k.sum() == n.sum():
        side = "a (0)" if k.sum() == 0 else "b (1)"
        raise DataError(f"{where}: every response is endpoint {side}; a curve needs both answers", path)
    if len(steps) < 2:
        raise DataError(f"{where}: only step {steps[0]} was answered; a curve needs at least 2 steps", path)
    fit = fit_counts(steps, k, n, settings.sigmoid, settings.guess, settings.lapse, settings.max_rate)
    intervals = bootstrap(fit, steps, n, settings.n_boot, settings.level, rng, settings.guess, settings.lapse,
                          settings.max_rate)
    return Curve(person, pair, steps, k, n, fit, intervals, alphas)


def curve_rows(curves: list[Curve]) -> list[list]:
    """fits.csv's rows (numbers with 6 significant digits, blanks for unknown values)."""
    def cell(value):
        if isinstance(value, float):
            return "" if not math.isfinite(value) else f"{value:.6g}"
        return value

    return [[cell(curve.row()[c]) for c in FIT_COLUMNS] for curve in curves]

