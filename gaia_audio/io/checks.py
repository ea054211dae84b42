"""The one check an input sound passes before any command analyses it: usable, or a one-line error.

``gaia-audio resynth`` and ``spectrogram`` (:mod:`gaia_audio.cli.frontend`), every morph input
(:func:`gaia_audio.morph.model.make_endpoint`) and the dataset preparations
(:mod:`gaia_audio.data.examples`) all call :func:`check_signal`, so a recording is judged the same
way wherever it goes. In order, it refuses (``AudioError`` naming the input):

1. an empty signal, or one holding NaN or Inf;
2. a sample rate whose Nyquist frequency lies below the front end's ``fmax``: resampling up to
   the front end's rate cannot create the missing band, and every figure computed in that band
   would measure nothing;
3. fewer samples than one analysis window (``win_length``) at the front end's rate, counted
   after resampling (:func:`gaia_audio.io.audio.resample`'s length, ``ceil(n * frontend_sr / sr)``);
4. a signal of zeros (``silent input``), or of one constant value (a DC offset, no sound).

A near-silent signal (peak below :data:`NEAR_SILENT_DBFS`) is not refused: it gets a note, and
the command goes on. A morph then applies one more rule to the spectrogram the model will see,
:func:`check_loud_enough`: a loudest bin within :data:`QUIET_DB` of the front end's floor (below
-60 dB on every preset) is refused as too quiet. A bin is never louder than the peak plus the
pre-emphasis gain (at most +6 dB, at Nyquist) and, for a real call spread over many bins, some
20 dB quieter; so a morph refuses nearly every near-silent input, and only a near-silent high pure
tone goes on with the note. :func:`load_checked` reads, checks and resamples a file;
:func:`check_files` checks a whole dataset before anything is written.
"""
from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from gaia_audio.errors import AudioError, BandError
from gaia_audio.io import audio

#: An input whose loudest time-frequency bin is less than this many dB above the front end's
#: floor is refused as too quiet for a model (:func:`check_loud_enough`): it would see an almost empty tile.
QUIET_DB = 20.0
#: A signal whose loudest sample is below this (dBFS, full scale = 0 dB) is near-silent: a note says so.
#: It is 1/1000 of full scale (a peak of ±33 steps in 16-bit audio), far below the level any call
#: is recorded at, and the level where the presets' spectrogram (floor -80 dB re a full-scale
#: sine) keeps at most about 20 dB above its floor: what the figures and scores then describe is
#: mostly the floor and the recording chain's noise.
NEAR_SILENT_DBFS = -60.0


def check_signal(y: np.ndarray, sr: int, name: str | os.PathLike, frontend_sr: int, win_length: int,
                 fmax: float | None) -> list[str]:
    """Refuse a sound that a front end cannot analyse; note one that is near-silent.

    Args:
        y: (n,) or (channels, n) samples at ``sr``, full scale ±1.
        sr: their sample rate in Hz (the file's, before any resampling).
        name: the file's path or the input's name, which errors and notes start with.
        frontend_sr: the front end's sample rate in Hz (``y`` will be resampled to it).
        win_length: the front end's analysis window in samples at ``frontend_sr``.
        fmax: the top of the front end's band in Hz (None: no band to hold).
    Returns:
        Notes, each one line starting with ``name`` (a near-silent input); empty when all is well.
    Raises:
        AudioError: naming ``name``: empty, NaN/Inf, a rate that cannot hold the band, too short
            for one analysis window, or all zeros.
    """
    y = np.asarray(y)
    n = int(y.shape[-1]) if y.ndim else 0
    if n == 0 or y.size == 0:
        raise AudioError("empty input (0 samples)", name)
    if not np.all(np.isfinite(y)):
        raise AudioError("input holds NaN or Inf samples", name)
    if int(sr) <= 0:
        raise AudioError(f"sample rate must be positive, got {sr}", name)
    if fmax is not None and sr / 2 < float(fmax):
        raise BandError(f"sample rate {int(sr)} Hz cannot hold the front end's band up to {float(fmax):g} Hz "
                         f"(it needs at least {2 * float(fmax):g} Hz; resampling up cannot create the missing band)",
                         name)
    n_analysed = n if int(sr) == int(frontend_sr) else math.ceil(n * int(frontend_sr) / int(sr))
    if n_analysed < int(win_length):
        raise AudioError(f"too short: {n} sample(s) at {int(sr)} Hz ({1000 * n / sr:.3g} ms), less than one "
                         f"analysis window ({int(win_length)} samples at {int(frontend_sr)} Hz, "
                         f"{1000 * int(win_length) / int(frontend_sr):.3g} ms)", name)
    peak = float(np.max(np.abs(y)))
    if peak == 0:
        raise AudioError("silent input (all samples are zero)", name)
    if float(np.ptp(y)) == 0:
        raise AudioError("constant input (a DC offset, no sound): every sample is the same", name)
    peak_dbfs = 20 * math.log10(peak)
    if peak_dbfs < NEAR_SILENT_DBFS:
        return [f"{os.fspath(name)}: near-silent: its peak is {peak_dbfs:.0f} dBFS, below {NEAR_SILENT_DBFS:g} dBFS, "
                f"so its spectrogram is mostly the front end's floor (amplify it if that is not intended)"]
    return []


def check_loud_enough(loudest_db: float, min_db: float, name: str | os.PathLike) -> None:
    """Refuse a spectrogram whose loudest bin is within :data:`QUIET_DB` of the front end's floor.

    Args:
        loudest_db: level of the loudest time-frequency bin in dB (0 dB = a full-scale sine).
        min_db: the front end's floor in dB.
        name: the input's name or path, which the error starts with.
    Raises:
        AudioError: too quiet: a model would see an almost empty tile.
    """
    if loudest_db < min_db + QUIET_DB:
        raise AudioError(f"too quiet for the model: its loudest bin is {loudest_db:.0f} dB, within "
                         f"{QUIET_DB:.0f} dB of the front end's floor ({min_db:.0f} dB; 0 dB = full-scale "
                         f"sine); amplify it (e.g. normalise its peak) and try again", name)


def load_checked(path: str | os.PathLike, sr: int | None, frontend_sr: int, win_length: int, fmax: float | None,
                 channel: int | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Read a file as mono, check it at its own rate (:func:`check_signal`), then resample it.

    Args:
        path: the audio file.
        sr: resample to this rate in Hz after the check (None: keep the file's).
        frontend_sr, win_length, fmax: the front end the sound is meant for (see :func:`check_signal`).
        channel: use this channel (0-based) instead of mixing all down.
    Returns:
        ((n,) float32 samples at ``sr``, that rate, the check's notes).
    Raises:
        AudioError: naming ``path``: unreadable (:func:`gaia_audio.io.audio.load`) or unusable.
    """
    y, file_sr = audio.load(path, channel=channel)
    notes = check_signal(y, file_sr, path, frontend_sr, win_length, fmax)
    if sr is not None and int(sr) != file_sr:
        if int(sr) <= 0:
            raise AudioError(f"target sample rate must be positive, got {sr}", path)
        y, file_sr = audio.resample(y, file_sr, int(sr)), int(sr)
    return y, file_sr, notes


def print_note(note: str) -> None:
    """Print one note as the commands do: ``note: ...`` on stderr."""
    print(f"note: {note}", file=sys.stderr)


def check_files(paths: Iterable[str | os.PathLike], frontend_sr: int, win_length: int, fmax: float | None,
                on_note: Callable[[str], None] = print_note) -> list[Path]:
    """Check every recording of a dataset before anything is written (a preparation's first pass).

    Args:
        paths: the recordings.
        frontend_sr, win_length, fmax: the front end the dataset is prepared for (see :func:`check_signal`).
        on_note: called with each note (near-silent recordings); default: print ``note: ...`` to stderr.
    Returns:
        The paths, as Paths.
    Raises:
        AudioError: naming the first unreadable or unusable recording.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        for note in load_checked(path, None, frontend_sr, win_length, fmax)[2]:
            on_note(note)
    return paths
