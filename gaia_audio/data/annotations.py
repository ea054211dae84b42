"""Vocal units from annotation files: Praat TextGrids and Audacity label tracks.

Each reader returns ``[(onset_s, offset_s, label), ...]`` in time order, with one-line errors
naming the file and line.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from gaia_audio.errors import DataError
from gaia_audio.io.files import decode_text, read_bytes, read_text

_TEXTGRID_TOKEN = re.compile(r'"((?:[^"]|"")*)"|\[\d*\]|(<exists>|<absent>)|'
                             r'([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)')


def read_textgrid(path: str | os.PathLike, tier: str | None = None) -> list[tuple[float, float, str]]:
    """Read the labelled intervals of one tier of a Praat TextGrid (long or short text format).

    Like Praat itself, the reader keeps only the strings, numbers and <exists> flags of the file,
    so both text formats (UTF-8 or UTF-16) parse the same way. Intervals whose label is empty or
    blank (the silences between units) are skipped.

    Args:
        path: the .TextGrid file.
        tier: name of the interval tier; None takes the first interval tier.

    Returns:
        [(onset_s, offset_s, label), ...] in file order.

    Raises:
        DataError: missing, binary or malformed file, or no such tier.
    """
    path = Path(path)
    raw = read_bytes(path)
    if raw.startswith(b"ooBinaryFile"):
        raise DataError("binary TextGrid is not supported: save it from Praat as a text file", path)
    text = decode_text(raw, path)
    tokens = []  # ("s", str) | ("n", float) | ("f", bool)
    for match in _TEXTGRID_TOKEN.finditer(text):
        string, flag, number = match.groups()
        if string is not None:
            tokens.append(("s", string.replace('""', '"')))
        elif flag is not None:
            tokens.append(("f", flag == "<exists>"))
        elif number is not None:
            tokens.append(("n", float(number)))
    stream = iter(tokens)

    def take(kind: str, what: str):
        token = next(stream, None)
        if token is None or token[0] != kind:
            raise DataError(f"malformed TextGrid: expected {what}, found "
                            f"{'end of file' if token is None else repr(token[1])}", path)
        return token[1]

    if not str(take("s", 'the header "ooTextFile"')).startswith("ooTextFile") or take("s", '"TextGrid"') != "TextGrid":
        raise DataError('not a Praat TextGrid (the header must be "ooTextFile" "TextGrid")', path)
    take("n", "xmin")
    take("n", "xmax")
    n_tiers = int(take("n", "the number of tiers")) if take("f", "<exists>") else 0
    tiers: dict[str, list[tuple[float, float, str]]] = {}
    for _ in range(n_tiers):
        name, intervals = _read_tier(take, path)
        if intervals is not None:
            tiers.setdefault(name, intervals)
    if tier is None:
        if not tiers:
            raise DataError("TextGrid has no interval tier", path)
        return next(iter(tiers.values()))
    if tier not in tiers:
        raise DataError(f"TextGrid has no interval tier '{tier}' (interval tiers: {', '.join(tiers) or 'none'})", path)
    return tiers[tier]


def _read_tier(take, path: Path) -> tuple[str, list[tuple[float, float, str]] | None]:
    """One tier from the token stream: (name, its labelled intervals), or (name, None) for a point tier."""
    kind, name = take("s", "a tier class"), take("s", "a tier name")
    take("n", "tier xmin")
    take("n", "tier xmax")
    n_items = int(take("n", "the number of intervals"))
    if kind == "IntervalTier":
        items = [(take("n", "interval xmin"), take("n", "interval xmax"), take("s", "interval text"))
                 for _ in range(n_items)]
        for onset, offset, _label in items:
            if not (math.isfinite(onset) and math.isfinite(offset) and offset >= onset):
                raise DataError(f"malformed TextGrid: interval {onset}-{offset} in tier '{name}' "
                                "ends before it starts", path)
        return name, [(a, b, s.strip()) for a, b, s in items if s.strip()]
    if kind == "TextTier":
        for _ in range(n_items):
            take("n", "point time")
            take("s", "point mark")
        return name, None
    raise DataError(f"malformed TextGrid: unknown tier class '{kind}'", path)


def read_audacity_labels(path: str | os.PathLike) -> list[tuple[float, float, str]]:
    """Read an Audacity label track export: one ``start<TAB>end<TAB>label`` line per region.

    Spectral-selection lines (starting with a backslash) and blank lines are skipped, as are
    point labels (start == end); a region without a label text gets the label "".

    Args:
        path: the .txt label file.

    Returns:
        [(onset_s, offset_s, label), ...] in file order.

    Raises:
        DataError: missing file, or a line that is not start, end[, label] with start <= end.
    """
    path = Path(path)
    text = read_text(path)
    labels = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):
            continue
        fields = line.split("\t")
        try:
            onset, offset = float(fields[0]), float(fields[1])
        except (IndexError, ValueError):
            raise DataError(f"line {line_no}: not an Audacity label (expected start<TAB>end<TAB>label): "
                            f"{line.strip()[:60]!r}", path) from None
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0 or offset < onset:
            raise DataError(f"line {line_no}: bad label times {onset}-{offset} (need 0 <= start <= end)", path)
        if offset > onset:
            labels.append((onset, offset, "\t".join(fields[2:]).strip()))
    if not labels:
        raise DataError("no label regions in Audacity label file", path)
    return labels
