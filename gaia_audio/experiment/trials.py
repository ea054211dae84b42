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

import json
from pathlib import Path

import numpy as np

from gaia_audio.errors import DataError
from gaia_audio.io.files import write_csv, write_text
from gaia_audio.stimuli.manifest import Continuum, read_continuum  # noqa: F401  (read_continuum: for the trials' users)

DESIGNS = ("identification", "ax", "abx")
#: Columns of ``trials_<design>.csv`` (and keys of each ``trials_<design>.json`` object besides ``stimuli``).
COLUMNS = {
    "identification": ("trial", "block", "pair", "file", "step"),
    "ax": ("trial", "block", "pair", "a_file", "a_step", "x_file", "x_step", "same", "correct"),
    "abx": ("trial", "block", "pair", "a_file", "a_step", "b_file", "b_step", "x_file", "x_step", "correct"),
}
#: The file columns of each design, in the order the sounds are played.
STIMULI = {"identification": ("file",), "ax": ("a_file", "x_file"), "abx": ("a_file", "b_file", "x_file")}


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
