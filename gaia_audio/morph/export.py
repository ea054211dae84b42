"""Export continua for experiments: WAV files, manifest.csv, provenance.json, continuum.png, index.html.

Every step of every continuum is brought to the same loudness (RMS dBFS, or LUFS through the
optional pyloudnorm), given onset/offset ramps and leading/trailing silence, and written at the
chosen sample rate and bit depth. ``manifest.csv`` has one row per file and only columns whose
names are Python identifiers, so PsychoPy reads it as a conditions file (file paths are relative
to the manifest's folder). Everything is written into a hidden temporary folder beside the
destination and renamed into place at the end: a failed or interrupted run leaves nothing, and
an existing folder is replaced only when ``overwrite`` is set.
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gaia_audio.errors import AudioError, DataError
from gaia_audio.io import audio
from gaia_audio.io.files import write_text
from gaia_audio.io.manifest import write_continuum_manifest
from gaia_audio.morph.page import continuum_groups, write_continuum_pages

if TYPE_CHECKING:  # only annotations: importing this module stays free of torch
    from gaia_audio.io.figures import Worker
    from gaia_audio.morph.series import MorphResult

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
    pyloudnorm = audio.pyloudnorm_module()
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


def export(results: list[MorphResult], out_dir: str | os.PathLike, settings: ExportSettings | None = None,
           provenance: dict | None = None, overwrite: bool = False, plot: bool = True,
           on_note: Callable[[str], None] | None = None, worker: Worker | None = None) -> Path:
    """Write continua as WAV files plus manifest.csv, provenance.json, continuum.png and index.html.

    One continuum goes straight into ``out_dir`` (``step_00.wav`` …); several go into one
    subfolder each, named after the pair. The input sounds go to ``originals/`` and a listening
    page, ``index.html``, plays them beside the steps (:mod:`gaia_audio.morph.page`).

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
        raise DataError(f"two continua share a name ({', '.join(n for n in names if names.count(n) > 1)}); "
                        "name them apart")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        rows, notes, strips = _write_sounds(results, tmp, settings)
        for note in notes if on_note else []:
            on_note(note)
        write_continuum_manifest(tmp / "manifest.csv", rows)
        record = dict(provenance or {})
        record["export"] = asdict(settings)
        record["notes"] = list(dict.fromkeys(record.get("notes", []) + notes))
        record["versions"] = package_versions()
        record["files"] = len(rows)
        write_text(tmp / "provenance.json", json.dumps(record, indent=2, default=str) + "\n")
        if plot:
            from gaia_audio.io.figures import continuum_strip

            draw = worker.run if worker is not None else lambda func, *args, **kwargs: func(*args, **kwargs)
            draw(continuum_strip, strips, tmp / "continuum.png", results[0].sr, hop_length=results[0].hop_length,
                 freq_range=results[0].freq_range)
        originals = _write_originals(results, tmp, settings.subtype)
        write_continuum_pages(tmp, continuum_groups(rows, names, originals), record,
                              "continuum.png" if plot else None)
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


def _write_originals(results: list[MorphResult], folder: Path, subtype: str) -> dict[str, list[tuple[str, str]]]:
    """Save each continuum's input sounds under ``[NAME/]originals/`` for the listening page.

    Returns:
        continuum name -> [(original's name, its path relative to ``folder``), ...].
    """
    found = {}
    for result in results:
        sub = "" if len(results) == 1 else f"{result.name}/"
        paths, used = [], set()
        for name, y in result.originals.items():
            stem = re.sub(r"[^\w.-]+", "_", name).strip("._") or "original"
            while stem in used:
                stem += "_"
            used.add(stem)
            audio.save(folder / f"{sub}originals" / f"{stem}.wav", y, result.sr, subtype)
            paths.append((name, f"{sub}originals/{stem}.wav"))
        found[result.name] = paths
    return found


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
