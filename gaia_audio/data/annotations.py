"""Vocal units from annotation files, read with crowsetta (https://crowsetta.readthedocs.io).

:func:`read_annotations` reads any format crowsetta reads and returns ``[(onset_s, offset_s,
label), ...]`` in time order, with one-line errors naming the file. The format is ``annot_format``
(a crowsetta format name, :data:`FORMAT_NAMES`) or follows the file name (:data:`EXTENSIONS`):

=====================  ==============================  =======================================
file name ends with    format                          what writes it
=====================  ==============================  =======================================
``.TextGrid``          ``textgrid``                    Praat (long or short text, UTF-8/16)
``.not.mat``           ``notmat``                      evsonganaly (``song.wav.not.mat``)
``.selections.txt``    ``raven``                       Raven selection tables
``.txt``               ``aud-seq``                     Audacity label tracks (the default for
                                                       .txt: ``raven``, ``aud-bbox`` or
                                                       ``simple-seq`` files need the format)
``.csv``               ``simple-seq``                  ``onset_s,offset_s,label`` tables (the
                                                       default for .csv: ``generic-seq`` needs
                                                       the format)
``.phn`` / ``.wrd``    ``timit``                       TIMIT transcriptions
``.mat``               ``yarden``                      SongAnnotationGUI (TweetyNet's canaries)
``.xml``               ``birdsong-recognition-dataset``  Koumura & Okanoya's Annotation.xml
=====================  ==============================  =======================================

Conventions on top of crowsetta's readers: times are not rounded (crowsetta rounds to ms by
default); zero-length segments (Audacity point labels) are skipped; labels are stripped, a
segment without one gets ""; identical repeated segments (a Raven table lists a selection once per
view) are kept once. Per format:

- textgrid: ``tier`` names the interval tier (default: the first); blank intervals (the silences
  between units) are skipped, and Praat's doubled quotes are undone. Binary TextGrids are refused.
- aud-seq: read by crowsetta's simple-seq reader told the Audacity layout (tab-separated, no
  header, labels verbatim), because crowsetta's own aud-seq reader lets pandas interpret labels
  (``02`` becomes ``2``, an empty or ``NA`` label is refused). Lines starting with a backslash
  (spectral selections) are skipped; a file with no region is an error.
- raven: ``tier`` names the label column (default ``Annotation``).
- generic-seq, yarden, birdsong-recognition-dataset hold several recordings: ``notated_path``
  (the recording) picks its annotation by file name; it also gives timit and
  birdsong-recognition-dataset the sample rate that turns their sample numbers into seconds.
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import warnings
from pathlib import Path, PurePosixPath

from gaia_audio.errors import DataError
from gaia_audio.io.files import decode_text, read_bytes, read_text

#: crowsetta's format names (crowsetta 5.1).
FORMAT_NAMES = ("aud-bbox", "aud-seq", "birdsong-recognition-dataset", "generic-seq", "notmat", "raven",
                "simple-seq", "textgrid", "timit", "yarden")
#: (end of the file name, lower case; format) in the order tried when no format is given.
EXTENSIONS = ((".textgrid", "textgrid"), (".not.mat", "notmat"), (".selections.txt", "raven"), (".txt", "aud-seq"),
              (".csv", "simple-seq"), (".phn", "timit"), (".wrd", "timit"), (".mat", "yarden"),
              (".xml", "birdsong-recognition-dataset"))
#: other names accepted for annot_format
ALIASES = {"birdsong-rec": "birdsong-recognition-dataset", "audacity": "aud-seq", "praat": "textgrid"}
_KIND = {"textgrid": "TextGrid", "aud-seq": "Audacity label", "aud-bbox": "Audacity label", "raven": "Raven selection",
         "notmat": "evsonganaly .not.mat", "timit": "TIMIT", "yarden": "SongAnnotationGUI .mat",
         "birdsong-recognition-dataset": "BirdsongRecognition .xml"}
_LABELS_VERBATIM = dict(dtype={"label": str}, keep_default_na=False)  # pandas.read_csv: "02" stays "02", "NA" "NA"
_AUDACITY_CSV = dict(sep="\t", header=None, names=["onset_s", "offset_s", "label"], quoting=csv.QUOTE_NONE,
                     encoding="utf-8-sig", encoding_errors="replace", **_LABELS_VERBATIM)


def read_annotations(path: str | os.PathLike, annot_format: str | None = None, tier: str | None = None, *,
                     notated_path: str | os.PathLike | None = None) -> list[tuple[float, float, str]]:
    """Read the labelled segments of one annotation file with crowsetta.

    Args:
        path: the annotation file.
        annot_format: a crowsetta format name (:data:`FORMAT_NAMES`, or an :data:`ALIASES` key);
            None picks it from the file name (:data:`EXTENSIONS`).
        tier: TextGrid interval tier (default: the first) or Raven label column (default
            "Annotation"); other formats ignore it.
        notated_path: the recording annotated, for files that hold several recordings or count in samples.

    Returns:
        [(onset_s, offset_s, label), ...] sorted by time, each with onset_s < offset_s.

    Raises:
        DataError: naming the file: missing, of no known format, malformed (crowsetta's reason),
            without the tier or recording asked for, or with times that are not 0 <= onset <= offset.
    """
    path = Path(path)
    fmt = annotation_format(path, annot_format)
    if not path.is_file():
        raise DataError("file not found", path)
    import crowsetta  # imports pandas: ~1 s, paid only when an annotation is read

    ends = getattr(crowsetta.formats.by_name(fmt), "ext", ())
    ends = (ends,) if isinstance(ends, str) else tuple(ends)
    if ends and not str(path).endswith(ends):
        raise DataError(f"crowsetta reads '{fmt}' files only with a name ending in {' or '.join(ends)}", path)
    try:
        with warnings.catch_warnings():  # crowsetta warns before failing (e.g. no audio beside a TIMIT file)
            warnings.simplefilter("ignore")
            rows = _read(crowsetta, fmt, path, tier, notated_path)
    except DataError:
        raise
    except Exception as err:  # crowsetta's (and pandas', scipy's, attrs') own exceptions
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise DataError(f"malformed {_KIND.get(fmt, fmt)} file (crowsetta's '{fmt}' reader: {reason})", path) from None
    return _checked(rows, path)


def annotation_format(path: str | os.PathLike, annot_format: str | None = None) -> str:
    """The crowsetta format of an annotation file: ``annot_format`` checked, or the one its name implies.

    Raises:
        DataError: an unknown format name, or a file name that implies none.
    """
    if annot_format is not None:
        fmt = ALIASES.get(annot_format, annot_format)
        if fmt not in FORMAT_NAMES:
            raise DataError(f"unknown annotation format '{annot_format}' (crowsetta reads {', '.join(FORMAT_NAMES)})",
                            path)
        return fmt
    name = Path(path).name.lower()
    for end, fmt in EXTENSIONS:
        if name.endswith(end):
            return fmt
    raise DataError(f"cannot tell the annotation format from the file name: give one of {', '.join(FORMAT_NAMES)}",
                    path)


def _read(crowsetta, fmt: str, path: Path, tier: str | None, notated_path) -> list[tuple]:
    """(onset, offset, label) rows as crowsetta reads them, before any check."""
    if fmt == "textgrid":
        return _read_textgrid(crowsetta, path, tier)
    if fmt == "aud-seq":
        skip = [i for i, line in enumerate(read_text(path).split("\n")) if line.startswith("\\")]  # as pandas counts
        seq = crowsetta.formats.seq.SimpleSeq.from_file(path, read_csv_kwargs={**_AUDACITY_CSV, "skiprows": skip})
        if len(seq.onsets_s) == 0:
            raise DataError("no label regions in Audacity label file", path)
        return list(zip(seq.onsets_s, seq.offsets_s, seq.labels))
    kwargs = {"raven": {"annot_col": tier or "Annotation"},
              "simple-seq": {"default_label": "", "read_csv_kwargs": _LABELS_VERBATIM},
              "timit": {"audio_path": notated_path},
              "birdsong-recognition-dataset": {"wav_path": Path(notated_path).parent if notated_path else None},
              }.get(fmt, {})
    annotation = crowsetta.formats.by_name(fmt).from_file(path, **kwargs)
    if hasattr(annotation, "df"):  # bounding boxes (raven, aud-bbox): read the table, not BBox objects,
        df = annotation.df  # which refuse zero-length selections and equal frequency bounds
        label = "annotation" if "annotation" in df.columns else "label"
        return list(zip(df["begin_time_s"], df["end_time_s"], df[label]))
    to_annot = annotation.to_annot
    annot = to_annot(round_times=False) if "round_times" in inspect.signature(to_annot).parameters else to_annot()
    seq = _pick_recording(annot, path, notated_path).seq
    if seq.onsets_s is None or any(t is None for t in seq.onsets_s):
        raise DataError("times are in samples and the recording's sample rate is unknown: give the recording "
                        "(notated_path) beside it", path)
    return list(zip(seq.onsets_s, seq.offsets_s, seq.labels))


def _read_textgrid(crowsetta, path: Path, tier: str | None) -> list[tuple]:
    """The labelled intervals of one interval tier of a text TextGrid."""
    raw = read_bytes(path)
    if raw.startswith(b"ooBinaryFile"):
        raise DataError("binary TextGrid is not supported by crowsetta: save it from Praat as a text file", path)
    head = decode_text(raw, path).lstrip("\ufeff").splitlines()[:2]
    if len(head) < 2 or "ooTextFile" not in head[0] or '"TextGrid"' not in head[1]:
        raise DataError('malformed TextGrid: not a Praat TextGrid (the header must be "ooTextFile" "TextGrid")', path)
    grid = crowsetta.formats.seq.TextGrid.from_file(path)
    tiers = [t for t in grid.tiers if hasattr(t, "intervals")]  # interval tiers, not point tiers
    chosen = [t for t in tiers if tier is None or t.name == tier][:1]
    if not chosen:
        names = ", ".join(t.name for t in tiers) or "none"
        which = "" if tier is None else f" '{tier}'"
        raise DataError(f"TextGrid has no interval tier{which} (interval tiers: {names})", path)
    return [(i.xmin, i.xmax, i.text.replace('""', '"')) for i in chosen[0].intervals if i.text.strip()]


def _pick_recording(annot, path: Path, notated_path):
    """The crowsetta Annotation of the recording ``notated_path`` from a file that may hold several."""
    if not isinstance(annot, list):
        return annot
    if notated_path is None:
        if len(annot) == 1:
            return annot[0]
        raise DataError(f"holds the annotations of {len(annot)} recordings: name the recording (notated_path)", path)

    def name(p) -> str:
        return PurePosixPath(str(p).replace("\\", "/")).name

    wanted = name(notated_path)
    found = [a for a in annot if a.notated_path is not None and name(a.notated_path) == wanted]
    if not found:
        known = sorted({name(a.notated_path) for a in annot})
        raise DataError(f"has no annotation of {wanted} (it annotates {', '.join(known[:5])}"
                        f"{', ...' if len(known) > 5 else ''})", path)
    return found[0]


def _checked(rows: list[tuple], path: Path) -> list[tuple[float, float, str]]:
    """Rows as (float, float, str), checked, without zero-length ones and repeats, in time order."""
    out = set()
    for onset, offset, label in rows:
        onset, offset = float(onset), float(offset)
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0 or offset < onset:
            raise DataError(f"bad label times {onset:g}-{offset:g} s (need 0 <= start <= end)", path)
        if offset > onset:
            out.add((onset, offset, _label(label)))
    return sorted(out)


def _label(value) -> str:
    """A label as a stripped string; missing values (None, NaN, pandas' NA) are ""."""
    if value is None or type(value).__name__ == "NAType" or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()
