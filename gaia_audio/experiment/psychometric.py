"""Psychometric functions fitted by maximum likelihood on binomial counts, with parametric-bootstrap intervals.

The model of identification along a continuum is

    ψ(x) = guess + (1 − guess − lapse) · F(slope · (x − boundary))

with F the logistic function or the cumulative normal. ``boundary`` is where F = ½ (the category
boundary, in steps), ``slope`` is F's rate per step (the coefficient a logistic or probit
regression on ``step`` reports), ``guess`` the rate of "b" answers far on the a side and ``lapse``
the rate of "a" answers far on the b side. Each rate is either fixed (a number) or free, bounded in
``[0, max_rate]``. ψ is taken to rise with the step (slope > 0).

The fit maximises the binomial likelihood with L-BFGS-B (analytic gradient) from several starts and
then Powell from the best one, keeping the best of all (as the cdcp_paper analysis keeps the best
of several optimisers). Intervals come from a parametric bootstrap: datasets drawn from the fitted
ψ with the observed trials per step, each refitted; the 2.5 and 97.5 percentiles of the refits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits

SIGMOIDS = ("logistic", "normal")
#: Largest slope tried, per step: past it ψ is a step function on an integer grid.
MAX_SLOPE = 20.0
_EPS = 1e-9


@dataclass
class Fit:
    """A fitted psychometric function.

    Attributes:
        boundary: the step where F = ½.
        slope: F's rate per step (> 0).
        guess, lapse: the lower and upper asymptotes' rates (ψ spans guess .. 1 − lapse).
        deviance: 2 × (log-likelihood of the saturated model − that of the fit).
        n_trials: trials fitted.
        sigmoid: "logistic" or "normal".
    """

    boundary: float
    slope: float
    guess: float
    lapse: float
    deviance: float
    n_trials: int
    sigmoid: str = "logistic"

    def predict(self, x: np.ndarray) -> np.ndarray:
        """ψ at steps ``x`` (any shape)."""
        return psi(np.asarray(x, float), self.boundary, self.slope, self.guess, self.lapse, self.sigmoid)


def _cdf(z: np.ndarray, sigmoid: str) -> tuple[np.ndarray, np.ndarray]:
    """F(z) and its derivative F'(z)."""
    if sigmoid == "logistic":
        f = special.expit(z)
        return f, f * (1 - f)
    return special.ndtr(z), np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def psi(x: np.ndarray, boundary: float, slope: float, guess: float, lapse: float,
        sigmoid: str = "logistic") -> np.ndarray:
    """The psychometric function ψ(x) = guess + (1 − guess − lapse) · F(slope · (x − boundary)).

    Args:
        x: steps, any shape.
        boundary, slope, guess, lapse: its parameters.
        sigmoid: "logistic" or "normal" (F).
    Returns:
        ψ, the shape of ``x``.
    """
    return guess + (1 - guess - lapse) * _cdf(slope * (np.asarray(x, float) - boundary), sigmoid)[0]


def deviance(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> float:
    """The binomial deviance of predictions ``p`` for ``k`` successes out of ``n`` (arrays of one shape)."""
    p = np.clip(p, _EPS, 1 - _EPS)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(k > 0, k * np.log(k / (n * p)), 0.0)
        b = np.where(n - k > 0, (n - k) * np.log((n - k) / (n * (1 - p))), 0.0)
    return float(2 * np.sum(a + b))


def deviance_residuals(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Signed square roots of each count's share of the deviance, shape of ``k``."""
    return np.array([np.sign(ki / ni - pi) * np.sqrt(max(deviance(np.array([ki]), np.array([ni]),
                                                                  np.array([pi])), 0.0))
                     for ki, ni, pi in zip(k, n, p)])


class _Problem:
    """The negative log-likelihood of (boundary, slope[, guess][, lapse]) for fixed counts."""

    def __init__(self, x, k, n, sigmoid, guess, lapse):
        self.x, self.k, self.n, self.sigmoid = x, k, n, sigmoid
        self.guess, self.lapse = guess, lapse  # None: free

    def unpack(self, theta: np.ndarray) -> tuple[float, float, float, float]:
        rest = list(theta[2:])
        guess = rest.pop(0) if self.guess is None else self.guess
        lapse = rest.pop(0) if self.lapse is None else self.lapse
        return float(theta[0]), float(theta[1]), float(guess), float(lapse)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        m, s, g, lam = self.unpack(theta)
        f, df = _cdf(s * (self.x - m), self.sigmoid)
        p = np.clip(g + (1 - g - lam) * f, _EPS, 1 - _EPS)
        nll = -float(np.sum(self.k * np.log(p) + (self.n - self.k) * np.log(1 - p)))
        dp = -(self.k / p - (self.n - self.k) / (1 - p))  # d nll / d ψ
        grad = [np.sum(dp * (1 - g - lam) * df * -s), np.sum(dp * (1 - g - lam) * df * (self.x - m))]
        if self.guess is None:
            grad.append(np.sum(dp * (1 - f)))
        if self.lapse is None:
            grad.append(np.sum(dp * -f))
        return nll, np.array(grad, float)


def fit_counts(x: np.ndarray, k: np.ndarray, n: np.ndarray, sigmoid: str = "logistic",
               guess: float | None = None, lapse: float | None = None, max_rate: float = 0.25,
               starts: list[tuple[float, float]] | None = None) -> Fit:
    """The maximum-likelihood ψ for ``k`` "b" answers out of ``n`` trials at steps ``x``.

    Args:
        x: (S,) steps.
        k: (S,) "b" answers at each step.
        n: (S,) trials at each step (> 0).
        sigmoid: "logistic" or "normal".
        guess, lapse: a fixed rate, or None to fit it in [0, max_rate].
        max_rate: the bound of a free rate.
        starts: (boundary, slope) starts to add to the default ones.
    Returns:
        The best :class:`Fit` over every start and optimiser.
    """
    with threadpool_limits(limits=1):  # BLAS threads only contend on these tiny problems (25x slower)
        return _fit_counts(np.asarray(x, float), np.asarray(k, float), np.asarray(n, float), sigmoid, guess, lapse,
                           max_rate, starts)


def _fit_counts(x, k, n, sigmoid, guess, lapse, max_rate, starts, thorough: bool = True) -> Fit:
    """:func:`fit_counts` on float arrays; not ``thorough``: the first default start and ``starts`` only, no Powell."""
    problem = _Problem(x, k, n, sigmoid, guess, lapse)
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1.0)
    bounds = [(lo - span, hi + span), (1e-3, MAX_SLOPE)]
    bounds += [(0.0, max_rate)] * ((guess is None) + (lapse is None))
    p = k / n
    crossing = float(np.interp(0.5, np.maximum.accumulate(p), x)) if p[-1] > p[0] else (lo + hi) / 2
    candidates = [(crossing, 4 / span), ((lo + hi) / 2, 1.0), (crossing, 0.5)][:3 if thorough else 1]
    candidates += list(starts or [])
    rates = [0.02] * ((guess is None) + (lapse is None))
    best = None
    for m0, s0 in candidates:
        theta0 = np.clip([m0, s0, *rates], [b[0] for b in bounds], [b[1] for b in bounds])
        result = optimize.minimize(problem, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
        if best is None or result.fun < best.fun:
            best = result
    theta = best.x
    if thorough:
        polished = optimize.minimize(lambda t: problem(t)[0], best.x, method="Powell", bounds=bounds)
        theta = polished.x if polished.fun < best.fun else best.x
    m, s, g, lam = problem.unpack(theta)
    return Fit(m, s, g, lam, deviance(k, n, psi(x, m, s, g, lam, sigmoid)), int(n.sum()), sigmoid)


@dataclass
class Intervals:
    """Percentile intervals of a parametric bootstrap.

    Attributes:
        boundary, slope: (low, high) at the requested level.
        deviance_p: share of bootstrap deviances at least the observed one (goodness of fit).
        n_boot: datasets drawn.
    """

    boundary: tuple[float, float]
    slope: tuple[float, float]
    deviance_p: float
    n_boot: int


def bootstrap(fit: Fit, x: np.ndarray, n: np.ndarray, n_boot: int = 200, level: float = 0.95,
              rng: np.random.Generator | None = None, guess: float | None = None, lapse: float | None = None,
              max_rate: float = 0.25) -> Intervals:
    """Parametric-bootstrap intervals of ``fit``: refit ``n_boot`` datasets drawn from it.

    Args:
        fit: the fit to the observed counts.
        x: (S,) steps; n: (S,) trials per step, as observed.
        n_boot: datasets to draw (at least 1).
        level: the intervals' coverage, e.g. 0.95.
        rng: the generator the datasets are drawn from (default: seeded with 0).
        guess, lapse, max_rate: as given to :func:`fit_counts` (a fixed rate stays fixed).
    Returns:
        The :class:`Intervals`.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    x, n = np.asarray(x, float), np.asarray(n, int)
    p = fit.predict(x)
    boundaries, slopes, deviances = [], [], []
    with threadpool_limits(limits=1):
        for _ in range(n_boot):
            k = rng.binomial(n, p).astype(float)
            refit = _fit_counts(x, k, n.astype(float), fit.sigmoid, guess, lapse, max_rate,
                                [(fit.boundary, fit.slope)], thorough=False)
            boundaries.append(refit.boundary)
            slopes.append(refit.slope)
            deviances.append(refit.deviance)
    tails = [50 * (1 - level), 100 - 50 * (1 - level)]
    b_lo, b_hi = np.percentile(boundaries, tails)
    s_lo, s_hi = np.percentile(slopes, tails)
    return Intervals((float(b_lo), float(b_hi)), (float(s_lo), float(s_hi)),
                     float(np.mean(np.array(deviances) >= fit.deviance)), n_boot)


def step_to_alpha(value: float, steps: np.ndarray, alphas: np.ndarray) -> float:
    """Map a (fractional) step onto α, linearly between listed steps and beyond the ends.

    Args:
        value: a step, e.g. a boundary of 7.4.
        steps: (S,) steps with a known α, ascending; alphas: (S,) their α.
    Returns:
        α at ``value`` (NaN if fewer than two steps are known).
    """
    if len(steps) < 2 or not np.isfinite(value):
        return float("nan")
    if value < steps[0]:
        i = 0
    elif value > steps[-1]:
        i = len(steps) - 2
    else:
        return float(np.interp(value, steps, alphas))
    return float(alphas[i] + (value - steps[i]) * (alphas[i + 1] - alphas[i]) / (steps[i + 1] - steps[i]))
