"""Steer a trained latent space: attribute vectors fitted from per-item labels.

:func:`fit_attribute_vectors` fits, by least squares, the direction in latent space along which a
per-item label grows (numeric labels; categorical ones as one indicator per value), scaled to one
standard deviation of the label; :func:`attributes_run` saves them as JSON beside the model, and
``gaia-audio morph a.wav --attribute NAME`` moves a sound along one
(:func:`gaia_audio.morph.series.morph_attribute`).
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from gaia_audio.analysis.embed import encode_all, load_run
from gaia_audio.errors import DataError
from gaia_audio.io.files import write_text
from gaia_audio.morph.model import ATTRIBUTES_FILE


def _as_numbers(values: list[str]) -> np.ndarray | None:
    """Float array of label strings, or None if any present value is not a number."""
    try:
        return np.array([float(v) if v.strip() != "" else np.nan for v in values])
    except ValueError:
        return None


def fit_attribute_vectors(codes: np.ndarray, labels: dict[str, list[str]]) -> dict[str, dict]:
    """Least-squares directions in latent space along which each label grows.

    For a numeric label y, fits z ≈ a + y·w over the items where y is present and returns
    w·std(y): moving a code by the vector moves the attribute by one standard deviation. A
    categorical label gives one indicator (0/1) attribute per value, named ``label=value``.

    Args:
        codes: (N, code_dim) codes.
        labels: column name → N label strings ("" = missing).
    Returns:
        name → {"vector": (code_dim,) list, "kind": "numeric" | "categorical", "n": items used,
        "std": the label's standard deviation, "r2": fraction of code variance the fit explains}.
    """
    codes = np.asarray(codes, np.float64)
    found: dict[str, dict] = {}
    for column, values in labels.items():
        if len(values) != len(codes):
            raise DataError(f"label column {column!r} has {len(values)} values for {len(codes)} codes")
        numbers = _as_numbers(values)
        if numbers is not None:
            targets = {column: (numbers, "numeric")}
        else:
            present = [v for v in values if v.strip() != ""]
            targets = {f"{column}={v}": (np.array([np.nan if s.strip() == "" else float(s == v) for s in values]),
                                         "categorical") for v in sorted(set(present))}
        for name, (y, kind) in targets.items():
            keep = np.isfinite(y)
            if keep.sum() < 3 or np.std(y[keep]) == 0:
                continue  # nothing to fit: too few items or a constant label
            design = np.stack([np.ones(keep.sum()), y[keep]], axis=1)                 # (n, 2)
            coef, *_ = np.linalg.lstsq(design, codes[keep], rcond=None)              # (2, code_dim)
            residual = codes[keep] - design @ coef
            total = ((codes[keep] - codes[keep].mean(axis=0)) ** 2).sum()
            std = float(np.std(y[keep]))
            if not (np.isfinite(std) and np.all(np.isfinite(coef))):  # labels near 1e308 overflow the fit
                raise DataError(f"label '{name}' holds numbers too large to fit (the fit overflows); rescale them")
            found[name] = {"vector": (coef[1] * std).tolist(), "kind": kind, "n": int(keep.sum()), "std": std,
                           "r2": float(1 - (residual ** 2).sum() / max(total, 1e-30))}
    if not found:
        raise DataError("no label column has at least 3 labelled items with more than one value")
    return found


def read_labels(path: str | os.PathLike) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A labels CSV (a ``path`` column plus label columns) → (label columns, path → row)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such labels file", path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise DataError("labels file needs a 'path' column (as in the manifest) and label columns", path)
        rows = {row["path"]: row for row in reader}
    columns = [c for c in reader.fieldnames if c != "path"]
    if not columns:
        raise DataError("labels file has no label columns besides 'path'", path)
    return columns, rows


def attributes_run(run: str | os.PathLike, labels_csv: str | os.PathLike | None = None,
                   columns: list[str] | None = None, out: str | os.PathLike | None = None,
                   data_root: str | None = None) -> Path:
    """Fit attribute vectors for a run from per-item labels and save them as JSON.

    Args:
        run: run folder or model file.
        labels_csv: CSV with ``path`` (matching the manifest's) and label columns; None uses
            the manifest's own columns named in ``columns``.
        columns: label columns to use (default: all of the labels file's).
        out: output JSON (default ``RUN/attributes.json``).
        data_root: the dataset folder if it moved since training.
    Returns:
        The JSON file written.
    """
    model, _, _, tiles = load_run(run, data_root)
    if labels_csv is not None:
        available, by_path = read_labels(labels_csv)
        index = [i for i, row in enumerate(tiles.rows) if row.get("path") in by_path]
        if not index:
            raise DataError("no path in the labels file matches the run's manifest", labels_csv)
        rows = [by_path[tiles.rows[i]["path"]] for i in index]
    else:
        if not columns:
            raise DataError("give a labels file, or name the manifest's label columns (--column)", run)
        available, index, rows = [c for c in tiles.rows[0] if c != "path"], list(range(len(tiles))), tiles.rows
    columns = list(columns) if columns else available
    missing = [c for c in columns if c not in available]
    if missing:
        raise DataError(f"no label column {missing[0]!r} (have: {', '.join(available)})", labels_csv or run)
    codes = encode_all(model, np.asarray(tiles.tiles[np.asarray(index)]))
    found = fit_attribute_vectors(codes, {c: [str(r.get(c, "") or "") for r in rows] for c in columns})
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    out = Path(out) if out is not None else run_dir / ATTRIBUTES_FILE
    return write_text(out, json.dumps({"code_dim": int(codes.shape[1]), "attributes": found}))
