"""Discrimination along a continuum (AX, ABX): percent correct and d′ per step pair, beside the
discrimination that identification predicts, so a categorical-perception peak reads off one table.

- AX (same/different): hits are "different" answers to k ≠ j, false alarms "different" answers to
  same trials at k or j; d′ = z(H) − z(F), with the log-linear correction (add ½ to each count,
  1 to each total) so rates of 0 or 1 stay finite. This is the yes/no d′; the differencing model
  of same-different (Macmillan & Creelman 2005) gives larger values for the same rates.
- ABX: d′ of the differencing model, solving p(c) = Φ(d′/√2)Φ(d′/2) + Φ(−d′/√2)Φ(−d′/2)
  (Macmillan & Creelman 2005), p(c) log-linear corrected as above.
- Predicted from identification (the Haskins model: listeners discriminate only by covert labels):
  with p_k the fitted P(b) at step k, ABX p(c) = ½ + ½(p_k − p_j)²; AX P("different") is
  p_k(1 − p_j) + p_j(1 − p_k) for k ≠ j and 2p(1 − p) for a same trial, weighted by the trials played.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from gaia_audio.experiment.fits import Curve
from gaia_audio.experiment.responses import POOLED, Response

#: Columns of discrimination.csv, in order.
DISCRIMINATION_COLUMNS = ("participant", "pair", "design", "step_a", "step_b", "n_trials", "percent_correct",
                          "d_prime", "predicted_percent_correct")


def abx_d_prime(pc: float) -> float:
    """d′ of the ABX differencing model for proportion correct ``pc`` (0 at or below chance)."""
    def p_correct(d):
        return special.ndtr(d / math.sqrt(2)) * special.ndtr(d / 2) + special.ndtr(-d / math.sqrt(2)) * special.ndtr(
            -d / 2)

    if pc <= 0.5:
        return 0.0
    pc = min(pc, p_correct(12.0))
    return float(optimize.brentq(lambda d: p_correct(d) - pc, 0.0, 12.0))


def yes_no_d_prime(hits: float, n_signal: float, false_alarms: float, n_noise: float) -> float:
    """z(H) − z(F) with the log-linear correction (NaN where a total is 0)."""
    if n_signal == 0 or n_noise == 0:
        return math.nan
    h, f = (hits + 0.5) / (n_signal + 1), (false_alarms + 0.5) / (n_noise + 1)
    return float(special.ndtri(h) - special.ndtri(f))


def discrimination_rows(responses: list[Response], curves: list[Curve]) -> list[dict]:
    """One row per participant × pair × design × step pair (k < j), then the same pooled per pair.

    Args:
        responses: every response read (identification rows are left out here).
        curves: the identification fits (:func:`~gaia_audio.experiment.fits.fit_curves`); a row's
            prediction uses its participant's curve on its pair (else blank).
    Returns:
        Dicts with keys :data:`DISCRIMINATION_COLUMNS`.
    """
    chosen = [r for r in responses if r.design in ("ax", "abx")]
    by_curve = {(c.participant, c.pair): c for c in curves}
    rows = []
    for (pair, design) in dict.fromkeys((r.pair, r.design) for r in chosen):
        group = [r for r in chosen if r.pair == pair and r.design == design]
        for person in sorted({r.participant for r in group}) + [POOLED]:
            mine = group if person == POOLED else [r for r in group if r.participant == person]
            rows += _rows(person, pair, design, mine, by_curve.get((person, pair)))
    return rows


def _rows(person: str, pair: str, design: str, group: list[Response], curve: Curve | None) -> list[dict]:
    """The rows of one participant (or the pool) on one pair and design."""
    ab = sorted({tuple(sorted(r.steps[:2])) for r in group if r.steps[0] != r.steps[1]})
    out = []
    for k, j in ab:
        p = None if curve is None else dict(zip((k, j), curve.fit.predict(np.array([k, j], float))))
        if design == "abx":
            trials = [r for r in group if sorted(r.steps[:2]) == [k, j]]
            n_correct = sum(bool(r.correct) for r in trials)
            pc = n_correct / len(trials)
            d = abx_d_prime((n_correct + 0.5) / (len(trials) + 1))
            predicted = math.nan if p is None else 0.5 + 0.5 * (p[k] - p[j]) ** 2
        else:
            different = [r for r in group if sorted(r.steps) == [k, j]]
            same = [r for r in group if r.steps[0] == r.steps[1] and r.steps[0] in (k, j)]
            hits, false_alarms = sum(r.response for r in different), sum(r.response for r in same)
            trials = different + same
            pc = (hits + len(same) - false_alarms) / len(trials)
            d = yes_no_d_prime(hits, len(different), false_alarms, len(same))
            predicted = math.nan
            if p is not None:
                p_different = p[k] * (1 - p[j]) + p[j] * (1 - p[k])
                p_same_right = sum(1 - 2 * p[r.steps[0]] * (1 - p[r.steps[0]]) for r in same)
                predicted = (len(different) * p_different + p_same_right) / len(trials)
        out.append({"participant": person, "pair": pair, "design": design, "step_a": k, "step_b": j,
                    "n_trials": len(trials), "percent_correct": 100 * pc, "d_prime": d,
                    "predicted_percent_correct": 100 * predicted})
    return out
