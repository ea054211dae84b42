"""``gaia-audio fit``'s output folder: fits.csv, discrimination.csv, a figure per pair and a page beside them.

Each pair's figure (``<pair>.png``) shows the proportion of "b" answers per step with 95 %
Clopper–Pearson intervals and the fitted curve, one colour per participant and the pooled curve in
black, the boundary's bootstrap interval as a band; below, the deviance residuals per step (the
goodness of fit: points far beyond ±2 are steps the curve misses); and, where the pair was also
discriminated, percent correct per step pair beside the identification's prediction.
"""
from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path

import numpy as np
from scipy import stats

from gaia_audio.experiment.discrimination import DISCRIMINATION_COLUMNS, discrimination_rows
from gaia_audio.experiment.fits import FIT_COLUMNS, Curve, FitSettings, curve_rows, fit_curves
from gaia_audio.experiment.psychometric import deviance_residuals
from gaia_audio.experiment.responses import POOLED, manifest_alphas, read_responses
from gaia_audio.io.files import write_csv, write_text
from gaia_audio.render.pages import cell, link, page


def fit_responses(responses_csv, out_dir: str | os.PathLike, settings: FitSettings,
                  continuum=None, plot: bool = True) -> list[Path]:
    """Read one or more responses CSVs (sessions, participants), fit them, and write the results into ``out_dir``.

    Args:
        responses_csv: the page's CSV or any with ``pair, step, response`` (:mod:`.responses`), or a
            list of them (each session's download): their rows are pooled.
        out_dir: the folder to write (made if missing; files of the same names are replaced).
        settings: how to fit.
        continuum: a :class:`~gaia_audio.experiment.trials.Continuum`, to check steps against its manifest
            and take α from it; None: steps are only checked to be whole numbers.
        plot: draw the figures.
    Returns:
        The files written: fits.csv (if any identification), discrimination.csv (if any AX/ABX),
        the figures, index.html.
    Raises:
        DataError: naming the file and line of a bad input (:func:`read_responses`, :func:`fit_curves`).
    """
    out = Path(out_dir)
    steps = alphas = None
    if continuum is not None:
        steps = {p: set(s) for p, s in continuum.pairs.items()}
        alphas = manifest_alphas(continuum)
    sources = [Path(p) for p in (responses_csv if isinstance(responses_csv, (list, tuple)) else [responses_csv])]
    responses = [r for source in sources for r in read_responses(source, steps)]
    named = sources[0] if len(sources) == 1 else ", ".join(str(s) for s in sources)  # errors name the files
    curves = fit_curves(responses, settings, named, alphas)
    discrimination = discrimination_rows(responses, curves)
    written = []
    if curves:
        written.append(write_csv(out / "fits.csv", list(FIT_COLUMNS), curve_rows(curves)))
    if discrimination:
        rows = [[_cell(row[c]) for c in DISCRIMINATION_COLUMNS] for row in discrimination]
        written.append(write_csv(out / "discrimination.csv", list(DISCRIMINATION_COLUMNS), rows))
    figures = {}
    if plot:
        for pair in dict.fromkeys([c.pair for c in curves] + [r["pair"] for r in discrimination]):
            figures[pair] = _plot_pair(out / f"{_file_name(pair)}.png", pair, [c for c in curves if c.pair == pair],
                                       [r for r in discrimination if r["pair"] == pair])
            written.append(figures[pair])
    written.append(write_text(out / "index.html", _page(named, curves, discrimination, figures)))
    return written


def _cell(value):
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value


def _file_name(pair: str) -> str:
    """A pair's name as a safe file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", pair).strip("._") or "pair"


def _plot_pair(path: Path, pair: str, curves: list[Curve], discrimination: list[dict]) -> Path:
    """Draw one pair's figure (see the module's docstring) and write it atomically."""
    from matplotlib.figure import Figure

    from gaia_audio.render.figures import save_figure

    panels = (1 if curves else 0) * 2 + (1 if discrimination else 0)
    heights = ([3, 1.4] if curves else []) + ([2.2] if discrimination else [])
    fig = Figure(figsize=(6.4, 1.2 + sum(heights)), layout="constrained")
    axes = fig.subplots(panels, 1, squeeze=False, height_ratios=heights)[:, 0]
    colours = {c.participant: f"C{i % 10}" for i, c in enumerate(c for c in curves if c.participant != POOLED)}
    if curves:
        top, bottom = axes[0], axes[1]
        for c in curves:
            colour = colours.get(c.participant, "black")
            x = np.linspace(c.steps.min(), c.steps.max(), 200)
            top.plot(x, c.fit.predict(x), color=colour, lw=2.2 if c.participant == POOLED else 1.2,
                     label=f"{c.participant} (boundary {c.fit.boundary:.2f})")
            if c.participant == POOLED:
                top.axvspan(*c.intervals.boundary, color="0.85", zorder=0)
                continue
            p = c.k / c.n
            lo = np.where(c.k > 0, stats.beta.ppf(0.025, c.k, c.n - c.k + 1), 0.0)
            hi = np.where(c.k < c.n, stats.beta.ppf(0.975, c.k + 1, c.n - c.k), 1.0)
            top.errorbar(c.steps, p, yerr=[p - lo, hi - p], fmt="o", ms=3.5, color=colour, capsize=2, lw=0.8)
            bottom.plot(c.steps, deviance_residuals(c.k, c.n, c.fit.predict(c.steps)), "o-", ms=3, lw=0.8,
                        color=colour)
        top.set(ylim=(-0.03, 1.03), ylabel="P(endpoint b)", title=f"{pair}: identification")
        top.legend(fontsize=7, loc="upper left")
        bottom.axhline(0, color="0.5", lw=0.8)
        bottom.axhspan(-2, 2, color="0.93", zorder=0)
        bottom.set(xlabel="step", ylabel="deviance\nresidual")
    if discrimination:
        ax = axes[-1]
        for i, person in enumerate(dict.fromkeys(r["participant"] for r in discrimination)):
            rows = [r for r in discrimination if r["participant"] == person]
            colour = colours.get(person, "black" if person == POOLED else f"C{i % 10}")
            centre = [(r["step_a"] + r["step_b"]) / 2 for r in rows]
            ax.plot(centre, [r["percent_correct"] for r in rows], "o-", color=colour, ms=3.5, label=person)
            ax.plot(centre, [r["predicted_percent_correct"] for r in rows], "--", color=colour, lw=1)
        ax.axhline(50, color="0.6", lw=0.8)
        ax.set(xlabel="step pair (centre)", ylabel="% correct", title="discrimination (dashed: predicted)")
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def _page(source, curves: list[Curve], discrimination: list[dict], figures: dict[str, Path]) -> str:
    """index.html: the tables and the figures, relative links only."""
    body = ["<h1>psychometric fits</h1>",
            f'<p class="note">Responses: {html.escape(str(source))}. Boundary = the step where the sigmoid is ½, '
            "with its 95 % parametric-bootstrap interval; deviance_p = share of bootstrap deviances at least the "
            "observed one (small: the curve misses the data).</p>"]
    if curves:
        body += ["<h2>identification</h2>", link("fits.csv", "fits.csv"), _table(FIT_COLUMNS, curve_rows(curves))]
    if discrimination:
        rows = [[_cell(r[c]) for c in DISCRIMINATION_COLUMNS] for r in discrimination]
        body += ["<h2>discrimination</h2>", link("discrimination.csv", "discrimination.csv"),
                 _table(DISCRIMINATION_COLUMNS, rows)]
    for pair, figure in figures.items():
        body += [f"<h2>{html.escape(pair)}</h2>",
                 f'<img src="{html.escape(figure.name, quote=True)}" alt="fits of {html.escape(pair)}">']
    return page("gaia-audio: psychometric fits", body)


def _table(columns, rows) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
