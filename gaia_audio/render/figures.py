"""Figures as PNG files (matplotlib's Agg canvas, no display needed): spectrograms first.

Every function draws on a fresh ``matplotlib.figure.Figure`` (never pyplot's global state, so it
is safe in worker processes and tests) and writes it atomically: a temporary file in the same
folder, then renamed (:func:`gaia_audio.io.files.atomic_write`).
matplotlib is imported inside the functions (it takes about half
a second), so importing this module costs nothing until something is drawn; a command that will
draw later can start a :class:`~gaia_audio.render.worker.Worker` first (re-exported here), which
imports matplotlib in a child process while the command itself imports torch and computes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaia_audio.errors import GaiaError
from gaia_audio.io.files import atomic_write
from gaia_audio.render.worker import Worker  # noqa: F401  (figures.Worker: where commands have always found it)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plain_text(text: str | None) -> str:
    """``text`` as matplotlib should draw it, literally: a ``$`` in a file name or a title would
    otherwise start mathtext (and a lone one raise)."""
    return "" if text is None else str(text).replace("$", r"\$")


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write ``fig`` atomically; the format follows the extension (.png, .pdf, .svg).

    Raises:
        GaiaError: the extension is not a format matplotlib writes, or the write failed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    canvas = FigureCanvasAgg(fig)  # also attaches the Agg canvas to the figure
    if fmt not in canvas.get_supported_filetypes():
        raise GaiaError(f"cannot write a figure as '{path.suffix or path.name}' (use .png, .pdf or .svg)", path)
    with atomic_write(path, suffix=f".tmp.{fmt}") as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)
    return path


def spectrogram_figure(S: np.ndarray, sr: int, hop_length: int, frequencies: np.ndarray,
                       title: str | None = None, db_range: tuple[float, float] | None = None) -> Figure:
    """A labelled spectrogram: time in s, frequency in kHz, colour bar in dB (or [0, 1]).

    Args:
        S: (n_freq, T) spectrogram in [0, 1] (a front end's output for one signal).
        sr, hop_length: to put frame t at t·hop_length/sr seconds.
        frequencies: (n_freq,) Hz of each row (linear or mel spacing; rows are drawn at their
            true frequencies).
        title: text above the axes.
        db_range: (min_db, ref_db) the [0, 1] scale spans, to label the colour bar in dB.
    Returns:
        the figure.
    """
    from matplotlib.figure import Figure

    S = np.asarray(S, dtype=np.float32)
    if S.ndim != 2:
        raise ValueError(f"expected a (n_freq, T) spectrogram, got shape {S.shape}")
    n_freq, n_time = S.shape
    times = np.arange(n_time + 1) * hop_length / sr - 0.5 * hop_length / sr  # frame edges, s
    f = np.asarray(frequencies, dtype=np.float64) / 1000.0
    edges = np.concatenate([[f[0] - (f[1] - f[0]) / 2 if n_freq > 1 else f[0] - 0.05],
                            (f[1:] + f[:-1]) / 2,
                            [f[-1] + (f[-1] - f[-2]) / 2 if n_freq > 1 else f[0] + 0.05]])  # kHz
    values, label = S, "level (0 = floor, 1 = reference)"
    if db_range is not None:
        lo, hi = db_range
        values, label = lo + S * (hi - lo), "level (dB re full-scale sine)"
    width = float(np.clip(3 + n_time / 150, 5, 14))
    fig = Figure(figsize=(width, 3.6), layout="constrained")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(times, edges, values, cmap="magma", shading="flat", rasterized=True,
                         vmin=None if db_range is None else db_range[0], vmax=None if db_range is None else db_range[1])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    if title:
        ax.set_title(plain_text(title), fontsize=10)
    fig.colorbar(mesh, ax=ax, label=label, pad=0.01)
    return fig


def plot_spectrogram(S: np.ndarray, frontend, path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw one signal's front-end spectrogram to an image file (atomically).

    Args:
        S: (n_freq, T) spectrogram in [0, 1], or (1, n_freq, T).
        frontend: the ``spectral.frontend.Spectrogram`` that made S (for sr, hop, frequencies, dB range).
        path: the image file (.png, .pdf or .svg).
        title: text above the axes.
    Returns:
        the path written.
    """
    S = np.asarray(S.detach().cpu() if hasattr(S, "detach") else S, dtype=np.float32).reshape(-1, np.shape(S)[-1])
    fig = spectrogram_figure(S, frontend.sr, frontend.hop_length, frontend.frequencies, title,
                             (frontend.min_db, frontend.ref_db))
    return save_figure(fig, path)


def continuum_strip(strips: list[tuple[str, list[np.ndarray], list]], path: str | os.PathLike, sr: int,
                    hop_length: int | None = None, freq_range: tuple[float, float] | None = None,
                    title: str | None = None) -> Path:
    """Draw continua as spectrogram strips: one row per continuum, its steps side by side.

    Args:
        strips: per continuum (name, [S_k (n_freq, T_k) in [0, 1], ...], [alpha_k or None, ...]);
            steps are labelled with their α above (or their index where α is None).
        path: the image file (.png, .pdf or .svg), written atomically.
        sr: sample rate of the sounds.
        hop_length: STFT hop in samples (x axis in seconds when given, else in frames).
        freq_range: (fmin, fmax) in Hz that the spectrogram rows span (y axis in kHz when given).
        title: text above the figure.
    Returns:
        the path written.
    """
    from matplotlib.figure import Figure

    seconds = hop_length / sr if hop_length else 1.0
    n_steps, n_rows = max(len(specs) for _, specs, _ in strips), len(strips)
    fig_w, fig_h = min(24.0, 2.0 + 0.9 * n_steps), 0.5 + 1.9 * n_rows  # inches
    # Fixed margins in inches, not constrained layout: that lays out by drawing the figure an
    # extra time (~0.3 s of a morph). Above each axes: α ticks, α label, row name; below: ticks.
    left, right, below, above = 0.6, 0.25, 0.5, 0.65 + (0.3 if title else 0.0)
    row_gap = 0.95  # the upper row's tick labels, then the lower row's labels above its axes
    axes_h = (fig_h - below - above - row_gap * (n_rows - 1)) / n_rows
    fig = Figure(figsize=(fig_w, fig_h))
    axes = fig.subplots(n_rows, 1, squeeze=False, gridspec_kw=dict(
        left=left / fig_w, right=1 - right / fig_w, bottom=below / fig_h, top=1 - above / fig_h,
        hspace=row_gap / axes_h))[:, 0]
    for ax, (name, specs, alphas) in zip(axes, strips):
        width = sum(S.shape[1] for S in specs)
        gap = max(2, width // (12 * len(specs)))
        image = np.full((specs[0].shape[0], width + gap * (len(specs) - 1)), np.nan)  # gaps drawn blank
        x, centres = 0, []
        for S in specs:
            image[:, x:x + S.shape[1]] = S
            centres.append((x + S.shape[1] / 2) * seconds)
            x += S.shape[1] + gap
        lo, hi = (freq_range[0] / 1000, freq_range[1] / 1000) if freq_range else (0, image.shape[0])
        ax.imshow(image, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest",
                  extent=(0, image.shape[1] * seconds, lo, hi))
        numeric = [isinstance(a, (int, float)) for a in alphas]
        top = ax.secondary_xaxis("top")
        top.set_xticks(centres, [f"{a:.2f}" if n else str(k if a is None else a)
                                 for k, (a, n) in enumerate(zip(alphas, numeric))], fontsize=7)
        top.set_xlabel("α" if any(numeric) else "step", fontsize=8)
        ax.set_ylabel("kHz" if freq_range else "bin")
        ax.set_title(plain_text(name), fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s), steps side by side" if hop_length else "frame, steps side by side")
    if title:
        fig.suptitle(plain_text(title))
    return save_figure(fig, path, dpi=110)


def tile_grid(rows: list[tuple[str, Any]], path: str | os.PathLike, title: str | None = None) -> Path:
    """A grid of tiles, one labelled row per entry: a model's ``reconstructions(x)`` (x, D(x), G(x),
    D(G(x))) and interpolation strips, for training previews and ``evaluate --grid``.

    Args:
        rows: (label, tiles) pairs, tiles (N, 1, H, W) or (N, H, W) in [0, 1] (spectrogram tiles,
            frequency up) or (N, 3, H, W) images, as arrays or tensors.
        path: where to write the figure.
        title: text above the grid.
    Returns:
        the path written.
    """
    from matplotlib.figure import Figure

    rows = [(label, _as_images(tiles)) for label, tiles in rows]
    n_cols = max(len(t) for _, t in rows)
    fig = Figure(figsize=(1.2 * n_cols + 1.0, 1.2 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, (label, tiles) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(tiles):
                tile = np.asarray(tiles[c], dtype=np.float32)
                if tile.ndim == 3:  # (3, H, W) image
                    ax.imshow(np.clip(tile.transpose(1, 2, 0), 0, 1))
                else:
                    ax.imshow(tile, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1)
        axes[r][0].set_ylabel(plain_text(label), rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(plain_text(title), fontsize=9)
    fig.subplots_adjust(left=0.12, right=0.99, bottom=0.01, top=0.92 if title else 0.99, wspace=0.05, hspace=0.08)
    return save_figure(fig, path, dpi=100)


def _as_images(tiles: Any) -> np.ndarray:
    """(N, H, W) float32 spectrogram tiles or (N, 3, H, W) images from an array or a tensor."""
    if hasattr(tiles, "detach"):  # a torch tensor (this module does not import torch)
        tiles = tiles.detach().float().cpu().numpy()
    tiles = np.asarray(tiles, dtype=np.float32)
    return tiles[:, 0] if tiles.ndim == 4 and tiles.shape[1] == 1 else tiles


def embedding_scatter(xy: np.ndarray, labels: list[str], path: str | os.PathLike, label_name: str = "label",
                      title: str | None = None, max_categories: int = 20) -> Path:
    """A 2-D embedding (UMAP of codes) as a scatter plot coloured by a label.

    Numeric labels with many values get a colour bar; others one colour per category (a
    legend up to ``max_categories``; beyond that the rest share grey).

    Args:
        xy: (N, 2) projected points.
        labels: N label strings ("" = unlabelled).
        path: where to write the figure.
        label_name: the label's name (legend title / colour bar label).
        title: text above the plot.
    Returns:
        the path written.
    """
    from matplotlib.figure import Figure

    xy = np.asarray(xy, dtype=np.float64)
    fig = Figure(figsize=(6.0, 5.0))
    ax = fig.subplots()
    size = max(2.0, min(30.0, 3000.0 / max(len(xy), 1)))
    try:
        values = np.array([float(v) for v in labels])
    except ValueError:
        values = None
    if values is not None and len(set(labels)) > max_categories:
        points = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=size, cmap="viridis", linewidths=0)
        fig.colorbar(points, ax=ax, label=plain_text(label_name))
    else:
        categories, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
        order = categories[np.argsort(-counts)]
        colours = {c: f"C{i % 10}" for i, c in enumerate(order[:max_categories])}
        for c in order:
            keep = np.array([lab == c for lab in labels])
            ax.scatter(xy[keep, 0], xy[keep, 1], s=size, linewidths=0, color=colours.get(c, "0.7"),
                       label=plain_text(c or "(none)") if c in colours else None)
        if 1 < len(order):
            ax.legend(title=plain_text(label_name), fontsize=7, markerscale=2, loc="best")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_title(plain_text(title or ""), fontsize=10)
    return save_figure(fig, path, dpi=120)


def plot_segmentation(rows: list[tuple[str, Any]], path: str | os.PathLike, title: str | None = None,
                      max_notes: int = 12) -> Path:
    """Draw how recordings were cut into units: one panel per recording, time along x.

    Each panel shows the band energy envelope in dB, the threshold, the kept units shaded green,
    the dropped pieces shaded (and marked above, so short ones stay visible) in one colour per
    reason, dashed lines where a too-long run was split, and grey bars over bridged gaps. The
    reasons are in the legend, and written over the pieces when a panel has few.

    Args:
        rows: (name, record) per recording; a record has the attributes of
            ``gaia_audio.data.segment.SegmentationRecord``: times (n_frames,) s, env_db (n_frames,),
            threshold_db, units [(onset_s, offset_s)], dropped [(onset_s, offset_s, reason)],
            splits [time_s], bridged [(start_s, stop_s)].
        path: the image file (.png, .pdf or .svg), written atomically.
        title: text above the figure.
        max_notes: write the reasons over the pieces in panels with at most this many dropped.
    Returns:
        the path written.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    reasons = list(dict.fromkeys(reason for _, rec in rows for *_, reason in rec.dropped))
    colours = {reason: ("C1", "C3", "C4", "C5", "C6")[i % 5] for i, reason in enumerate(reasons)}
    longest = max((float(rec.times[-1]) if len(rec.times) else 0.0) for _, rec in rows)
    fig = Figure(figsize=(float(np.clip(4 + longest * 1.5, 8, 18)), 1.0 + 2.1 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (name, rec) in zip(axes, rows):
        env = np.asarray(rec.env_db, dtype=np.float64)
        floor = rec.threshold_db - 45.0
        top = max(5.0, float(np.max(env[np.isfinite(env)], initial=0.0)) + 3.0)
        ax.plot(rec.times, np.clip(np.nan_to_num(env, neginf=floor), floor, None), color="0.2", lw=0.6)
        ax.axhline(rec.threshold_db, color="C0", lw=0.8, ls="--")
        for onset, offset in rec.units:
            ax.axvspan(onset, offset, color="C2", alpha=0.25, lw=0)
        for onset, offset, reason in rec.dropped:
            ax.axvspan(onset, offset, color=colours[reason], alpha=0.45, lw=0)
            ax.plot([(onset + offset) / 2], [top - 1.5], marker="v", ms=4, color=colours[reason], ls="none")
            if len(rec.dropped) <= max_notes:
                ax.text((onset + offset) / 2, top - 3.5, reason, rotation=90, ha="center", va="top", fontsize=6,
                        color=colours[reason])
        for time in rec.splits:
            ax.axvline(time, color="C4", lw=0.8, ls=":")
        for start, stop in rec.bridged:
            ax.plot([start, stop], [rec.threshold_db, rec.threshold_db], color="0.5", lw=3, solid_capstyle="butt")
        ax.set_ylim(floor, top)
        ax.set_xlim(0, max(float(rec.times[-1]) if len(rec.times) else 1.0, 1e-3))
        ax.set_ylabel("dB re loud")
        ax.set_title(plain_text(f"{name}: {len(rec.units)} units, {len(rec.dropped)} dropped"), fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    handles = [Line2D([], [], color="0.2", lw=0.8, label="band energy"),
               Line2D([], [], color="C0", ls="--", label="threshold"), Patch(color="C2", alpha=0.25, label="unit")]
    handles += [Patch(color=colours[r], alpha=0.45, label=f"dropped: {r}") for r in reasons]
    handles += [Line2D([], [], color="C4", ls=":", label="split (too long)"),
                Line2D([], [], color="0.5", lw=3, label="gap bridged (< min_silence)")]
    if title:
        fig.suptitle(plain_text(title), fontsize=10)
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=min(4, len(handles)), frameon=False)
    return save_figure(fig, path, dpi=110)
