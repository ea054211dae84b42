"""Where a continuum may be written: the rules ``gaia-audio morph`` and ``continuum`` check first.

A lab's folder of stimuli sits beside its notes, its recordings and its scripts, so an export
never writes where it could destroy one of them (issue "Nothing lost, nothing hung"):

- a folder that is, or holds, the current folder, or that holds an input (a sound, the pairs
  table, the model) is refused, with or without ``--overwrite``;
- without ``--overwrite`` an existing path is refused;
- with it, only an empty folder or one gaia-audio wrote may go: its provenance.json says
  ``"written_by": "gaia-audio"`` and lists every file written (``outputs``), and the folder holds
  nothing else. Anything else is named, the first foreign file, and nothing is deleted. The
  check runs again on the old folder as it is replaced (:func:`gaia_audio.io.files.atomic_folder`).

A continuum may not be named after one of the files every export writes (:data:`EXPORT_FILES`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from gaia_audio.errors import DataError
from gaia_audio.io.files import first_foreign

#: Files every export writes at the top of its folder: no continuum may be named after one.
EXPORT_FILES = ("manifest.csv", "provenance.json", "continuum.png", "index.html")
#: provenance.json's mark of a folder an export wrote (beside "outputs", the files written).
WRITTEN_BY = "gaia-audio"


def check_output(out_dir: str | os.PathLike, overwrite: bool = False,
                 inputs: list[str | os.PathLike] | tuple = ()) -> Path:
    """Refuse an output folder this export may not write (call before any slow work).

    Refused with or without ``overwrite``: a folder that is (or holds) the current folder, or that
    holds one of ``inputs``. Without ``overwrite``: anything that exists. With it: anything but an
    empty folder or one gaia-audio wrote that holds nothing else (:func:`check_replaceable`).

    Args:
        out_dir: the output folder, as the user gave it.
        overwrite: an existing folder may be replaced.
        inputs: files the command reads (sounds, a pairs table, the model).
    Returns:
        ``out_dir`` as a Path.
    Raises:
        DataError: naming the folder, or the first file in it that gaia-audio did not write.
    """
    out_dir = Path(out_dir)
    where = out_dir.resolve()
    if Path.cwd().resolve().is_relative_to(where):
        raise DataError("output folder is (or holds) the current folder; choose another --out", out_dir)
    for path in inputs:
        if Path(path).resolve().is_relative_to(where):
            raise DataError(f"output folder holds an input ({path}); choose another --out", out_dir)
    if not os.path.lexists(out_dir):
        return out_dir
    if not overwrite:
        raise DataError("output folder already exists (use --overwrite to replace it)", out_dir)
    check_replaceable(out_dir)
    return out_dir


def check_replaceable(folder: str | os.PathLike, shown: str | os.PathLike | None = None) -> None:
    """Refuse to replace ``folder`` unless it is empty, or gaia-audio wrote it and it holds nothing else.

    "gaia-audio wrote it": its provenance.json says ``"written_by": "gaia-audio"`` and lists the
    files written (``outputs``); any other file, folder or link in it is foreign.

    Args:
        folder: the existing output folder.
        shown: the path errors name (default ``folder``; the folder's own path once it is renamed aside).
    Raises:
        DataError: naming the first foreign file (nothing is deleted).
    """
    folder = Path(folder)
    shown = Path(folder if shown is None else shown)
    if folder.is_symlink() or not folder.is_dir():
        raise DataError("output path exists and is not a folder (--overwrite replaces only a folder "
                        "gaia-audio wrote)", shown)
    foreign = first_foreign(folder, _written_files(folder))
    if foreign is not None:
        raise DataError("not written by gaia-audio: --overwrite replaces only a folder gaia-audio wrote that holds "
                        "nothing else (nothing was deleted)", shown / foreign)


def _written_files(folder: Path) -> set[str]:
    """The files provenance.json says gaia-audio wrote in ``folder`` (none if it is not gaia-audio's)."""
    try:
        record = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    outputs = record.get("outputs") if isinstance(record, dict) and record.get("written_by") == WRITTEN_BY else None
    return set(outputs) if isinstance(outputs, list) and all(isinstance(o, str) for o in outputs) else set()


def check_names(names: list[str], source: str | os.PathLike | None = None) -> None:
    """Refuse continuum names that cannot be a folder beside the export's own files.

    Args:
        names: the continua's names (each becomes a subfolder when there are several).
        source: the file the names come from (a pairs table), which errors name.
    Raises:
        DataError: a name equal to one of :data:`EXPORT_FILES` (in any case), empty, hidden, or with a slash.
    """
    taken = {name.casefold() for name in EXPORT_FILES}
    for name in names:
        if name.casefold() in taken:
            raise DataError(f"continuum name '{name}' is taken by a file every export writes "
                            f"({', '.join(EXPORT_FILES)}); rename the continuum", source)
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise DataError(f"continuum name '{name}' cannot be a folder name", source)


#: longest folder name a default output folder gets (file systems allow 255 bytes)
_MAX_NAME = 120


def default_out_dir(stems: list[str], suffix: str = "", parent: str | os.PathLike = ".") -> Path:
    """A new folder in ``parent`` named after the inputs, never one that exists: ``a_to_b``, ``a_to_b-2``, ...

    Args:
        stems: the inputs' names (file stems), joined by ``_to_``.
        suffix: appended to the name (e.g. ``_continua`` for a pairs table).
        parent: where the folder goes (the working folder by default).
    Returns:
        The path of a folder that does not exist yet (the export creates it).
    """
    safe = ["".join(c if c.isalnum() or c in "-_." else "_" for c in s).strip("._") or "input" for s in stems]
    name = ("_to_".join(safe) + suffix)[:_MAX_NAME]
    path, n = Path(parent) / name, 1
    while path.exists() or path.is_symlink():
        n += 1
        path = Path(parent) / f"{name}-{n}"
    return path
