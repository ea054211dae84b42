"""Trial lists for perception experiments on a continuum: identification, AX and ABX designs.

A continuum folder (written by ``gaia-audio morph`` or ``continuum``) is read through its
``manifest.csv``, which stays the source of truth: a trial names each sound by the manifest's
``file`` value (relative to the folder), and a file the manifest does not list is refused.
Each design is written twice into the folder, with the same rows in the same order:

- ``trials_<design>.csv``: a PsychoPy conditions file (every column a Python identifier);
- ``trials_<design>.json``: a jsPsych timeline, a list of objects with the CSV's fields plus
  ``stimuli``, the files to play in order (e.g. mapped onto ``audio-keyboard-response`` trials).

The continua of a multi-pair folder come one after another, in the manifest's order, each in its
own blocks (``block`` counts on across continua; ``trial`` counts from 1 over the whole file).
A block holds one repetition of the design, shuffled, so counterbalancing is exact in every
block. All randomness comes from one ``numpy.random.default_rng(seed)``: the same seed gives
byte-identical files.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from gaia_audio.errors import DataError
from gaia_audio.io.files import read_text, write_csv, write_text

DESIGNS = ("identification", "ax", "abx")
#: Columns of ``trials_<design>.csv`` (and keys of each ``trials_<design>.json`` object besides ``stimuli``).
COLUMNS = {
    "identification": ("trial", "block", "pair", "file", "step"),
    "ax": ("trial", "block", "pair", "a_file", "a_step", "x_file", "x_step", "same", "correct"),
    "abx": ("trial", "block", "pair", "a_file", "a_step", "b_file", "b_step", "x_file", "x_step", "correct"),
}
#: The file columns of each design, in the order the sounds are played.
STIMULI = {"identification": ("file",), "ax": ("a_file", "x_file"), "abx": ("a_file", "b_file", "x_file")}


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


def make_trials(continuum: Continuum, design: str, repeats: int = 1, seed: int = 0, distance: int = 2) -> list[dict]:
    """Every trial of ``design`` for every continuum, shuffled in blocks, numbered.

    Args:
        continuum: what :func:`read_continuum` returned.
        design: "identification" (each step once per block, no file twice in a row, across
            blocks too), "ax" (pairs (k, k+d) in both orders, plus as many same trials spread
            evenly over the steps involved) or "abx" (A, B = k, k+d in both orders, X = A or B).
        repeats: blocks per continuum (each one full repetition of the design).
        seed: seed of ``numpy.random.default_rng``.
        distance: d, the step difference of the ax/abx pairs (1 <= d < number of steps).
    Returns:
        One dict per trial with the keys :data:`COLUMNS` ``[design]``.
    Raises:
        DataError: naming the manifest: unknown design, repeats < 1, a continuum with fewer
            than 2 steps, distance out of range.
    """
    if design not in DESIGNS:
        raise DataError(f"unknown design '{design}' (use {', '.join(DESIGNS)})", continuum.manifest)
    if repeats < 1:
        raise DataError(f"repeats must be at least 1, got {repeats}", continuum.manifest)
    for pair, steps in continuum.pairs.items():
        if len(steps) < 2:
            raise DataError(f"continuum '{pair}' has {len(steps)} step; trials need at least 2", continuum.manifest)
        if design != "identification":
            _check_distance(pair, list(steps), distance, continuum.manifest)
    rng = np.random.default_rng(seed)
    trials: list[dict] = []
    block = 0
    for pair, steps in continuum.pairs.items():
        for order in _blocks(design, list(steps), repeats, distance, rng):
            block += 1
            for played in order:
                fields = _fields(design, steps, played)
                trials.append({"trial": len(trials) + 1, "block": block, "pair": pair, **fields})
    return trials


def _check_distance(pair: str, steps: list[int], distance: int, manifest: Path) -> None:
    """Raise unless 1 <= distance < len(steps) and some two steps are ``distance`` apart."""
    if not 1 <= distance < len(steps):
        raise DataError(f"distance {distance} is out of range for continuum '{pair}' with {len(steps)} steps "
                        f"(use 1 to {len(steps) - 1})", manifest)
    if not different_pairs(steps, distance):
        raise DataError(f"no two steps of continuum '{pair}' are {distance} apart", manifest)


def _blocks(design: str, steps: list[int], repeats: int, distance: int, rng: np.random.Generator) -> list[list]:
    """The shuffled blocks of one continuum: lists of step tuples (played order)."""
    if design == "identification":
        return [[(s,) for s in block] for block in identification_blocks(steps, repeats, rng)]
    if design == "ax":
        return ax_blocks(steps, repeats, distance, rng)
    return abx_blocks(steps, repeats, distance, rng)


def _fields(design: str, files: dict[int, str], played: tuple[int, ...]) -> dict:
    """A trial's stimulus columns (files, steps) and its correct answer, for ``played`` steps."""
    if design == "identification":
        return {"file": files[played[0]], "step": played[0]}
    fields = {}
    for column, step in zip(STIMULI[design], played):  # "a_file" -> a_file, a_step
        fields[column] = files[step]
        fields[column.replace("_file", "_step")] = step
    if design == "ax":
        fields["same"] = int(played[0] == played[1])
        fields["correct"] = "same" if played[0] == played[1] else "different"
    else:
        fields["correct"] = "A" if played[2] == played[0] else "B"
    return fields


def different_pairs(steps: list[int], distance: int) -> list[tuple[int, int]]:
    """(k, k + distance) for every step k whose partner is also a step, k ascending."""
    present = set(steps)
    return [(k, k + distance) for k in sorted(steps) if k + distance in present]


def identification_blocks(steps: list[int], repeats: int, rng: np.random.Generator) -> list[list[int]]:
    """``repeats`` shuffled blocks, each holding every step once; no step twice in a row.

    A block that would start with the step the previous one ended on has its first step
    swapped with a random other one of the block.

    Args:
        steps: the continuum's steps (at least 2).
        repeats: number of blocks.
        rng: the generator every shuffle draws from.
    Returns:
        (repeats, len(steps)) nested list of steps.
    """
    blocks, last = [], None
    for _ in range(repeats):
        order = [steps[i] for i in rng.permutation(len(steps))]
        if order[0] == last:
            j = int(rng.integers(1, len(order)))
            order[0], order[j] = order[j], order[0]
        blocks.append(order)
        last = order[-1]
    return blocks


def ax_blocks(steps: list[int], repeats: int, distance: int, rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """``repeats`` shuffled blocks of AX trials (A, X).

    Each block holds every (k, k+d) in both orders, and as many same trials (k, k): these cycle
    through the steps involved in ascending order, carrying on from block to block, so over the
    whole list each step's same trials differ in number by at most one.

    Args:
        steps: the continuum's steps.
        repeats: number of blocks.
        distance: d.
        rng: the generator every shuffle draws from.
    Returns:
        (repeats, 4 * n_pairs) nested list of (a_step, x_step), n_pairs = number of (k, k+d).
    """
    pairs = different_pairs(steps, distance)
    different = [order for k, j in pairs for order in ((k, j), (j, k))]
    involved = sorted({s for pair in pairs for s in pair})
    blocks = []
    for r in range(repeats):
        start = r * len(different)
        same = [(involved[i % len(involved)],) * 2 for i in range(start, start + len(different))]
        block = different + same
        blocks.append([block[i] for i in rng.permutation(len(block))])
    return blocks


def abx_blocks(steps: list[int], repeats: int, distance: int,
               rng: np.random.Generator) -> list[list[tuple[int, int, int]]]:
    """``repeats`` shuffled blocks of ABX trials (A, B, X).

    Each block holds, for every (k, k+d), A/B in both orders with X equal to A and to B: the four
    combinations (k, k+d, k), (k, k+d, k+d), (k+d, k, k+d), (k+d, k, k) once each.

    Returns:
        (repeats, 4 * n_pairs) nested list of (a_step, b_step, x_step).
    """
    pairs = different_pairs(steps, distance)
    block = [(a, b, x) for k, j in pairs for a, b in ((k, j), (j, k)) for x in (a, b)]
    return [[block[i] for i in rng.permutation(len(block))] for _ in range(repeats)]


def write_trials(continuum: Continuum, design: str, trials: list[dict]) -> tuple[Path, Path]:
    """Write ``trials_<design>.csv`` and ``trials_<design>.json`` into the continuum folder (atomically).

    Args:
        continuum: the folder and the files its manifest lists.
        design: the design the trials follow (their columns are :data:`COLUMNS` ``[design]``).
        trials: what :func:`make_trials` returned.
    Returns:
        (csv path, json path).
    Raises:
        DataError: naming the manifest, if a trial plays a file that it does not list.
    """
    columns, listed = COLUMNS[design], continuum.files()
    for row in trials:
        for column in STIMULI[design]:
            if row[column] not in listed:
                raise DataError(f"trial {row['trial']}: file {row[column]} is not listed", continuum.manifest)
    csv_path = write_csv(continuum.folder / f"trials_{design}.csv", list(columns),
                         [[row[c] for c in columns] for row in trials])
    timeline = [{**{c: row[c] for c in columns}, "stimuli": [row[c] for c in STIMULI[design]]} for row in trials]
    json_path = write_text(continuum.folder / f"trials_{design}.json",
                           json.dumps(timeline, indent=2, ensure_ascii=False) + "\n")
    return csv_path, json_path
