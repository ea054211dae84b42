"""Distances between sounds as a listener hears them: log-mel frames, level- and time-normalised.

The measure (what ``--spacing equal`` evens out and the manifest's ``distance_prev`` reports) is
a **mel log-spectral distance** in dB, computed on waveforms, not on the model's tiles:

    y ─STFT (Hann, ~23 ms, hop ⅛ of it)─▶ |X|² ─▶ 64 mel bands (0 Hz – sr/2) ─▶ P / P_max, the
      sound's loudest band-frame ─▶ 10·log10(P / P_max + 10^(−40/10)) ─▶ frames (T, 64) in dB
    two sounds: both sampled at the same normalised times (first to last sample, twice the larger
      frame count, linear between frames), then the RMS over bands of the dB difference at each
      time, averaged over time.

Why log-mel and not MFCC for the spacing: the mel scale and the dB follow how pitch and loudness
are heard, and SoundMorpher (Niu et al. 2024) spaces its morphs on a mel distance. Truncated
MFCCs keep only the spectral envelope (they were designed for speech, where pitch is a nuisance),
but two bird syllables often differ mainly in pitch and harmonic spacing, which the truncation
throws away; the full log-mel frame keeps it. MFCCs (c1..c19, :func:`mfcc_distance`) are kept for
SoundMorpher's intermediateness measure, which is defined on them.

Level: each sound is measured relative to its own loudest band-frame (librosa's ``ref=np.max``),
so a step that is only louder or quieter is at distance 0 (MFCCs also drop c0). Floor: a soft
one, 40 dB below that peak (``TOP_DB``), as if a masking noise sat there. What lies far below
the peak is barely heard, yet in plain dB it is where phase reconstruction differs most from one
step to the next: on a decoded 104 ms zebra finch syllable, a 0.08 dB change of its tile moved a
distance floored at 80 dB by 1.8 dB (nearly all of it from bins more than 40 dB down), this one
by 0.16 dB; the same sound decoded 2 ms longer, 1.9 dB against 0.30 dB. Time: the comparison is
on normalised time, so two renditions of one sound at different durations are close (the
continuum's durations are interpolated separately, and reported as ``duration_s``); the hop is an
eighth of the window (with a quarter, 0.43 dB for that 2 ms).

The mel filterbank (Slaney's, as ``librosa.filters.mel`` builds it; tests check they agree) and
the DCT are built here with numpy rather than imported: ``librosa.filters`` imports
``scipy.signal``, about 2.5 s that every ``gaia-audio morph`` would pay.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

from gaia_audio.spectral.stft import stft

#: Mel bands of a perceptual frame.
N_MELS = 64
#: Soft floor of a frame, in dB below the sound's loudest band-frame.
TOP_DB = 40.0
#: Cepstral coefficients of :func:`mfcc_distance` (librosa's default n_mfcc); c0 is dropped.
N_MFCC = 20
#: Waveforms per STFT batch in :func:`perceptual_frames`.
BATCH = 32


def stft_settings(sr: int) -> tuple[int, int]:
    """(n_fft, hop_length) of the perceptual frames: a power-of-two window near 23 ms, hop an eighth."""
    n_fft = 2 ** max(6, round(math.log2(0.023 * sr)))
    return n_fft, n_fft // 8


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    log_part = 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, 3.0 * f / 200.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp(math.log(6.4) / 27.0 * (m - 15.0)), 200.0 * m / 3.0)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int = N_MELS, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised triangular mel filters, as ``librosa.filters.mel(sr=sr, n_fft=n_fft, ...)``.

    Returns:
        (n_mels, n_fft // 2 + 1) float64 (read-only, cached).
    """
    fmax = sr / 2 if fmax is None else float(fmax)
    fft_hz = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    width = np.diff(mel_hz)                                                  # (n_mels + 1,)
    ramps = mel_hz[:, None] - fft_hz[None, :]                                # (n_mels + 2, n_bins)
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]                   # equal area per band
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=4)
def _dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """(n_mfcc, n_mels) orthonormal DCT-II, as ``scipy.fft.dct(x, type=2, norm="ortho")[:n_mfcc]``."""
    n = np.arange(n_mels)
    basis = np.cos(np.pi * np.arange(n_mfcc)[:, None] * (2 * n[None, :] + 1) / (2 * n_mels)) * math.sqrt(2 / n_mels)
    basis[0] /= math.sqrt(2.0)
    basis.setflags(write=False)
    return basis


class Frames(NamedTuple):
    """A sound's perceptual frames and where they sit in it.

    Attributes:
        db: (T, N_MELS) float64 log-mel frames, dB re the sound's loudest band-frame (soft floor
            TOP_DB below it); frame t is centred on sample t * hop_length.
        length: samples of the sound.
        hop_length: samples between frames.
    """

    db: np.ndarray
    length: int
    hop_length: int

    def on_time_grid(self, n_points: int) -> np.ndarray:
        """(n_points, N_MELS) frames at evenly spaced normalised times from the first sample to the last.

        Positions come from the sound's duration in samples, not its frame count, so a sound one
        sample longer is sampled at almost the same places (linear between frames).
        """
        position = np.linspace(0.0, max(self.length - 1, 0) / self.hop_length, n_points)
        position = np.minimum(position, len(self.db) - 1)
        lo = np.floor(position).astype(int)
        hi = np.minimum(lo + 1, len(self.db) - 1)
        frac = (position - lo)[:, None]
        return (1 - frac) * self.db[lo] + frac * self.db[hi]


def perceptual_frames(waveforms: list[np.ndarray], sr: int) -> list[Frames]:
    """Level-normalised log-mel frames of each sound (STFTs batched).

    Args:
        waveforms: (n_k,) float arrays at ``sr``, any lengths.
        sr: their sample rate.
    Returns:
        One :class:`Frames` per sound: (1 + n_k // hop_length, N_MELS) dB re the sound's loudest
        band-frame, 10·log10(P / P_max + 10^(-TOP_DB / 10)), in [-TOP_DB, 0.0004].
    """
    n_fft, hop_length = stft_settings(sr)
    basis = torch.from_numpy(np.asarray(mel_filterbank(int(sr), n_fft), dtype=np.float32))  # (n_mels, n_bins)
    floor = 10.0 ** (-TOP_DB / 10)
    out = []
    for start in range(0, len(waveforms), BATCH):
        group = [np.asarray(y, dtype=np.float32).reshape(-1) for y in waveforms[start:start + BATCH]]
        n_max = max(max(len(y) for y in group), 1)
        y = torch.zeros(len(group), n_max)
        for row, g in enumerate(group):  # zero padding at the end leaves each sound's own frames unchanged
            y[row, :len(g)] = torch.from_numpy(g)
        power = stft(y, n_fft, hop_length, n_fft).abs().pow(2)                  # (B, n_bins, T)
        mel = torch.einsum("mf,bft->btm", basis, power).double().numpy()         # (B, T, n_mels)
        for row, g in enumerate(group):
            frames = mel[row, :1 + len(g) // hop_length]
            ref = frames.max()
            db = np.full(frames.shape, -TOP_DB) if ref <= 1e-30 else 10.0 * np.log10(frames / ref + floor)
            out.append(Frames(db, len(g), hop_length))  # digital silence: every frame at the floor
    return out


def _common_time(a: Frames, b: Frames, db_a: np.ndarray | None = None,
                 db_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Both sounds' frames (or ``db_a``/``db_b``, per-frame features) on one normalised time grid.

    The grid has twice the larger frame count: finer than either sound's own frames.
    """
    n_points = 2 * max(len(a.db), len(b.db))
    a = a if db_a is None else a._replace(db=db_a)
    b = b if db_b is None else b._replace(db=db_b)
    return a.on_time_grid(n_points), b.on_time_grid(n_points)


def frame_distance(a: Frames, b: Frames) -> float:
    """Mel log-spectral distance (dB) of two sounds' :func:`perceptual_frames`.

    Args:
        a, b: the two sounds' frames.
    Returns:
        Mean over normalised time of the RMS over bands of the dB difference (>= 0).
    """
    A, B = _common_time(a, b)
    return float(np.sqrt(((A - B) ** 2).mean(axis=1)).mean())


def perceptual_distance(y_a: np.ndarray, y_b: np.ndarray, sr: int) -> float:
    """How different two sounds sound: mel log-spectral distance in dB, level and time normalised.

    Args:
        y_a, y_b: (n_a,) and (n_b,) waveforms at ``sr``.
        sr: their sample rate.
    Returns:
        The distance in dB (0 for a sound and a louder copy of it).
    """
    a, b = perceptual_frames([y_a, y_b], sr)
    return frame_distance(a, b)


def previous_distances(waveforms: list[np.ndarray], sr: int, previous: list[int | None] | None = None) -> np.ndarray:
    """:func:`perceptual_distance` of each sound to the one before it (or to ``previous[k]``).

    Args:
        waveforms: (n_k,) waveforms at ``sr``.
        sr: their sample rate.
        previous: per sound, the index it is compared with (None: no comparison); default k - 1.
    Returns:
        (K,) float64, NaN where there is nothing to compare with (the first sound by default).
    """
    if previous is None:
        previous = [None] + list(range(len(waveforms) - 1))
    frames = perceptual_frames(waveforms, sr)
    return np.array([np.nan if p is None else frame_distance(frames[p], frames[k]) for k, p in enumerate(previous)])


def mfcc_distance(y_a: np.ndarray, y_b: np.ndarray, sr: int) -> float:
    """Distance of two sounds' MFCC frames (c1..c19; c0, the level, dropped), time-normalised.

    The MFCCs are the orthonormal DCT-II of :func:`perceptual_frames` (librosa's ``mfcc`` of a
    64-band dB mel spectrogram, up to its level).

    Args:
        y_a, y_b: (n_a,) and (n_b,) waveforms at ``sr``.
        sr: their sample rate.
    Returns:
        Mean over time-normalised frames of the Euclidean distance between cepstra (dB units).
    """
    dct = _dct_matrix(N_MELS, N_MFCC)[1:]                                      # (N_MFCC - 1, n_mels)
    a, b = perceptual_frames([y_a, y_b], sr)
    A, B = _common_time(a, b, a.db @ dct.T, b.db @ dct.T)
    return float(np.sqrt(((A - B) ** 2).sum(axis=1)).mean())
