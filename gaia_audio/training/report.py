"""``RUN/index.html``: a training run at a glance, kept current while it trains.

Loss curves (inline SVG, from ``metrics.jsonl``), the latest preview grid with the
audio of its interpolation strip, the earlier previews, the exported model and, once
``gaia-audio evaluate`` has scored the run, its metrics (and ``evaluation_grid.png``, the paper's
figure, where ``evaluate --grid`` drew it into the run folder). Like a continuum's page it is one
file with relative links only, so it works offline from ``file://``.
"""
from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from gaia_audio.io.files import write_text
from gaia_audio.render.pages import audio_tag, cell, link, page

#: Logged terms drawn first (GAIA's errors and balance, then the baselines'); others follow.
PREFERRED = ("Lr", "Lfr", "Lfs", "L_dist", "L_D", "L_G", "lr_D", "lr_G", "loss", "recon", "kl")


def read_metrics(path: Path) -> list[dict]:
    """The step records of ``metrics.jsonl`` (events such as roll-backs left out; a torn last line skipped)."""
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line being written while we read
            if isinstance(record, dict) and "step" in record and "event" not in record:
                records.append(record)
    return records


def loss_curves(records: list[dict], width: int = 240, height: int = 110) -> str:
    """Small multiples of every logged term against the step, as inline SVG (one per term).

    Written by hand rather than with matplotlib: the page is rewritten at every checkpoint, and a
    plain polyline per term costs microseconds where a matplotlib figure costs about a second.

    Args:
        records: ``metrics.jsonl``'s step records.
        width, height: each panel's size in pixels.
    Returns:
        HTML: a ``<div class="curves">`` of ``<svg>`` panels, titled with the term and its last value.
    """
    keys = [k for k in PREFERRED if any(k in r for r in records)]
    keys += sorted({k for r in records for k in r} - set(keys) - {"step", "time"})
    panels = []
    for key in keys:
        points = [(float(r["step"]), float(r[key])) for r in records
                  if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if not points:
            continue
        (x0, x1), (y0, y1) = ((min(v), max(v)) for v in zip(*points))
        sx = (width - 20) / ((x1 - x0) or 1.0)
        sy = (height - 30) / ((y1 - y0) or 1.0)
        line = " ".join(f"{10 + (x - x0) * sx:.1f},{height - 10 - (y - y0) * sy:.1f}" for x, y in points)
        panels.append(
            f'<svg class="curve" width="{width}" height="{height}" role="img" aria-label="{html.escape(key)}">'
            f'<text x="10" y="14">{html.escape(key)} = {points[-1][1]:.4g}</text>'
            f'<text x="{width - 8}" y="14" text-anchor="end" fill="#777">{y0:.3g} … {y1:.3g}</text>'
            f'<polyline fill="none" stroke="#1f5fa8" stroke-width="1.2" points="{line}"/></svg>')
    return '<div class="curves">' + "".join(panels) + "</div>"


def _evaluation(run_dir: Path) -> list[str]:
    """The evaluation section: metrics from evaluation.json and the paper's grid, where present."""
    path = run_dir / "evaluation.json"
    if not path.is_file():
        return ['<p class="note">Not evaluated yet: <code>gaia-audio evaluate RUN</code> scores the run here.</p>']
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return ['<p class="note">evaluation.json is unreadable.</p>']
    rows = "".join(f'<tr><td class="name">{html.escape(str(k))}</td><td>{cell(v)}</td></tr>'
                   for k, v in result.items() if not isinstance(v, (dict, list)))
    out = [f"<table><tbody>{rows}</tbody></table>"]
    if (run_dir / "evaluation_grid.png").is_file():
        out.append('<img src="evaluation_grid.png" alt="reconstructions and latent interpolations">')
    return out


def write_run_page(run_dir: str | os.PathLike) -> Path:
    """Write (or rewrite) ``RUN/index.html`` from what the run folder holds now.

    Returns:
        The page's path.
    """
    run_dir = Path(run_dir)
    samples = run_dir / "samples"
    records = read_metrics(run_dir / "metrics.jsonl")
    links = [link("config.yaml", "config.yaml"), link("metrics.jsonl", "metrics.jsonl")]
    if (run_dir / "model.safetensors").is_file():
        links.insert(0, "model exported: " + link("model.safetensors", "model.safetensors"))
    step = f"step {records[-1]['step']}" if records else "no step logged yet"
    body = [f"<h1>training run {html.escape(run_dir.name)}</h1>", f'<p class="note">{step} · {" · ".join(links)}</p>',
            "<h2>losses</h2>"]
    if records:
        body.append(f'<p class="note">steps {records[0]["step"]}–{records[-1]["step"]}; each panel is one '
                    "logged term against the step, scaled to its own range</p>")
        body.append(loss_curves(records))
    grids = sorted(samples.glob("step_*.png"))
    if grids:
        latest = grids[-1]
        body += [f"<h2>latest preview ({html.escape(latest.stem)})</h2>",
                 '<p class="note">rows: x, D(x), G(x), D(G(x)) (GAIA) or x, G(x), and an interpolation strip between '
                 "two held-out units; the sound is that strip, unit after unit.</p>",
                 f'<img src="samples/{html.escape(latest.name, quote=True)}" alt="reconstructions and interpolation">']
        if latest.with_suffix(".wav").is_file():
            body.append(audio_tag(f"samples/{latest.stem}.wav"))
        if len(grids) > 1:
            body.append('<p class="note">earlier: ' + ", ".join(link(f"samples/{g.name}", g.stem)
                                                                for g in reversed(grids[:-1])) + "</p>")
    body += ["<h2>evaluation</h2>", *_evaluation(run_dir)]
    return write_text(run_dir / "index.html", page(f"gaia-audio run {run_dir.name}", body))
