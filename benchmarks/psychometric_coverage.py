"""Do `gaia-audio fit`'s boundaries land on the truth, and do their 95 % intervals hold it 95 % of the time?

Simulates listeners with a known boundary, slope, guess and lapse on a 16-step continuum (each
dataset: ``--repeats`` answers per step, binomial), fits each with the fit `gaia-audio fit` runs
(:func:`gaia_audio.experiment.psychometric.fit_counts`, free guess and lapse bounded in [0, 0.25],
or both fixed at 0), draws ``--bootstrap`` parametric-bootstrap datasets for the 95 % interval, and
prints a markdown table per condition: the coverage of the boundary's interval (with its binomial
95 % range: 200 datasets resolve coverage to about ±3 points), the share of boundaries within one
step of the truth, the mean absolute error and the median interval width. The conditions:

  * free rates: the listener has guess 0.02 and lapse 0.04; both rates fitted (the default);
  * fixed rates: the listener has no guess or lapse; both fixed at 0 (`--guess 0 --lapse 0`).

    python benchmarks/psychometric_coverage.py                     # 200 datasets, 200 bootstraps
    python benchmarks/psychometric_coverage.py --datasets 50 --bootstrap 100 --repeats 10
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from gaia_audio.experiment.psychometric import bootstrap, fit_counts, psi

STEPS = np.arange(16)
CONDITIONS = {  # name: (listener's boundary, slope, guess, lapse), fit's fixed (guess, lapse) or None = free
    "free rates": ((7.3, 0.9, 0.02, 0.04), (None, None)),
    "fixed rates (0)": ((7.3, 0.9, 0.0, 0.0), (0.0, 0.0)),
}


def run(condition: str, datasets: int, n_boot: int, repeats: int, seed: int) -> dict:
    """Simulate, fit and bootstrap ``datasets`` listeners of one condition; returns the table's row."""
    (boundary, slope, guess, lapse), (fixed_guess, fixed_lapse) = CONDITIONS[condition]
    rng = np.random.default_rng(seed)
    n = np.full(len(STEPS), repeats)
    p = psi(STEPS, boundary, slope, guess, lapse)
    hits, errors, widths = 0, [], []
    start = time.perf_counter()
    for _ in range(datasets):
        k = rng.binomial(n, p)
        fit = fit_counts(STEPS, k, n, guess=fixed_guess, lapse=fixed_lapse)
        lo, hi = bootstrap(fit, STEPS, n, n_boot, rng=rng, guess=fixed_guess, lapse=fixed_lapse).boundary
        hits += lo <= boundary <= hi
        errors.append(fit.boundary - boundary)
        widths.append(hi - lo)
    coverage = hits / datasets
    ci = stats.binomtest(hits, datasets).proportion_ci(0.95)
    return {"condition": condition, "datasets": datasets, "trials": int(n.sum()), "coverage": coverage,
            "coverage_ci": (ci.low, ci.high), "within_1": float(np.mean(np.abs(errors) <= 1)),
            "mae": float(np.mean(np.abs(errors))), "width": float(np.median(widths)),
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20, help="answers per step per dataset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"16-step continuum, {args.repeats} answers per step, boundary 7.3, slope 0.9 per step, "
          f"{args.bootstrap} bootstrap datasets per fit, seed {args.seed}\n")
    print("| condition | datasets | trials each | 95 % interval holds the boundary | (binomial 95 % range) "
          "| within 1 step | mean abs error (steps) | median interval width (steps) | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, condition in enumerate(CONDITIONS):
        r = run(condition, args.datasets, args.bootstrap, args.repeats, args.seed + i)
        print(f"| {r['condition']} | {r['datasets']} | {r['trials']} | {100 * r['coverage']:.1f} % "
              f"| {100 * r['coverage_ci'][0]:.1f}–{100 * r['coverage_ci'][1]:.1f} % | {100 * r['within_1']:.1f} % "
              f"| {r['mae']:.2f} | {r['width']:.2f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
