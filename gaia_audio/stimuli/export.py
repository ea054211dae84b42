"""Export continua for experiments: WAV files, manifest.csv, provenance.json, continuum.png, index.html.

Every step of every continuum is brought to the same loudness (RMS dBFS, or LUFS through the
optional pyloudnorm), given onset/offset ramps and leading/trailing silence, and written at the
chosen sample rate and bit depth. ``manifest.csv`` has one row per file and only columns whose
names are Python identifiers, so PsychoPy reads it as a conditions file (file paths are relative
to the manifest's folder). Everything is written into a hidden temporary folder beside the
destination and renamed into place at the end (:func:`gaia_audio.io.files.atomic_folder`): a
failed or interrupted run leaves nothing. ``overwrite`` replaces only a folder this module wrote
(provenance.json says so and lists its files) that holds nothing else; a folder that is or holds
the current folder, or holds an input, is never written. Steps are written as a (streamed) series
makes them, a chunk at a time, so a long continuum is never whole in memory.
"""
from __future__ import annotations

import errno
import json
import math
import numbers
import os
import platform
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gaia_audio.bounds import MAX_RAMP_MS, MAX_SILENCE_MS, MAX_SR, MIN_LEVEL_DB, in_bounds
from gaia_audio.errors import AudioError, ConfigError, DataError
from gaia_audio.io import audio
from gaia_audio.io.files import atomic_folder, write_text
from gaia_audio.stimuli.manifest import write_continuum_manifest
from gaia_audio.stimuli.output_folder import WRITTEN_BY, check_names, check_output, check_replaceable
from gaia_audio.stimuli.page import continuum_groups, write_continuum_pages

if TYPE_CHECKING:  # only annotations: importing this module stays free of torch
    from gaia_audio.morph.series import MorphResult
    from gaia_audio.render.worker import Worker

LOUDNESS = ("rms", "lufs", "none")
DEFAULT_LEVEL = {"rms": -20.0, "lufs": -23.0}
#: Steps of each continuum drawn in continuum.png (evenly spaced, both ends included).
STRIP_STEPS = 32


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

    def __post_init__(self):
        """Refuse a number out of bounds, before any work: one line naming it and its value (the subtype and
        loudness mode are checked where they are used)."""
        sr_ok = self.sr is None or (isinstance(self.sr, numbers.Integral) and in_bounds(int(self.sr), 1, MAX_SR))
        rules = [("sr", sr_ok, f"null or a whole sample rate in 1..{MAX_SR} Hz"),
                 ("level", in_bounds(self.level, MIN_LEVEL_DB, 0), f"null or in {MIN_LEVEL_DB:g}..0 (dBFS or LUFS)"),
                 ("ramp_ms", in_bounds(self.ramp_ms, 0, MAX_RAMP_MS, False), f"in 0..{MAX_RAMP_MS:g} ms"),
                 ("silence_before_ms", in_bounds(self.silence_before_ms, 0, MAX_SILENCE_MS, False),
                  f"in 0..{MAX_SILENCE_MS:g} ms"),
                 ("silence_after_ms", in_bounds(self.silence_after_ms, 0, MAX_SILENCE_MS, False),
                  f"in 0..{MAX_SILENCE_MS:g} ms"),
                 ("peak_db", in_bounds(self.peak_db, MIN_LEVEL_DB, 0, False), f"in {MIN_LEVEL_DB:g}..0 dBFS")]
        for name, ok, need in rules:
            if not ok:
                raise ConfigError(f"export setting '{name}' must be {need}, got {getattr(self, name)!r}")

    def check_band(self, fmax: float | None, model: str | os.PathLike | None = None) -> None:
        """Refuse an output sample rate whose Nyquist frequency lies below the model's band.

        Args:
            fmax: the top of the model's front-end band in Hz (None: no band to hold).
            model: the model file, which the error names.
        Raises:
            ConfigError: e.g. ``--sr 1000`` for a zebra finch model (band up to 8 kHz).
        """
        if self.sr is not None and fmax is not None and int(self.sr) / 2 < float(fmax):
            raise ConfigError(f"output sample rate --sr {int(self.sr)} Hz cannot hold the model's band up to "
                              f"{float(fmax):g} Hz (use at least {math.ceil(2 * float(fmax))} Hz)", model)


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
    levels, notes = measure_levels(waveforms, sr, settings.loudness)
    gains_db, more = level_gains(levels, [audio.peak_db(y) for y in waveforms], settings)
    scaled = [(np.asarray(y, np.float64) * 10 ** (g / 20)).astype(np.float32) for y, g in zip(waveforms, gains_db)]
    return scaled, notes + more


def level_gains(levels: list[float], peaks_db: list[float], settings: ExportSettings) -> tuple[np.ndarray, list[str]]:
    """Gains that bring every step to the target level, all turned down together if one would clip.

    Args:
        levels: each step's level, RMS dBFS or LUFS as ``settings.loudness`` says.
        peaks_db: each step's peak, dBFS.
        settings: loudness mode, target level and peak ceiling.
    Returns:
        ((K,) gains in dB, notes).
    Raises:
        AudioError: a silent step.
    """
    if settings.loudness == "none":
        return np.zeros(len(levels)), []
    target = DEFAULT_LEVEL[settings.loudness] if settings.level is None else float(settings.level)
    if not all(math.isfinite(v) for v in levels):
        raise AudioError("a step came out silent: its level cannot be matched (the model decodes an empty tile there)")
    gains_db = target - np.asarray(levels, dtype=np.float64)
    excess = float((np.asarray(peaks_db, dtype=np.float64) + gains_db).max() - settings.peak_db)
    if excess <= 0:
        return gains_db, []
    return gains_db - excess, [f"level {target:g} would clip: every step turned down by {excess:.1f} dB "
                               f"to keep peaks at {settings.peak_db:g} dBFS"]


def measure_levels(waveforms: list[np.ndarray], sr: int, loudness: str) -> tuple[list[float], list[str]]:
    """Each waveform's level: RMS dBFS, or LUFS (blocks shortened for sounds under 0.4 s).

    Returns:
        (levels, notes).
    """
    if loudness == "rms":
        return [audio.rms_db(y) for y in waveforms], []
    meter, notes = lufs_meter(sr, min(len(y) for y in waveforms) / sr)
    return [lufs(meter, y) for y in waveforms], notes


def lufs_meter(sr: int, shortest_s: float):
    """A pyloudnorm meter with 400 ms blocks, shorter when the shortest sound is (and a note saying so).

    Returns:
        (meter, notes).
    """
    pyloudnorm = audio.pyloudnorm_module()
    block = min(0.4, shortest_s)
    notes = [] if block >= 0.4 else [f"LUFS measured with {1000 * block:.0f} ms blocks (the sounds are shorter "
                                     f"than the standard 400 ms)"]
    return pyloudnorm.Meter(sr, block_size=block), notes


def lufs(meter, y: np.ndarray) -> float:
    """Integrated loudness of (n,) samples with ``meter`` (from :func:`lufs_meter`); -inf when silent."""
    with np.errstate(divide="ignore"):
        return float(meter.integrated_loudness(np.asarray(y, np.float64)))


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
           on_note: Callable[[str], None] | None = None, worker: Worker | None = None,
           inputs: list[str | os.PathLike] | tuple = ()) -> Path:
    """Write continua as WAV files plus manifest.csv, provenance.json, continuum.png and index.html.

    One continuum goes straight into ``out_dir`` (``step_00.wav`` …); several go into one
    subfolder each, named after the pair. The input sounds go to ``originals/`` and a listening
    page, ``index.html``, plays them beside the steps (:mod:`gaia_audio.stimuli.page`).

    Args:
        results: the continua (from ``morph.morph_pair`` and friends).
        out_dir: destination folder (must not exist unless ``overwrite``; see :func:`check_output`).
        settings: sample rate, bit depth, loudness, ramps, silence.
        provenance: what made the files (model checksum, recipe, command, seed, inputs); the
            export settings, notes and package versions are added.
        overwrite: replace an existing ``out_dir`` that gaia-audio wrote and that holds nothing else.
        plot: draw continuum.png.
        on_note: called with each note the export adds (output resampled, levels turned down).
        worker: draws continuum.png in its process (None: in this one); killed if the export fails.
        inputs: files the command read, which ``out_dir`` must not hold.
    Returns:
        ``out_dir``.
    Raises:
        DataError: ``out_dir`` may not be written (:func:`check_output`), or bad continuum names.
    """
    settings = settings or ExportSettings()
    out_dir = check_output(out_dir, overwrite, inputs)
    if not results:
        raise DataError("nothing to export: no continua")
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise DataError(f"two continua share a name ({', '.join(n for n in names if names.count(n) > 1)}); "
                        "name them apart")
    check_names(names)
    replace = (lambda old: check_replaceable(old, shown=out_dir)) if overwrite else None
    with atomic_folder(out_dir, replace) as tmp:
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
            record["written_by"] = WRITTEN_BY
            if plot:
                from gaia_audio.render.figures import continuum_strip

                draw = worker.run if worker is not None else lambda func, *args, **kwargs: func(*args, **kwargs)
                draw(continuum_strip, strips, tmp / "continuum.png", results[0].sr,
                     hop_length=results[0].hop_length, freq_range=results[0].freq_range)
            originals = _write_originals(results, tmp, settings.subtype)
            write_continuum_pages(tmp, continuum_groups(rows, names, originals), record,
                                  "continuum.png" if plot else None)
            written = [p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()]
            record["outputs"] = sorted([*written, "provenance.json"])  # what --overwrite may replace
            write_text(tmp / "provenance.json", json.dumps(record, indent=2, default=str) + "\n")
        except BaseException as err:
            if worker is not None:  # stop the drawing before the folder goes, so that nothing writes into it
                worker.abort()
            if isinstance(err, OSError):  # a step's staging file, a WAV: name the folder the user gave
                raise _write_error(err, out_dir) from None
            raise
    return out_dir


def _write_error(err: OSError, out_dir: Path) -> AudioError:
    """The one-line error of an OSError met while the continuum's folder is filled (nothing is kept)."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return AudioError("disk full while writing the continuum; nothing was written", out_dir)
    return AudioError(f"could not write the continuum ({err.strerror or err}); nothing was written", out_dir)


def _write_sounds(results: list[MorphResult], folder: Path, settings: ExportSettings):
    """Process and save every step, a chunk of steps at a time; return (manifest rows, notes, strips).

    Levels are matched across all steps, so every level is needed before any gain: the first pass
    takes the steps as the series makes them (:meth:`MorphResult.chunks`), resamples and ramps
    each and parks it as float32 in a hidden ``.staging`` folder, keeping its level and peak; the
    second pass scales, pads and writes each one. Memory holds one chunk of steps and the
    :data:`STRIP_STEPS` spectrograms per continuum that continuum.png shows, whatever ``--steps``.
    """
    if settings.loudness not in LOUDNESS:
        raise AudioError(f"unknown loudness matching '{settings.loudness}' (use {', '.join(LOUDNESS)})")
    model_sr = results[0].sr
    sr = int(settings.sr or model_sr)
    staging = folder / ".staging"
    staging.mkdir()
    staged, levels, peaks, strips = [], [], [], []
    for result in results:
        shown = _strip_steps(len(result.rows))
        specs, n = [], 0
        for waveforms, spectrograms in result.chunks():
            for y, S in zip(waveforms, spectrograms):
                y = audio.resample(y, result.sr, sr) if result.sr != sr else np.asarray(y, np.float32)
                y = audio.apply_ramps(y, sr, settings.ramp_ms)
                staged.append(staging / f"{len(staged)}.npy")
                np.save(staged[-1], y, allow_pickle=False)
                levels.append(audio.rms_db(y))
                peaks.append(audio.peak_db(y))
                specs += [S] if n in shown else []
                n += 1
        alphas = [result.rows[k].get("alpha") for k in shown]
        if len(shown) < n:  # a sample of the steps: those without an alpha are labelled by their number
            alphas = [a if isinstance(a, (int, float)) else str(k) for k, a in zip(shown, alphas)]
        if len(result.recordings) == 2:  # a pair: the recordings themselves at both ends of its strip
            (_, first), (_, last) = result.recordings
            specs, alphas = [first, *specs, last], ["recording", *alphas, "recording"]
        strips.append((result.name, specs, alphas))
    notes = [] if sr == model_sr else [f"output resampled from the model's {model_sr} Hz to {sr} Hz"]
    meter = None
    if settings.loudness == "lufs":
        lengths = [np.load(p, mmap_mode="r").shape[0] for p in staged]
        meter, more = lufs_meter(sr, min(lengths) / sr)
        levels, notes = [lufs(meter, np.load(p)) for p in staged], notes + more
    gains_db, more = level_gains(levels, peaks, settings)
    notes += more
    rows, i = [], 0
    for result in results:
        sub = folder if len(results) == 1 else folder / result.name
        sub.mkdir(exist_ok=True)
        for stem, row in zip(result.stems, result.rows):
            y = (np.load(staged[i]).astype(np.float64) * 10 ** (gains_db[i] / 20)).astype(np.float32)
            staged[i].unlink()
            padded = audio.pad_silence(y, sr, settings.silence_before_ms, settings.silence_after_ms)
            path = audio.save(sub / f"{stem}.wav", padded, sr, settings.subtype)
            rows.append({**row, "file": path.relative_to(folder).as_posix(), "duration_s": len(y) / sr,
                         "file_duration_s": len(padded) / sr, "level_db": audio.rms_db(y),
                         "loudness_lufs": None if meter is None else lufs(meter, y)})
            i += 1
    staging.rmdir()
    return rows, notes, strips


def _strip_steps(n_steps: int) -> list[int]:
    """The steps continuum.png shows: all, or :data:`STRIP_STEPS` evenly spaced with both ends."""
    return sorted({int(k) for k in np.linspace(0, n_steps - 1, min(n_steps, STRIP_STEPS)).round()})


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
