"""A continuum folder's manifest, read and written by this module alone, and the pairs table that asks for continua.

``manifest.csv`` is the source of truth of a folder that ``gaia-audio morph`` or ``continuum``
wrote (one row per file: :data:`CONTINUUM_COLUMNS`); trial lists, the experiment page and the
fits read it through :func:`read_continuum`. ``pairs.csv`` (``a, b[, name]``) is what
``gaia-audio continuum`` reads (:func:`read_pairs`).
"""
from __future__ import annotations

import csv
import math
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from gaia_audio.errors import DataError
from gaia_audio.io.files import read_text, write_csv

#: Columns of a continuum's manifest.csv, in order (those no row uses are left out; weight columns w0… follow v).
CONTINUUM_COLUMNS = ("file", "pair", "step", "alpha", "u", "v", "duration_s", "file_duration_s", "level_db",
           "loudness_lufs", "realism", "distance_prev", "fidelity_db", "fidelity_untuned_db")


#: every HELDOUT_EVERY-th unit (rows i % 3 == 2) is held out of a shipped model's training

@dataclass
class Continuum:
    """The continua of one folder, as its manifest lists them.

    Attributes:
        folder: the continuum folder.
        manifest: its manifest.csv (named in errors).
        pairs: {pair name: {step: file}} in the manifest's order of pairs, steps ascending;
            files are the manifest's ``file`` values (POSIX paths relative to ``folder``).
    """

    folder: Path
    manifest: Path
    pairs: dict[str, dict[int, str]]

    def files(self) -> set[str]:
        """Every file the manifest lists."""
        return {f for steps in self.pairs.values() for f in steps.values()}


def read_continuum(folder: str | os.PathLike) -> Continuum:
    """Read a continuum folder's manifest.csv and check that every file it lists exists.

    Args:
        folder: a folder written by ``gaia-audio morph`` / ``continuum`` (or by hand): manifest.csv
            with columns ``file`` and ``step`` (``pair`` optional: default, the folder's name).
    Returns:
        The :class:`Continuum`.
    Raises:
        DataError: naming the folder or manifest: missing, columns lacking, a bad or repeated file
            or step, a listed file missing on disk.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("no such continuum folder", folder)
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise DataError("no manifest.csv (write the continuum with 'gaia-audio morph' or 'continuum')", folder)
    try:
        reader = csv.DictReader(read_text(manifest).splitlines())
        missing = [c for c in ("file", "step") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"manifest lacks column(s) {', '.join(missing)} (a continuum's needs file and step)",
                            manifest)
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as err:
        raise DataError(f"not a readable CSV ({err})", manifest) from None
    if not rows:
        raise DataError("empty manifest: it lists no files", manifest)
    pairs: dict[str, dict[int, str]] = {}
    seen: set[str] = set()
    for line, row in rows:
        file, step = _check_row(row, folder, manifest, f"line {line}")
        pair = (row.get("pair") or "").strip() or folder.name
        if file in seen:
            raise DataError(f"line {line}: file {file} is listed twice", manifest)
        if step in pairs.get(pair, {}):
            raise DataError(f"line {line}: step {step} of continuum '{pair}' is listed twice", manifest)
        seen.add(file)
        pairs.setdefault(pair, {})[step] = file
    return Continuum(folder, manifest, {p: dict(sorted(steps.items())) for p, steps in pairs.items()})


def _check_row(row: dict, folder: Path, manifest: Path, where: str) -> tuple[str, int]:
    """A manifest row's (file, step), or a DataError: extra cells, a path leaving the folder,
    a missing file, a step that is not a whole number."""
    if None in row or row["file"] is None or row["step"] is None:
        raise DataError(f"{where}: wrong number of fields", manifest)
    file, step = row["file"].strip(), row["step"].strip()
    if (not file or PurePosixPath(file).is_absolute() or PureWindowsPath(file).anchor
            or ".." in file.replace("\\", "/").split("/")):
        raise DataError(f"{where}: file '{file}' must be relative to the manifest's folder and must not use '..'",
                        manifest)
    if not (folder / file).is_file():
        raise DataError(f"{where}: file {file} is listed but missing", manifest)
    try:
        value = float(step)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise DataError(f"{where}: step must be a whole number, got '{step}'", manifest)
    return file, int(value)



def read_pairs(path: str | os.PathLike) -> list[dict]:
    """Read a pairs table: a CSV with columns ``a`` and ``b`` (audio paths, relative to the CSV)
    and optionally ``name`` (the continuum's folder; default ``<a>_to_<b>``).

    Returns:
        [{"a": path, "b": path, "name": str}, ...] with resolved paths and unique names.
    Raises:
        DataError: missing file or columns, no rows, an empty cell, or a name used twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such pairs file", path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            table = list(reader)
            header = [(c or "").strip() for c in reader.fieldnames or []]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"not a readable CSV file ({err})", path) from None
    if not table:
        raise DataError("pairs file lists no pairs (need a header row with columns a, b and one row per pair)", path)
    missing = [c for c in ("a", "b") if c not in header]
    if missing:
        raise DataError(f"pairs file lacks column(s) {', '.join(missing)} (it has: {', '.join(header)})", path)
    pairs, seen = [], set()
    for line, row in enumerate(table, start=2):
        if any(cell.strip() for cell in row.pop(None, [])):  # csv puts cells beyond the header under None
            raise DataError(f"line {line}: more cells than the header has columns", path)
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not row["a"] or not row["b"]:
            raise DataError(f"line {line}: empty a or b", path)
        a, b = (path.parent / row[k] for k in ("a", "b"))
        name = row.get("name") or f"{a.stem}_to_{b.stem}"
        if name in seen:
            raise DataError(f"line {line}: continuum name '{name}' is used twice", path)
        if (name.startswith(".") or any(ch in name for ch in '/\\:*?"<>|') or len(name.encode("utf-8")) > 255
                or any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name)):
            shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)
            raise DataError(f"line {line}: continuum name '{shown[:80]}' cannot be a folder name", path)
        seen.add(name)
        pairs.append({"a": str(a), "b": str(b), "name": name})
    return pairs



def _cell(value) -> str:
    """A manifest cell: empty for missing/NaN, numbers at fixed precision."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def write_continuum_manifest(path: Path, rows: list[dict]) -> Path:
    """Write a continuum's rows as CSV, the known columns first in :data:`CONTINUUM_COLUMNS` order."""
    used = {k for row in rows for k in row}
    weights = sorted((k for k in used if k[:1] == "w" and k[1:].isdigit()), key=lambda k: int(k[1:]))
    columns = [c for c in CONTINUUM_COLUMNS if c in used]
    at = columns.index("v") + 1 if "v" in columns else columns.index("duration_s")
    columns = columns[:at] + weights + columns[at:]
    return write_csv(path, columns, [[_cell(row.get(c)) for c in columns] for row in rows])


