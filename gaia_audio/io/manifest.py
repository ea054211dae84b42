"""The tables gaia-audio reads and writes: a dataset's manifest of vocal units, a continuum's
manifest of stimulus files (a PsychoPy conditions file), and the pairs table of ``continuum``.

Paths inside a manifest are relative to its folder and may not leave it.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from gaia_audio.errors import DataError
from gaia_audio.io.files import atomic_write, read_text

#: Columns of a dataset's manifest.csv, in order.
MANIFEST_COLUMNS = ("path", "source", "onset", "offset", "sr", "duration", "label")
HELDOUT_EVERY = 3


def write_split(rows: list[dict], folder: str | os.PathLike) -> tuple[Path, ...]:
    """Write ``manifest_train.csv`` and ``manifest_heldout.csv`` (rows i % 3 == 2) into ``folder``.

    The shipped models train on the first and are measured on the second
    (``benchmarks/continuum_quality.py``); a preparation writes both before ``manifest.csv``.

    Args:
        rows: the dataset's manifest rows, in the manifest's order.
        folder: the dataset folder.
    Returns:
        the manifests written: none for fewer than three rows (nothing to hold out).
    """
    folder = Path(folder)
    if len(rows) < HELDOUT_EVERY:
        return ()
    held = [r for i, r in enumerate(rows) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    kept = [r for i, r in enumerate(rows) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    return (write_manifest(kept, folder / "manifest_train.csv"), write_manifest(held, folder / "manifest_heldout.csv"))


def write_manifest(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write a dataset's manifest rows to a CSV atomically.

    Args:
        rows: dicts with at least path, source, onset, offset, sr, duration (label optional);
            other keys become extra columns after the standard ones.
        path: the manifest.csv to write.

    Returns:
        The path written.
    """
    path = Path(path)
    if not rows:
        raise DataError("no units to write to the manifest", path)
    extra = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in MANIFEST_COLUMNS]
    for i, row in enumerate(rows):
        missing = [c for c in MANIFEST_COLUMNS if c not in row and c != "label"]
        if missing:
            raise DataError(f"row {i} lacks {', '.join(missing)}", path)
        _check_relative(str(row["path"]), path, f"row {i}")
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS) + extra, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_manifest(path: str | os.PathLike, check_files: bool = False) -> list[dict]:
    """Read and validate a manifest.csv.

    Args:
        path: the manifest; unit paths in it are relative to its folder.
        check_files: also check that every unit file exists.

    Returns:
        One dict per unit: path (str, relative), source (str), onset/offset/duration (float, s),
        sr (int), label (str), plus any extra columns as str.

    Raises:
        DataError: missing file or columns, no rows, absolute or '..' paths, bad numbers, missing units.
    """
    path = Path(path)
    text = read_text(path)
    try:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in MANIFEST_COLUMNS if c not in header]
        if missing:
            raise DataError(f"manifest lacks column(s) {', '.join(missing)} "
                            f"(expected {', '.join(MANIFEST_COLUMNS)})", path)
        rows = [(reader.line_num, dict(row)) for row in reader]
    except csv.Error as err:
        raise DataError(f"not a readable CSV ({err})", path) from None
    if not rows:
        raise DataError("empty manifest: it lists no units", path)
    out = []
    for line, row in rows:
        where = f"line {line}"
        if None in row or any(row[c] is None for c in MANIFEST_COLUMNS):
            raise DataError(f"{where}: wrong number of fields", path)
        _check_relative(row["path"], path, where)
        try:
            onset, offset, duration = (float(row[c]) for c in ("onset", "offset", "duration"))
            sr = float(row["sr"])
        except ValueError:
            raise DataError(f"{where}: onset, offset, sr and duration must be numbers", path) from None
        if not all(math.isfinite(v) and v >= 0 for v in (onset, offset, duration)) or offset < onset:
            raise DataError(f"{where}: bad times onset={row['onset']} offset={row['offset']} "
                            f"duration={row['duration']}", path)
        if not (math.isfinite(sr) and sr > 0 and sr == int(sr)):
            raise DataError(f"{where}: sr must be a positive whole number, got {row['sr']}", path)
        if check_files and not (path.parent / row["path"]).is_file():
            raise DataError(f"{where}: unit file {row['path']} does not exist", path)
        out.append({**row, "onset": onset, "offset": offset, "duration": duration, "sr": int(sr),
                    "label": row["label"] or ""})
    return out


def _check_relative(unit_path: str, manifest: Path, where: str) -> None:
    """Raise unless unit_path is a non-empty relative path that stays inside the dataset root."""
    parts = unit_path.replace("\\", "/").split("/")
    if (not unit_path.strip() or PurePosixPath(unit_path).is_absolute() or PureWindowsPath(unit_path).is_absolute()
            or PureWindowsPath(unit_path).anchor or ".." in parts):  # anchor: "C:", "\\x" (root of a Windows drive)
        raise DataError(f"{where}: unit path '{unit_path}' must be relative to the manifest's folder "
                        "and must not use '..'", manifest)


def manifest_summary(path: str | os.PathLike, count_labels: bool = False) -> str:
    """One line: number of units (and labelled ones, if any or ``count_labels``), recordings,
    total and range of durations."""
    rows = read_manifest(path)
    durations = [row["duration"] * 1000 for row in rows]
    labelled = sum(bool(row["label"]) for row in rows)
    return (f"{len(rows)} units{f' ({labelled} labelled)' if labelled or count_labels else ''} from "
            f"{len({r['source'] for r in rows})} recording(s), {sum(durations) / 1000:.2f} s in total, "
            f"{min(durations):.0f}-{max(durations):.0f} ms each, sr {rows[0]['sr']} Hz -> {path}")
