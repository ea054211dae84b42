"""Cut recordings into vocal units: energy-based onset/offset detection (with its settings per
front-end preset, and a record of what it kept and dropped), and the unit WAVs (annotation files
are read by :mod:`gaia_audio.data.annotations`; the manifest by :mod:`gaia_audio.io.manifest`).
"""
from __future__ import annotations

import hashlib
import inspect
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.signal

from gaia_audio.errors import AudioError, ConfigError, DataError
from gaia_audio.io import audio

#: Unit edges are extended outward at most down to threshold_db - EXTEND_DB.
EXTEND_DB = 30.0
#: Why a loud piece did not become a unit (:attr:`SegmentationRecord.dropped`): a run above the
#: threshold (gaps under min_silence bridged) shorter than min_duration ...
TOO_SHORT = "too short"
#: ... or a piece of a run longer than max_duration, cut at its deepest dips, that is too short.
TOO_SHORT_AFTER_SPLIT = "too short after split"

# detect_units settings per front-end preset (the names of gaia_audio.spectral.presets.PRESETS).
# The threshold is in dB re each recording's loud reference (99.5th percentile of the band energy);
# durations and gaps are in seconds, measured between threshold crossings (before the edges move
# out to where the sound rises from the background); fmin/fmax bound the band whose energy counts.
SEGMENTATION_PRESETS: dict[str, dict] = {
    # Measured: tuned on the four Sound Analysis Pro songs of the vocalpy 0.10.3 wheel, which it
    # cuts into 37 syllables of 44-291 ms (tests/test_segment.py::test_real_songs_give_plausible_syllables).
    "zebra_finch": dict(threshold_db=-25.0, min_duration=0.03, max_duration=0.3, min_silence=0.01, fmin=500.0,
                        fmax=None),
    # Band 500 Hz-10 kHz: the front-end preset's, = the evsonganaly/vocalpy.segment.meansquared
    # freq_cutoffs. min_duration 20 ms: meansquared's default. min_silence 5 ms: under the 6 ms min_int
    # of the evsonganaly annotation of gy6or6 (Bengalese Finch Song Repository, Nicholson et al. 2017,
    # shipped with crowsetta), whose 78 syllables of 29-106 ms are often only 10-20 ms apart.
    # max_duration 200 ms: twice its longest syllable. Threshold, measured with these settings on
    # the Bengalese finch song of vocalseg (Sainburg et al. 2020; 20.7 s, 32 kHz): its syllables peak
    # -30 to +4 dB re the loud reference and the background lies 46-54 dB below it, so -35 dB sits
    # 5 dB under the softest syllable and 11-19 dB over the background; it gives 130 units (95th
    # percentile 83 ms long) where the zebra finch settings give 62 and drop 63 pieces as too short.
    "bengalese_finch": dict(threshold_db=-35.0, min_duration=0.02, max_duration=0.2, min_silence=0.005,
                            fmin=500.0, fmax=10000.0),
    # Not measured here (no starling recording offline). Band 500 Hz-12 kHz: the front-end preset's.
    # min_duration 10 ms and max_duration 1 s: vocalseg's starling settings (Sainburg et al. 2020:
    # min_syllable_length_s=0.01, max_vocal_for_spec=1.0). Threshold and min_silence: detect_units'.
    "starling": dict(threshold_db=-30.0, min_duration=0.01, max_duration=1.0, min_silence=0.01, fmin=500.0,
                     fmax=12000.0),
    # Measured: the speech preparation's own tuning (datasets/speech): words and syllables apart
    # by pauses of >= 50 ms; a 100 Hz high-pass keeps mains hum and handling noise out.
    "speech_16k": dict(threshold_db=-30.0, min_duration=0.05, max_duration=1.0, min_silence=0.05, fmin=100.0,
                       fmax=None),
    # Not measured here (no mouse recording offline). Band 30-110 kHz and max_duration 200 ms: AVA's
    # mouse syllable example (Goffinet et al. 2021, examples/mouse_sylls_mwe.py). min_duration 15 ms
    # and min_silence 4 ms: Jourjine et al. 2023's deer mouse pup settings (min_dur, min_isi_dur, as
    # vocalpy.segment.ava.JOURJINEETAL2023). Threshold: detect_units' default.
    "mouse_usv": dict(threshold_db=-30.0, min_duration=0.015, max_duration=0.2, min_silence=0.004,
                      fmin=30000.0, fmax=110000.0),
}


@dataclass(frozen=True)
class SegmentationRecord:
    """What :func:`detect_units_record` did to one recording (times in seconds).

    Attributes:
        units: [(onset_s, offset_s), ...] the units, as :func:`detect_units` returns them.
        dropped: [(onset_s, offset_s, reason), ...] loud pieces that are not units, with
            :data:`TOO_SHORT` or :data:`TOO_SHORT_AFTER_SPLIT` (edges where they crossed the threshold).
        splits: [time_s, ...] where a run longer than max_duration was cut at an envelope dip.
        bridged: [(start_s, stop_s), ...] gaps shorter than min_silence that joined two runs.
        times: (n_frames,) time of each envelope frame.
        env_db: (n_frames,) band energy in dB re the loud reference (-inf for a silent recording).
        threshold_db: the threshold the runs were cut at.
    """

    units: list[tuple[float, float]]
    dropped: list[tuple[float, float, str]]
    splits: list[float]
    bridged: list[tuple[float, float]]
    times: np.ndarray
    env_db: np.ndarray
    threshold_db: float


def segmentation_params(preset: str, **overrides) -> dict:
    """The :func:`detect_units` settings of a front-end preset, with some replaced.

    Args:
        preset: a key of :data:`SEGMENTATION_PRESETS`.
        **overrides: any keyword argument of detect_units; None keeps the preset's value.
    Returns:
        keyword arguments for detect_units.
    Raises:
        ConfigError: an unknown preset or option.
    """
    if preset not in SEGMENTATION_PRESETS:
        raise ConfigError(f"unknown segmentation preset '{preset}' (use one of {', '.join(SEGMENTATION_PRESETS)})")
    unknown = set(overrides) - (set(inspect.signature(detect_units).parameters) - {"y", "sr"})
    if unknown:
        raise ConfigError(f"unknown segmentation option(s): {', '.join(sorted(unknown))}")
    return {**SEGMENTATION_PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}


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
        fmax: low-pass edge in Hz (None or 0 for none).
        hop_length: envelope frame step in samples; None means 1 ms.

    Returns:
        [(onset_s, offset_s), ...] sorted and non-overlapping.
    """
    return detect_units_record(y, sr, threshold_db=threshold_db, min_duration=min_duration,
                               max_duration=max_duration, min_silence=min_silence, fmin=fmin, fmax=fmax,
                               hop_length=hop_length).units


def detect_units_record(y: np.ndarray, sr: int, *, threshold_db: float = -30.0, min_duration: float = 0.03,
                        max_duration: float = 0.5, min_silence: float = 0.01, fmin: float = 500.0,
                        fmax: float | None = None, hop_length: int | None = None) -> SegmentationRecord:
    """:func:`detect_units` (same arguments, same units), also telling what it bridged, split and dropped.

    Returns:
        a :class:`SegmentationRecord`: the units, the loud pieces dropped with the reason for each
        (:data:`TOO_SHORT`, :data:`TOO_SHORT_AFTER_SPLIT`), where long runs were split, which
        gaps were bridged, and the envelope and threshold they were found on.
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
    runs = _runs(env_db > threshold_db)  # [(start_frame, stop_frame)] with stop exclusive
    longest = len(env_db) + 1  # caps infinite durations (no split, no merge limit) to whole numbers
    min_gap = int(round(min(min_silence / frame_s, longest)))
    bridged = [(a[1], b[0]) for a, b in zip(runs, runs[1:]) if b[0] - a[1] < min_gap]
    max_frames = max(1, int(math.floor(min(max_duration / frame_s, longest))))
    min_frames = int(math.ceil(min(min_duration / frame_s, longest) - 1e-9))  # inf: nothing is long enough
    kept, dropped, splits = [], [], []
    for run in _merge_short_gaps(runs, min_gap):
        pieces = _split_long(run, env_db, max_frames)
        splits += [stop for _, stop in pieces[:-1]]
        for piece in pieces:
            if piece[1] - piece[0] >= min_frames:
                kept.append(piece)
            else:
                dropped.append((piece, TOO_SHORT if len(pieces) == 1 else TOO_SHORT_AFTER_SPLIT))
    kept = _extend_to_valleys(kept, env_db, max_frames, floor_db=threshold_db - EXTEND_DB)

    def seconds(frame: int) -> float:
        return min(frame * hop_length, y.size) / sr

    return SegmentationRecord(
        units=[(seconds(a), seconds(b)) for a, b in kept],
        dropped=[(seconds(a), seconds(b), reason) for (a, b), reason in dropped],
        splits=[seconds(t) for t in splits], bridged=[(seconds(a), seconds(b)) for a, b in bridged],
        times=np.arange(env_db.size) * frame_s, env_db=env_db, threshold_db=float(threshold_db))


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
        while (new_start > lo and floor_db < env_db[new_start - 1] < env_db[new_start]
               and start - new_start < budget // 2):
            new_start -= 1
        budget -= start - new_start
        new_stop = stop
        while new_stop < hi and floor_db < env_db[new_stop] < env_db[new_stop - 1] and new_stop - stop < budget:
            new_stop += 1
        out.append((new_start, new_stop))
    return out


# ---------------------------------------------------------------- unit files and recordings


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
            raise DataError(f"unit {i} ({unit[0]:.3f}-{unit[1]:.3f} s) lies outside the recording "
                            f"(0-{duration:.3f} s)", source_name)
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
    base = (name[: -len(PurePosixPath(name).suffix)]
            if PurePosixPath(name).suffix.lower() in audio.SOUNDFILE_EXTENSIONS | audio.DECODER_EXTENSIONS else name)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_-")[:80] or "unit"
    if safe != base:
        safe += "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return safe


def find_recordings(source: str | os.PathLike, extensions: tuple[str, ...],
                    exclude: str | os.PathLike | None = None) -> list[Path]:
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


