"""Reading a responses CSV: the experiment page's, or any with the columns ``pair, step, response``.

Identification rows (``design`` absent or ``identification``) need one whole ``step`` and a
``response``: 1 (the listener chose endpoint b) or 0 (endpoint a); "b"/"a", and the endpoint names
of a pair named ``X_to_Y`` (X = a, Y = b), are accepted too, in any case. Discrimination rows
(``design`` = ``ax`` or ``abx``) list the steps played in ``step``, separated by ";" (A;X or A;B;X),
and answer "same"/"different" (AX) or "A"/"B" (ABX). ``participant`` (default: "unnamed"),
``alpha`` and ``rt`` are optional; rows of several participants, pairs and sessions mix freely.
Every problem is a :class:`~gaia_audio.errors.DataError` naming the file and the line.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from gaia_audio.errors import DataError
from gaia_audio.io.files import read_text

REQUIRED = ("pair", "step", "response")
#: The participant name of the rows fitted over every participant of a pair.
POOLED = "pooled"
UNNAMED = "unnamed"
_ANSWERS = {"ax": {"same": 0, "s": 0, "different": 1, "d": 1, "0": 0, "1": 1},
            "abx": {"a": "A", "b": "B"}}


@dataclass
class Response:
    """One trial's answer.

    Attributes:
        line: its line in the file (the header is line 1).
        participant, pair: who answered, on which continuum.
        design: "identification", "ax" or "abx".
        steps: the steps played (one for identification; A, X or A, B, X).
        response: identification: 1 = b, 0 = a; ax: 1 = "different", 0 = "same"; abx: "A" or "B".
        alpha: the α of an identification step (NaN where unknown).
        rt: the reaction time in ms (NaN where unknown).
    """

    line: int
    participant: str
    pair: str
    design: str
    steps: tuple[int, ...]
    response: int | str
    alpha: float = math.nan
    rt: float = math.nan

    @property
    def correct(self) -> bool | None:
        """Whether a discrimination answer is right (None for identification)."""
        if self.design == "ax":
            return bool(self.response) == (self.steps[0] != self.steps[1])
        if self.design == "abx":
            return self.response == ("A" if self.steps[2] == self.steps[0] else "B")
        return None


def read_responses(path: str | os.PathLike, continuum_steps: dict[str, set[int]] | None = None) -> list[Response]:
    """Every response in a CSV file, checked.

    Args:
        path: the CSV (the experiment page's, or any with ``pair, step, response``).
        continuum_steps: {pair: its steps} from the continuum's manifest; if given, a pair it does not
            list or a step outside its pair is an error.
    Returns:
        The responses in file order.
    Raises:
        DataError: naming ``path`` (and the line): empty file, no rows, a missing column, a step that is
            not a whole number or is outside the continuum, an answer that is not one of its design's.
    """
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise DataError("empty file: no header and no responses", path)
    try:
        reader = csv.DictReader(text.splitlines())
        missing = [c for c in REQUIRED if c not in [f.strip() for f in reader.fieldnames or []]]
        if missing:
            raise DataError(f"no column {', '.join(missing)} (a responses CSV needs {', '.join(REQUIRED)})", path)
        rows = []
        for row in reader:
            if None in row:
                raise DataError(f"line {reader.line_num}: more fields than the header has", path)
            rows.append((reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items()}))
    except csv.Error as err:
        raise DataError(f"not a readable CSV ({err})", path) from None
    if not rows:
        raise DataError("no responses: the file has a header only", path)
    responses = [_parse(row, line, path) for line, row in rows]
    if continuum_steps is not None:
        for r in responses:
            if r.pair not in continuum_steps:
                raise DataError(f"line {r.line}: pair '{r.pair}' is not in the continuum "
                                f"(it has {', '.join(sorted(continuum_steps))})", path)
            known = continuum_steps[r.pair]
            outside = [s for s in r.steps if s not in known]
            if outside:
                raise DataError(f"line {r.line}: step {outside[0]} is outside continuum '{r.pair}' "
                                f"(steps {min(known)} to {max(known)})", path)
    return responses


def _parse(row: dict, line: int, path: Path) -> Response:
    """One row as a :class:`Response`, or a DataError naming the line."""
    design = (row.get("design") or "identification").lower()
    if design not in ("identification", "ax", "abx"):
        raise DataError(f"line {line}: unknown design '{design}' (identification, ax or abx)", path)
    pair = row.get("pair") or ""
    if not pair:
        raise DataError(f"line {line}: no pair", path)
    steps = tuple(_step(s, line, path) for s in (row.get("step") or "").split(";"))
    wanted = {"identification": 1, "ax": 2, "abx": 3}[design]
    if len(steps) != wanted:
        raise DataError(f"line {line}: {design} needs {wanted} step(s) in 'step' (separated by ';'), "
                        f"got '{row.get('step')}'", path)
    answer = (row.get("response") or "").lower()
    if design == "identification":
        response = _identification_answer(answer, pair)
    else:
        response = _ANSWERS[design].get(answer)
    if response is None:
        raise DataError(f"line {line}: response '{row.get('response')}' is not an answer of {design} "
                        f"({_accepted(design, pair)})", path)
    participant = row.get("participant") or UNNAMED
    if participant == POOLED:
        raise DataError(f"line {line}: participant name '{POOLED}' is kept for the fit over all participants", path)
    alpha = _number(row.get("alpha")) if design == "identification" else math.nan
    return Response(line, participant, pair, design, steps, response, alpha, _number(row.get("rt")))


def endpoint_names(pair: str) -> tuple[str, str]:
    """The endpoints' names of a pair called ``X_to_Y`` ("a", "b" for any other name)."""
    a, sep, b = pair.partition("_to_")
    return (a, b) if sep and a and b else ("a", "b")


def _identification_answer(answer: str, pair: str) -> int | None:
    """1 for endpoint b, 0 for a, None for anything else."""
    a, b = (name.lower() for name in endpoint_names(pair))
    table = {"0": 0, "1": 1, "a": 0, "b": 1, a: 0, b: 1, "0.0": 0, "1.0": 1}
    return table.get(answer)


def _accepted(design: str, pair: str) -> str:
    if design == "identification":
        a, b = endpoint_names(pair)
        return f"1 or b or {b} for endpoint b, 0 or a or {a} for endpoint a"
    return "same or different" if design == "ax" else "A or B"


def _step(text: str, line: int, path: Path) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value.is_integer() or value < 0:
        raise DataError(f"line {line}: step must be a whole number from 0, got '{text}'", path)
    return int(value)


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def manifest_alphas(continuum) -> dict[str, dict[int, float]]:
    """{pair: {step: α}} from a continuum's manifest (its ``alpha`` column, where a row has a number).

    Args:
        continuum: a :class:`~gaia_audio.experiment.trials.Continuum`.
    """
    out: dict[str, dict[int, float]] = {}
    by_file = {f: (p, s) for p, steps in continuum.pairs.items() for s, f in steps.items()}
    for row in csv.DictReader(read_text(continuum.manifest).splitlines()):
        where = by_file.get((row.get("file") or "").strip())
        alpha = _number(row.get("alpha"))
        if where is not None and math.isfinite(alpha):
            out.setdefault(where[0], {})[where[1]] = alpha
    return out
