"""Continua between two recordings by the methods labs use today, and the numbers that judge any continuum.

The peers of a gaia-audio morph (``benchmarks/continuum_quality.py`` runs them side by side):

- :func:`world_morph`: the textbook WORLD morph (Morise et al. 2016; pyworld): harvest f0,
  CheapTrick envelope and D4C aperiodicity of each endpoint, both time-normalised to the step's
  frame count, interpolated, resynthesized;
- :func:`crossfade_morph`: a spectrogram cross-fade, inverted with the chain the models use.

The measures (all on waveforms, so every method is judged the same way):

- endpoint fidelity: :func:`gaia_audio.spectral.metrics.fidelity_db` of the first and last step
  against the recordings (:func:`endpoint_fidelity`); :func:`ceiling_db` is the same number for
  tile → untile → invert of the recording itself, no model: the best a tile-based model can do;
- step evenness: coefficient of variation of consecutive-step distances (:func:`step_cv`);
- intermediateness: |d₁/(d₁ + d₂) − 0.5| of the middle step's distances to the two ends
  (SoundMorpher's measure, :func:`intermediateness`);
- midpoint realism: the tiles of the middle steps (:func:`unit_tiles`) go to the independent
  critic of :func:`gaia_audio.analysis.evaluate.critic_auc` (the benchmark script calls it: the
  analysis and bench layers do not import each other).

The distances are passed in as functions ``distance(y_a, y_b, sr) -> float`` (the perceptual and
MFCC distances of :mod:`gaia_audio.morph.perceptual`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from gaia_audio.errors import ConfigError
from gaia_audio.inversion import DEFAULT_N_ITER, invert
from gaia_audio.morph.paths import step_cv  # noqa: F401  (one definition: the spacing's)
from gaia_audio.spectral.frontend import stretch
from gaia_audio.spectral.metrics import fidelity_db

Distance = Callable[[np.ndarray, np.ndarray, int], float]


def step_lengths(n_a: int, n_b: int, steps: int) -> list[int]:
    """Samples of each step: linear in α = k / (steps − 1) from ``n_a`` to ``n_b`` (at least 1)."""
    return [max(1, int(round(n_a + a * (n_b - n_a)))) for a in np.linspace(0.0, 1.0, steps)]


# ---- WORLD ---------------------------------------------------------------------------------------


def _pyworld():
    try:
        import pyworld
    except ImportError:
        raise ConfigError("the WORLD morph needs pyworld: pip install 'gaia-audio[bench]'") from None
    return pyworld


def _resample_frames(x: np.ndarray, n: int) -> np.ndarray:
    """(T, ...) per-frame values resampled linearly to (n, ...) on a normalised time axis (0 … 1)."""
    src = np.linspace(0.0, 1.0, len(x))
    dst = np.linspace(0.0, 1.0, n)
    flat = x.reshape(len(x), -1)
    out = np.stack([np.interp(dst, src, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    return out.reshape(n, *x.shape[1:])


def _log_f0_track(f0: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Time-normalise an f0 track (0 = unvoiced) to ``n`` frames.

    Returns:
        (n,) log f0 with unvoiced stretches bridged linearly between voiced neighbours (0 where the
        track has no voiced frame), and (n,) bool voicing by nearest frame.
    """
    voiced = f0 > 0
    src = np.linspace(0.0, 1.0, len(f0))
    dst = np.linspace(0.0, 1.0, n)
    nearest = np.clip(np.round(dst * (len(f0) - 1)).astype(int), 0, len(f0) - 1)
    if not voiced.any():
        return np.zeros(n), np.zeros(n, dtype=bool)
    log_f0 = np.interp(dst, src[voiced], np.log(f0[voiced]))
    return log_f0, voiced[nearest]


def world_morph(y_a: np.ndarray, y_b: np.ndarray, sr: int, steps: int = 16, frame_period: float = 5.0,
                f0_floor: float = 71.0, f0_ceil: float = 800.0) -> list[np.ndarray]:
    """A WORLD morph from ``y_a`` (step 0) to ``y_b`` (last step): the textbook one labs use.

    Each endpoint is analysed with harvest (f0), CheapTrick (spectral envelope) and D4C
    (aperiodicity) at one FFT size. Step k has α = k / (steps − 1); its duration goes linearly from
    a's to b's, and both endpoints' frame sequences are stretched linearly to its frame count. Per
    frame, the log envelope and the aperiodicity are interpolated linearly; log f0 is interpolated
    where both ends are voiced; where only one is voiced the frame is voiced with that end's f0 if
    its weight is above 0.5 (α < 0.5 for a, α > 0.5 for b), else unvoiced, so each end is exactly
    its own analysis; where neither is, the frame is unvoiced.

    Args:
        y_a, y_b: (n_a,), (n_b,) mono recordings at ``sr``.
        sr: their sample rate.
        steps: sounds in the series, both ends included (>= 2).
        frame_period: analysis hop in ms.
        f0_floor, f0_ceil: harvest's f0 search range in Hz (pyworld's defaults: 71 and 800).
    Returns:
        ``steps`` float32 waveforms at ``sr``; step k has :func:`step_lengths`' k-th length.
    Raises:
        ConfigError: pyworld is not installed, or fewer than 2 steps.
    """
    if steps < 2:
        raise ConfigError(f"a continuum needs at least 2 steps, got {steps}")
    pw = _pyworld()
    fft_size = pw.get_cheaptrick_fft_size(sr, f0_floor)
    analyses = []
    for y in (y_a, y_b):
        x = np.ascontiguousarray(y, dtype=np.float64)
        f0, t = pw.harvest(x, sr, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period)
        sp = pw.cheaptrick(x, f0, t, sr, f0_floor=f0_floor, fft_size=fft_size)   # (T, fft_size // 2 + 1)
        ap = pw.d4c(x, f0, t, sr, fft_size=fft_size)                            # (T, fft_size // 2 + 1)
        analyses.append((f0, np.log(np.maximum(sp, 1e-300)), ap))
    hop = sr * frame_period / 1000.0
    out = []
    for alpha, n in zip(np.linspace(0.0, 1.0, steps), step_lengths(len(y_a), len(y_b), steps)):
        n_frames = int(n / hop) + 1                       # harvest's frame count for n samples
        (lf_a, v_a), (lf_b, v_b) = (_log_f0_track(f0, n_frames) for f0, _, _ in analyses)
        log_sp = (1 - alpha) * _resample_frames(analyses[0][1], n_frames) + alpha * _resample_frames(
            analyses[1][1], n_frames)
        ap = (1 - alpha) * _resample_frames(analyses[0][2], n_frames) + alpha * _resample_frames(
            analyses[1][2], n_frames)
        log_f0 = np.where(v_a & v_b, (1 - alpha) * lf_a + alpha * lf_b, np.where(v_a, lf_a, lf_b))
        voiced = (v_a & v_b) | (v_a & (alpha < 0.5)) | (v_b & (alpha > 0.5))
        f0 = np.where(voiced, np.exp(log_f0), 0.0)
        y = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(np.exp(log_sp)),
                          np.ascontiguousarray(np.clip(ap, 0.0, 1.0)), sr, frame_period)
        y = np.pad(y, (0, max(0, n - len(y))))[:n]
        out.append(y.astype(np.float32))
    return out


# ---- spectrogram cross-fade ------------------------------------------------------------------------


@torch.no_grad()
def crossfade_morph(frontend, y_a: np.ndarray, y_b: np.ndarray, steps: int = 16, method: str = "pghi+fgla",
                    n_iter: int = DEFAULT_N_ITER, momentum: float | None = None) -> list[np.ndarray]:
    """A spectrogram cross-fade from ``y_a`` to ``y_b``, inverted with the chain the models use.

    Step k (α = k / (steps − 1)) lasts :func:`step_lengths`' k-th length; both endpoints' [0, 1]
    spectrograms are stretched in time to its frame count and mixed (1 − α)·S_a + α·S_b (a mix of
    dB levels), then inverted by :func:`gaia_audio.inversion.invert`.

    Args:
        frontend: the ``spectral`` front end (the model's: its sr, band and STFT).
        y_a, y_b: (n_a,), (n_b,) mono recordings at ``frontend.sr``.
        steps: sounds in the series, both ends included (>= 2).
        method, n_iter, momentum: the inversion (the recipe's ``inversion`` section).
    Returns:
        ``steps`` float32 waveforms at ``frontend.sr``.
    """
    if steps < 2:
        raise ConfigError(f"a continuum needs at least 2 steps, got {steps}")
    S_a, S_b = (frontend(torch.as_tensor(np.asarray(y, np.float32))) for y in (y_a, y_b))  # (1, n_freq, T)
    lengths = step_lengths(len(y_a), len(y_b), steps)
    frames = [1 + n // frontend.hop_length for n in lengths]
    S = S_a.new_zeros(steps, S_a.shape[1], max(frames))  # zero = the floor: padding is silence
    for k, (alpha, T) in enumerate(zip(np.linspace(0.0, 1.0, steps), frames)):
        S[k, :, :T] = (1 - alpha) * stretch(S_a, T)[0] + alpha * stretch(S_b, T)[0]
    y = invert(frontend, S, length=max(lengths), method=method, n_iter=n_iter, momentum=momentum)
    return [np.asarray(y[k, :n].cpu(), dtype=np.float32) for k, n in enumerate(lengths)]


# ---- measures --------------------------------------------------------------------------------------


def endpoint_fidelity(frontend, y_a: np.ndarray, y_b: np.ndarray,
                      waveforms: Sequence[np.ndarray]) -> tuple[float, float]:
    """(first step vs ``y_a``, last step vs ``y_b``): :func:`fidelity_db` in dB (lower is closer).

    Args:
        frontend: the front end whose STFT and band the comparison uses.
        y_a, y_b: (n,) the recordings at ``frontend.sr``.
        waveforms: the continuum's steps at ``frontend.sr``.
    """
    return fidelity_db(frontend, y_a, waveforms[0]), fidelity_db(frontend, y_b, waveforms[-1])


@torch.no_grad()
def ceiling_db(frontend, y: np.ndarray, method: str = "pghi+fgla", n_iter: int = DEFAULT_N_ITER,
               momentum: float | None = None) -> float:
    """The front end's ceiling: :func:`fidelity_db` of tile → untile → invert of ``y`` (no model).

    Args:
        frontend: the front end (its tile width, band and STFT).
        y: (n,) a recording at ``frontend.sr``.
        method, n_iter, momentum: the inversion.
    Returns:
        dB; no model that decodes one tile per unit gets closer to ``y`` by this measure.
    """
    S = frontend(torch.as_tensor(np.asarray(y, np.float32)))          # (1, n_freq, T)
    tiles, T = frontend.tile(S)                                        # (1, 1, n_freq, n_frames)
    y_hat = invert(frontend, frontend.untile(tiles, T), length=len(y), method=method, n_iter=n_iter,
                   momentum=momentum)
    return fidelity_db(frontend, y, y_hat[0].cpu().numpy())


def consecutive_distances(waveforms: Sequence[np.ndarray], sr: int, distance: Distance) -> list[float]:
    """(steps − 1,) ``distance(step k − 1, step k, sr)`` for k = 1 … steps − 1."""
    return [float(distance(waveforms[k - 1], waveforms[k], sr)) for k in range(1, len(waveforms))]


def middle_steps(steps: int) -> list[int]:
    """The step at α = 0.5 for an odd count, else the two that straddle it (7 and 8 of 16)."""
    return [steps // 2] if steps % 2 else [steps // 2 - 1, steps // 2]


def intermediateness(waveforms: Sequence[np.ndarray], sr: int, distance: Distance) -> float:
    """SoundMorpher's intermediateness |d₁/(d₁ + d₂) − 0.5| of the middle of a continuum (0 = halfway).

    d₁, d₂ are ``distance`` from a middle step to the first and last steps. With an even step count
    there is no middle step: the ratio d₁/(d₁ + d₂) is averaged over the two steps that straddle
    α = 0.5 (:func:`middle_steps`), whose ratios on an ideal continuum lie symmetrically about 0.5,
    and the mean's distance to 0.5 is returned.

    Args:
        waveforms: the steps (>= 3).
        sr: their sample rate.
        distance: ``distance(y_a, y_b, sr) -> float``.
    Returns:
        the measure in [0, 0.5].
    """
    if len(waveforms) < 3:
        raise ConfigError("intermediateness needs at least 3 steps")
    ratios = []
    for k in middle_steps(len(waveforms)):
        d1 = float(distance(waveforms[k], waveforms[0], sr))
        d2 = float(distance(waveforms[k], waveforms[-1], sr))
        ratios.append(d1 / (d1 + d2) if d1 + d2 > 0 else 0.5)
    return float(abs(np.mean(ratios) - 0.5))


def steadiness(waveforms: Sequence[np.ndarray], sr: int, distance: Distance) -> float:
    """Fraction of steps that move steadily: farther from the first step and nearer to the last than the one before.

    Step k (1 … steps − 1) counts when ``distance(step k, first) > distance(step k − 1, first)`` and
    ``distance(step k, last) < distance(step k − 1, last)``; 1.0 is a continuum that never turns back.

    Args:
        waveforms: the steps (>= 2).
        sr: their sample rate.
        distance: ``distance(y_a, y_b, sr) -> float``.
    Returns:
        the fraction in [0, 1].
    """
    if len(waveforms) < 2:
        raise ConfigError("steadiness needs at least 2 steps")
    to_a = [float(distance(w, waveforms[0], sr)) for w in waveforms]
    to_b = [float(distance(w, waveforms[-1], sr)) for w in waveforms]
    steady = [to_a[k] > to_a[k - 1] and to_b[k] < to_b[k - 1] for k in range(1, len(waveforms))]
    return float(np.mean(steady))


@torch.no_grad()
def unit_tiles(frontend, waveforms: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 1, n_freq, n_frames) float32 tiles of N waveforms, each one unit tiled as in training."""
    tiles = [frontend.tile(frontend(torch.as_tensor(np.asarray(y, np.float32))))[0][0] for y in waveforms]
    return torch.stack(tiles).cpu().numpy().astype(np.float32)
