"""Export continua for experiments: WAV files, manifest.csv, provenance.json, continuum.png.

Every step of every continuum is brought to the same loudness (RMS dBFS, or LUFS through the
optional pyloudnorm), given onset/offset ramps and leading/trailing silence, and written at the
chosen sample rate and bit depth. ``manifest.csv`` has one row per file and only columns whose
names are Python identifiers, so PsychoPy reads it as a conditions file (file paths are relative
to the manifest's folder). Everything is written into a hidden temporary folder beside the
destination and renamed into place at the end: a failed or interrupted run leaves nothing, and
an existing folder is replaced only when ``overwrite`` is set.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import shutil
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gaia_audio import audio
from gaia_audio.errors import AudioError, DataError

if TYPE_CHECKING:  # only annotations: importing this module stays free of torch
    from gaia_audio.morph import MorphResult
    from gaia_audio.plots import Worker

#: Manifest columns, in order (those no row uses are left out; weight columns w0… follow v).
COLUMNS = ("file", "pair", "step", "alpha", "u", "v", "duration_s", "file_duration_s", "level_db",
           "loudness_lufs", "realism", "distance_prev", "fidelity_db")
LOUDNESS = ("rms", "lufs", "none")
DEFAULT_LEVEL = {"rms": -20.0, "lufs": -23.0}


@dataclass
class ExportSettings:
    """How the files are written.

    Attributes:
        sr: output sample rate (None: the model's).
        subtype: "PCM_16", "PCM_24" or "FLOAT".
        loudness: "rms" (RMS dBFS), "lufs" (integrated loudness, needs pyloudnorm) or "none".
        level: target level in dBFS RMS or LUFS (None: -20 dBFS RMS / -23 LUFS).
        ramp_ms: raised-cosine onset and offset ramps.
        silence_before_ms: silence before each sound.
        silence_after_ms: silence after each sound.
        peak_db: if matching the level would push a peak above this, every step is turned down
            by the same amount (so they stay matched) and a note says so.
    """

    sr: int | None = None
    subtype: str = "PCM_16"
    loudness: str = "rms"
    level: float | None = None
    ramp_ms: float = 5.0
    silence_before_ms: float = 0.0
    silence_after_ms: float = 0.0
    peak_db: float = -1.0


def check_output(out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse an existing output folder unless ``overwrite`` (call before any slow work)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise DataError("output folder already exists (use --overwrite to replace it)", out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError("output path exists and is not a folder", out_dir)
    return out_dir


def match_levels(waveforms: list[np.ndarray], sr: int, settings: ExportSettings) -> tuple[list[np.ndarray], list[str]]:
    """Bring every waveform to the same level, turning all down together if one would clip.

    Args:
        waveforms: (n_k,) float32 arrays at ``sr``.
        sr: their sample rate.
        settings: loudness mode, target level and peak ceiling.
    Returns:
        (scaled waveforms, notes).
    Raises:
        AudioError: a silent step, or a bad loudness mode.
    """
    if settings.loudness not in LOUDNESS:
        raise AudioError(f"unknown loudness matching '{settings.loudness}' (use {', '.join(LOUDNESS)})")
    if settings.loudness == "none":
        return [np.asarray(y, np.float32) for y in waveforms], []
    target = DEFAULT_LEVEL[settings.loudness] if settings.level is None else float(settings.level)
    levels, notes = measure_levels(waveforms, sr, settings.loudness)
    if not all(math.isfinite(v) for v in levels):
        raise AudioError("a step came out silent: its level cannot be matched (the model decodes an empty tile there)")
    gains_db = np.array([target - v for v in levels])
    peaks = np.array([audio.peak_db(y) for y in waveforms]) + gains_db
    excess = float(peaks.max() - settings.peak_db)
    if excess > 0:
        gains_db -= excess
        notes.append(f"level {target:g} would clip: every step turned down by {excess:.1f} dB "
                     f"to keep peaks at {settings.peak_db:g} dBFS")
    scaled = [(np.asarray(y, np.float64) * 10 ** (g / 20)).astype(np.float32) for y, g in zip(waveforms, gains_db)]
    return scaled, notes


def measure_levels(waveforms: list[np.ndarray], sr: int, loudness: str) -> tuple[list[float], list[str]]:
    """Each waveform's level: RMS dBFS, or LUFS (blocks shortened for sounds under 0.4 s).

    Returns:
        (levels, notes).
    """
    if loudness == "rms":
        return [audio.rms_db(y) for y in waveforms], []
    pyloudnorm = audio._pyloudnorm()
    shortest = min(len(y) for y in waveforms) / sr
    block = min(0.4, shortest)
    notes = [] if block >= 0.4 else [f"LUFS measured with {1000 * block:.0f} ms blocks (the sounds are shorter "
                                     f"than the standard 400 ms)"]
    meter = pyloudnorm.Meter(sr, block_size=block)
    levels = []
    for y in waveforms:
        with np.errstate(divide="ignore"):
            levels.append(float(meter.integrated_loudness(np.asarray(y, np.float64))))
    return levels, notes


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


def write_manifest(path: Path, rows: list[dict]) -> Path:
    """Write rows as CSV with the known columns first, in :data:`COLUMNS` order."""
    used = {k for row in rows for k in row}
    weights = sorted((k for k in used if k[:1] == "w" and k[1:].isdigit()), key=lambda k: int(k[1:]))
    columns = [c for c in COLUMNS if c in used]
    at = columns.index("v") + 1 if "v" in columns else columns.index("duration_s")
    columns = columns[:at] + weights + columns[at:]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    return path


def package_versions(names: tuple[str, ...] = ("gaia-audio", "torch", "numpy", "scipy", "librosa", "soundfile",
                                               "safetensors", "pyloudnorm")) -> dict[str, str]:
    """Installed versions of the packages a continuum depends on (read from metadata, not imported)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(results: list[MorphResult], out_dir: str | os.PathLike, settings: ExportSettings | None = None,
           provenance: dict | None = None, overwrite: bool = False, plot: bool = True,
           on_note: Callable[[str], None] | None = None, worker: Worker | None = None) -> Path:
    """Write continua as WAV files plus manifest.csv, provenance.json and continuum.png.

    One continuum goes straight into ``out_dir`` (``step_00.wav`` …); several go into one
    subfolder each, named after the pair.

    Args:
        results: the continua (from ``morph.morph_pair`` and friends).
        out_dir: destination folder (must not exist unless ``overwrite``).
        settings: sample rate, bit depth, loudness, ramps, silence.
        provenance: what made the files (model checksum, recipe, command, seed, inputs); the
            export settings, notes and package versions are added.
        overwrite: replace an existing ``out_dir``.
        plot: draw continuum.png.
        on_note: called with each note the export adds (output resampled, levels turned down).
        worker: draws continuum.png in its process (None: in this one).
    Returns:
        ``out_dir``.
    """
    settings = settings or ExportSettings()
    out_dir = check_output(out_dir, overwrite)
    if not results:
        raise DataError("nothing to export: no continua")
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise DataError(f"two continua share a name ({', '.join(n for n in names if names.count(n) > 1)}); name them apart")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        rows, notes, strips = _write_sounds(results, tmp, settings)
        for note in notes if on_note else []:
            on_note(note)
        write_manifest(tmp / "manifest.csv", rows)
        record = dict(provenance or {})
        record["export"] = asdict(settings)
        record["notes"] = list(dict.fromkeys(record.get("notes", []) + notes))
        record["versions"] = package_versions()
        record["files"] = len(rows)
        (tmp / "provenance.json").write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        if plot:
            from gaia_audio.plots import continuum_strip

            draw = worker.run if worker is not None else lambda func, *args, **kwargs: func(*args, **kwargs)
            draw(continuum_strip, strips, tmp / "continuum.png", results[0].sr, hop_length=results[0].hop_length,
                 freq_range=results[0].freq_range)
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _write_sounds(results: list[MorphResult], folder: Path, settings: ExportSettings):
    """Process and save every step; return (manifest rows, notes, strips for the plot)."""
    model_sr = results[0].sr
    sr = int(settings.sr or model_sr)
    notes = []
    waveforms = []
    for result in results:
        for y in result.waveforms:
            y = audio.resample(y, result.sr, sr) if result.sr != sr else np.asarray(y, np.float32)
            waveforms.append(audio.apply_ramps(y, sr, settings.ramp_ms))
    if sr != model_sr:
        notes.append(f"output resampled from the model's {model_sr} Hz to {sr} Hz")
    waveforms, level_notes = match_levels(waveforms, sr, settings)
    notes += level_notes
    lufs = measure_levels(waveforms, sr, "lufs")[0] if settings.loudness == "lufs" else None
    rows, strips, k = [], [], 0
    for result in results:
        sub = folder if len(results) == 1 else folder / result.name
        sub.mkdir(exist_ok=True)
        for stem, row, S in zip(result.stems, result.rows, result.spectrograms):
            y = waveforms[k]
            padded = audio.pad_silence(y, sr, settings.silence_before_ms, settings.silence_after_ms)
            path = audio.save(sub / f"{stem}.wav", padded, sr, settings.subtype)
            rows.append({**row, "file": path.relative_to(folder).as_posix(), "duration_s": len(y) / sr,
                         "file_duration_s": len(padded) / sr, "level_db": audio.rms_db(y),
                         "loudness_lufs": None if lufs is None else lufs[k]})
            k += 1
        strips.append((result.name, list(result.spectrograms), [r.get("alpha") for r in result.rows]))
    return rows, notes, strips


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished temporary folder to ``out_dir``, replacing an old one only at the end."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except OSError:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
