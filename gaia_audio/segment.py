"""Cut recordings into vocal units: energy-based onset/offset detection, annotation import
(Praat TextGrid, Audacity labels), and unit WAVs with a manifest.csv that lists them.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import re
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import scipy.signal

from gaia_audio import audio
from gaia_audio.errors import AudioError, DataError

#: Columns of manifest.csv, in order.
MANIFEST_COLUMNS = ("path", "source", "onset", "offset", "sr", "duration", "label")
#: Unit edges are extended outward at most down to threshold_db - EXTEND_DB.
EXTEND_DB = 30.0


def detect_units(y: np.ndarray, sr: int, *, threshold_db: float = -30.0, min_duration: float = 0.03,
                 max_duration: float = 0.5, min_silence: float = 0.01, fmin: float = 500.0,
                 fmax: float | None = None, hop_length: int | None = None) -> list[tuple[float, float]]:
    """Find vocal units (syllables, calls, words) as stretches where the band energy is loud.

    The signal is band-passed to fmin–fmax (4th-order Butterworth, zero phase), its energy is
    smoothed over ~4 ms frames and expressed in dB relative to the recording's loud reference
    (99.5th percentile of the envelope, robust to a single click). Frames above ``threshold_db``
    form units; gaps shorter than ``min_silence`` are merged, then units longer than
    ``max_duration`` are **split** at their deepest envelope dip (recursively, so no piece is
    longer than max_duration), and finally units shorter than ``min_duration`` are dropped.

    Args:
        y: mono samples, (n,).
        sr: sample rate in Hz.
        threshold_db: loudness threshold in dB relative to the loud reference (negative).
        min_duration: shortest unit kept, seconds.
        max_duration: longest unit; longer ones are split, seconds.
        min_silence: shortest gap that separates two units, seconds.
        fmin: high-pass edge of the analysis band in Hz (0 for none).
        fmax: low-pass edge in Hz (None for none).
        hop_length: envelope frame step in samples; None means 1 ms.

    Returns:
        [(onset_s, offset_s), ...] sorted and non-overlapping.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise AudioError(f"detect_units needs mono samples of shape (n,), got {y.shape}")
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise AudioError("detect_units needs a non-empty signal without NaN/Inf")
    if not 0 < min_duration <= max_duration or not min_silence >= 0:  # "not >=" also refuses NaN
        raise AudioError(f"need 0 < min_duration <= max_duration and min_silence >= 0, got "
                         f"{min_duration}, {max_duration}, {min_silence}")
    if not (sr > 0 and (hop_length is None or hop_length >= 0)):
        raise AudioError(f"sr and hop_length must be positive, got sr={sr}, hop_length={hop_length}")
    hop_length = hop_length or max(1, round(sr / 1000))
    env_db = _envelope_db(_band_pass(y, sr, fmin, fmax), sr, hop_length)  # (n_frames,)
    frame_s = hop_length / sr
    if max_duration < frame_s:  # no unit can be shorter than one frame of the envelope
        raise AudioError(f"max_duration {max_duration} s is shorter than one envelope frame ({frame_s:g} s at "
                         f"sr={sr}, hop_length={hop_length}): raise max_duration or lower hop_length")
    above = env_db > threshold_db
    runs = _runs(above)  # [(start_frame, stop_frame)] with stop exclusive
    longest = len(env_db) + 1  # caps infinite durations (no split, no merge limit) to whole numbers
    runs = _merge_short_gaps(runs, int(round(min(min_silence / frame_s, longest))))
    max_frames = max(1, int(math.floor(min(max_duration / frame_s, longest))))
    pieces = [piece for run in runs for piece in _split_long(run, env_db, max_frames)]
    min_frames = int(math.ceil(min_duration / frame_s - 1e-9))
    pieces = _extend_to_valleys([p for p in pieces if p[1] - p[0] >= min_frames], env_db, max_frames,
                                floor_db=threshold_db - EXTEND_DB)
    n = y.size
    return [(start * hop_length / sr, min(stop * hop_length, n) / sr) for start, stop in pieces]


def _band_pass(y: np.ndarray, sr: int, fmin: float, fmax: float | None) -> np.ndarray:
    """Zero-phase Butterworth band-, high- or low-pass; edges outside (0, sr/2) are ignored, and so
    is a high-pass edge below a millionth of Nyquist (it would pass everything, and from about
    1e-10 the filter's design is numerically singular)."""
    nyquist = sr / 2
    if fmax and 0 < fmax <= 1e-6 * nyquist:
        raise AudioError(f"fmax {fmax:g} Hz is too low for sr={sr}: the analysis band would hold no sound")
    low = fmin if fmin and 1e-6 * nyquist < fmin < nyquist else None
    high = fmax if fmax and (low or 0) < fmax < nyquist * 0.999 else None
    if low and high:
        sos = scipy.signal.butter(4, [low, high], btype="bandpass", fs=sr, output="sos")
    elif low:
        sos = scipy.signal.butter(4, low, btype="highpass", fs=sr, output="sos")
    elif high:
        sos = scipy.signal.butter(4, high, btype="lowpass", fs=sr, output="sos")
    else:
        return y
    return scipy.signal.sosfiltfilt(sos, y) if y.size > 27 else y


def _envelope_db(y: np.ndarray, sr: int, hop_length: int) -> np.ndarray:
    """Smoothed energy (Hann window ~4 ms) sampled every hop_length, in dB re its 99.5th percentile."""
    win = np.hanning(max(3, int(round(0.004 * sr)) | 1))
    power = scipy.signal.fftconvolve(y * y, win / win.sum(), mode="same")[::hop_length]
    power = np.maximum(power, 0.0)
    ref = np.percentile(power, 99.5)
    if ref <= 0:
        return np.full(power.shape, -np.inf)
    return 10.0 * np.log10(np.maximum(power, ref * 1e-12) / ref)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop (exclusive) indices of each run of True values."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _merge_short_gaps(runs: list[tuple[int, int]], min_gap: int) -> list[tuple[int, int]]:
    """Join runs separated by fewer than min_gap frames."""
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def _split_long(run: tuple[int, int], env_db: np.ndarray, max_frames: int) -> list[tuple[int, int]]:
    """Split a run at its deepest envelope dip until every piece is at most max_frames long."""
    start, stop = run
    if stop - start <= max_frames:
        return [run]
    margin = max(1, (stop - start) // 10)  # never cut right at an edge
    inner = env_db[start + margin:stop - margin]
    cut = start + margin + int(np.argmin(inner)) if inner.size else start + (stop - start) // 2
    return _split_long((start, cut), env_db, max_frames) + _split_long((cut, stop), env_db, max_frames)


def _extend_to_valleys(runs: list[tuple[int, int]], env_db: np.ndarray, max_frames: int,
                       floor_db: float) -> list[tuple[int, int]]:
    """Move each edge outward while the envelope keeps falling and stays above floor_db, so a unit
    starts where its sound rises out of the background rather than where it crosses the threshold.
    An edge never passes the midpoint of the gap to a neighbour; a unit never grows past max_frames."""
    out = []
    for i, (start, stop) in enumerate(runs):
        lo = (runs[i - 1][1] + start + 1) // 2 if i else 0
        hi = (stop + runs[i + 1][0]) // 2 if i + 1 < len(runs) else len(env_db)
        budget = max(0, max_frames - (stop - start))
        new_start = start
        while new_start > lo and floor_db < env_db[new_start - 1] < env_db[new_start] and start - new_start < budget // 2:
            new_start -= 1
        budget -= start - new_start
        new_stop = stop
        while new_stop < hi and floor_db < env_db[new_stop] < env_db[new_stop - 1] and new_stop - stop < budget:
            new_stop += 1
        out.append((new_start, new_stop))
    return out


# ---------------------------------------------------------------- annotation import

_TEXTGRID_TOKEN = re.compile(r'"((?:[^"]|"")*)"|\[\d*\]|(<exists>|<absent>)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)')


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
    raw = _read_bytes(path)
    if raw.startswith(b"ooBinaryFile"):
        raise DataError("binary TextGrid is not supported: save it from Praat as a text file", path)
    text = _decode(raw, path)
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
            raise DataError(f"malformed TextGrid: expected {what}, found {'end of file' if token is None else repr(token[1])}", path)
        return token[1]

    if not str(take("s", 'the header "ooTextFile"')).startswith("ooTextFile") or take("s", '"TextGrid"') != "TextGrid":
        raise DataError('not a Praat TextGrid (the header must be "ooTextFile" "TextGrid")', path)
    take("n", "xmin")
    take("n", "xmax")
    n_tiers = int(take("n", "the number of tiers")) if take("f", "<exists>") else 0
    tiers: dict[str, list[tuple[float, float, str]]] = {}
    for _ in range(n_tiers):
        kind, name = take("s", "a tier class"), take("s", "a tier name")
        take("n", "tier xmin")
        take("n", "tier xmax")
        n_items = int(take("n", "the number of intervals"))
        if kind == "IntervalTier":
            items = [(take("n", "interval xmin"), take("n", "interval xmax"), take("s", "interval text")) for _ in range(n_items)]
            for onset, offset, _label in items:
                if not (math.isfinite(onset) and math.isfinite(offset) and offset >= onset):
                    raise DataError(f"malformed TextGrid: interval {onset}-{offset} in tier '{name}' ends before it starts", path)
            tiers.setdefault(name, [(a, b, s.strip()) for a, b, s in items if s.strip()])
        elif kind == "TextTier":
            for _ in range(n_items):
                take("n", "point time")
                take("s", "point mark")
        else:
            raise DataError(f"malformed TextGrid: unknown tier class '{kind}'", path)
    if tier is None:
        if not tiers:
            raise DataError("TextGrid has no interval tier", path)
        return next(iter(tiers.values()))
    if tier not in tiers:
        raise DataError(f"TextGrid has no interval tier '{tier}' (interval tiers: {', '.join(tiers) or 'none'})", path)
    return tiers[tier]


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
    text = _decode(_read_bytes(path), path)
    labels = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):
            continue
        fields = line.split("\t")
        try:
            onset, offset = float(fields[0]), float(fields[1])
        except (IndexError, ValueError):
            raise DataError(f"line {line_no}: not an Audacity label (expected start<TAB>end<TAB>label): {line.strip()[:60]!r}", path) from None
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0 or offset < onset:
            raise DataError(f"line {line_no}: bad label times {onset}-{offset} (need 0 <= start <= end)", path)
        if offset > onset:
            labels.append((onset, offset, "\t".join(fields[2:]).strip()))
    if not labels:
        raise DataError("no label regions in Audacity label file", path)
    return labels


def _read_bytes(path: Path) -> bytes:
    """Read a whole file, turning OS errors into a DataError naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except OSError as err:
        raise DataError(f"cannot read file ({err.strerror})", path) from None


def _decode(raw: bytes, path: Path) -> str:
    """Decode text written as UTF-16 (with BOM), UTF-8 or, failing that, Latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError("text file is not valid UTF-16", path) from None
    if b"\x00" in raw:
        raise DataError("not a text file (holds NUL bytes)", path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# ---------------------------------------------------------------- unit files and manifest

def write_units(y: np.ndarray, sr: int, units, out_dir: str | os.PathLike, source_name: str,
                labels: list[str] | None = None, *, root: str | os.PathLike | None = None,
                subtype: str = "PCM_16") -> list[dict]:
    """Cut units out of a recording and write each as a WAV file.

    Files are named ``<safe source name>_<index>.wav`` from letters, digits, '-' and '_' only
    (plus a short hash when the source name had to be changed, so two sources never collide),
    and always land inside out_dir. Offsets past the end of the recording are clipped to it.

    Args:
        y: mono samples, (n,).
        sr: sample rate in Hz.
        units: [(onset_s, offset_s), ...] or [(onset_s, offset_s, label), ...].
        out_dir: folder for the unit files (created if missing).
        source_name: name of the recording, stored in the manifest (e.g. its path relative to the source folder).
        labels: one label per unit; None takes them from 3-tuples or leaves them "".
        root: dataset root the manifest paths are relative to; None means out_dir's parent.
        subtype: WAV sample format (see audio.save).

    Returns:
        Manifest rows, one dict per unit with keys path, source, onset, offset, sr, duration, label.

    Raises:
        DataError: a unit lies outside the recording, or labels do not match units.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise DataError(f"write_units needs mono samples of shape (n,), got {y.shape}", source_name)
    units = list(units)
    if labels is None:
        labels = [str(u[2]) if len(u) > 2 else "" for u in units]
    if len(labels) != len(units):
        raise DataError(f"{len(labels)} labels for {len(units)} units", source_name)
    out_dir = Path(out_dir)
    root = out_dir.parent if root is None else Path(root)
    try:
        rel_dir = PurePosixPath(out_dir.resolve().relative_to(root.resolve()).as_posix())
    except ValueError:
        raise DataError(f"unit folder {out_dir} is not inside the dataset root {root}", source_name) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    stem, duration, rows = _safe_stem(source_name), y.size / sr, []
    for i, (unit, label) in enumerate(zip(units, labels)):
        onset, offset = float(unit[0]), min(float(unit[1]), duration)
        if not (0 <= onset < offset):
            raise DataError(f"unit {i} ({unit[0]:.3f}-{unit[1]:.3f} s) lies outside the recording (0-{duration:.3f} s)", source_name)
        start, stop = int(round(onset * sr)), int(round(offset * sr))
        name = f"{stem}_{i:03d}.wav"
        audio.save(out_dir / name, y[start:max(stop, start + 1)], sr, subtype=subtype)
        rows.append({"path": str(rel_dir / name), "source": source_name,
                     "onset": round(start / sr, 6), "offset": round(max(stop, start + 1) / sr, 6), "sr": int(sr),
                     "duration": round((max(stop, start + 1) - start) / sr, 6), "label": label})
    return rows


def _safe_stem(source_name: str) -> str:
    """A file-name stem made of [A-Za-z0-9_-] from a source name, unique per source name."""
    name = str(source_name).replace("\\", "/")
    base = name[: -len(PurePosixPath(name).suffix)] if PurePosixPath(name).suffix.lower() in audio.SOUNDFILE_EXTENSIONS | audio.DECODER_EXTENSIONS else name
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_-")[:80] or "unit"
    if safe != base:
        safe += "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return safe


def write_manifest(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write manifest rows to a CSV atomically (temporary file, then os.replace).

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS) + extra, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    text = _decode(_read_bytes(path), path)
    try:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in MANIFEST_COLUMNS if c not in header]
        if missing:
            raise DataError(f"manifest lacks column(s) {', '.join(missing)} (expected {', '.join(MANIFEST_COLUMNS)})", path)
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
            raise DataError(f"{where}: bad times onset={row['onset']} offset={row['offset']} duration={row['duration']}", path)
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
        raise DataError(f"{where}: unit path '{unit_path}' must be relative to the manifest's folder and must not use '..'", manifest)


def find_recordings(source: str | os.PathLike, extensions: tuple[str, ...], exclude: str | os.PathLike | None = None) -> list[Path]:
    """Audio files under ``source`` (recursively, sorted), skipping hidden files and ``exclude``.

    Args:
        source: folder of recordings.
        extensions: lower-case suffixes to take, e.g. (".wav", ".flac").
        exclude: a folder inside ``source`` to leave out (the dataset being written there).
    Raises:
        DataError: the folder is missing or holds no such file.
    """
    source = Path(source)
    if not source.is_dir():
        raise DataError("source folder not found", source)
    skip = Path(exclude).resolve() if exclude is not None else None
    found = sorted(p for p in source.rglob("*") if p.suffix.lower() in extensions and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(source).parts)
                   and not (skip is not None and p.resolve().is_relative_to(skip)))
    if not found:
        names = ", ".join(extensions[:-1]) + (" or " if len(extensions) > 1 else "") + extensions[-1]
        raise DataError(f"no {names} recordings in source folder", source)
    return found


def manifest_summary(path: str | os.PathLike, count_labels: bool = False) -> str:
    """One line: number of units (and labelled ones, if any or ``count_labels``), recordings,
    total and range of durations."""
    rows = read_manifest(path)
    durations = [row["duration"] * 1000 for row in rows]
    labelled = sum(bool(row["label"]) for row in rows)
    return (f"{len(rows)} units{f' ({labelled} labelled)' if labelled or count_labels else ''} from "
            f"{len({r['source'] for r in rows})} recording(s), {sum(durations) / 1000:.2f} s in total, "
            f"{min(durations):.0f}-{max(durations):.0f} ms each, sr {rows[0]['sr']} Hz -> {path}")
