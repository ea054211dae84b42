"""Phase-Gradient Heuristic Integration: a phase for an STFT magnitude, without iterating.

Průša, Balazs & Søndergaard 2017, "A noniterative method for reconstruction of phase from STFT
magnitude", IEEE/ACM TASLP 25(5). For a Gaussian window the phase gradient follows from the
gradient of the log-magnitude (Cauchy-Riemann); a Hann window is treated as the Gaussian
``exp(-pi t^2 / gamma)``, ``gamma = 0.25645 * win_length^2``. The gradient is integrated outwards
from the loudest coefficient reached so far (a priority queue), so phase spreads from the ridges
of the spectrogram; coefficients more than ``tol_db`` below the peak get a random phase. Runs on
the CPU (numba; a bucket queue makes it O(N)).

The STFT is that of :mod:`gaia_audio.spectral.stft`: Hann window, frames centred on
``t * hop_length``, phase referenced to each frame's start (``torch.stft``). Beyond the paper:
the log-magnitude slope is 0 at DC and Nyquist (|X| is even in frequency there) and one-sided next
to zeros (bins outside a band are unknown, not quiet); DC and Nyquist phases are rounded to 0 or
pi, since a real signal's coefficients there are real.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

BUCKET_DB = 0.5  # level resolution of the priority queue
HANN_GAMMA = 0.25645  # gamma / win_length^2 of the Gaussian that best matches a Hann window (Průša 2017)
DONE = np.iinfo(np.uint16).max  # the level of a coefficient that needs no (more) phase


@numba.njit(cache=True)
def _prepare(mag, tiny, floor, inv_bucket, time_scale, freq_scale, advance, zero_edges):  # pragma: no cover - numba
    """Phase increments and queue levels of every coefficient, in two passes over (F, T).

    The log-magnitude slopes are central differences between known (non-zero) neighbours,
    one-sided where only one neighbour is known, 0 where none is; the slope across bins is 0 in
    the rows listed as ``zero_edges`` (DC, Nyquist: |X| is even in frequency there).

    Args:
        mag: (F, T) float32 magnitude; tiny: the magnitude that stands in for 0 in the log.
        floor: log-magnitude below which a coefficient gets no integrated phase.
        inv_bucket: queue levels per unit of log-magnitude.
        time_scale, freq_scale: the Gaussian window's Cauchy-Riemann factors.
        advance: (F,) float32 each bin's own phase advance per frame (mod 2 pi).
        zero_edges: (F,) bool, rows whose slope across bins is 0.
    Returns:
        grads (F, T, 2) float32: phase increment per frame and per bin (together, so the random
        walk of the integration touches one cache line per coefficient); level (F, T) uint16:
        the quantized height above ``floor``, DONE below it.
    """
    n_freq, n_time = mag.shape
    logmag = np.empty((n_freq, n_time), np.float32)
    for i in range(n_freq):
        for j in range(n_time):
            logmag[i, j] = np.log(max(mag[i, j], tiny))
    grads = np.empty((n_freq, n_time, 2), np.float32)
    level = np.empty((n_freq, n_time), np.uint16)
    half = np.float32(0.5)
    pi = np.float32(np.pi)
    top = DONE - 1
    for i in range(n_freq):
        for j in range(n_time):
            f = logmag[i, j]
            d_df = np.float32(0.0)
            d_dt = np.float32(0.0)
            if mag[i, j] > 0:
                if not zero_edges[i]:
                    up = i + 1 < n_freq and mag[i + 1, j] > 0
                    down = i > 0 and mag[i - 1, j] > 0
                    if up and down:
                        d_df = half * (logmag[i + 1, j] - logmag[i - 1, j])
                    elif up:
                        d_df = logmag[i + 1, j] - f
                    elif down:
                        d_df = f - logmag[i - 1, j]
                nxt = j + 1 < n_time and mag[i, j + 1] > 0
                prv = j > 0 and mag[i, j - 1] > 0
                if nxt and prv:
                    d_dt = half * (logmag[i, j + 1] - logmag[i, j - 1])
                elif nxt:
                    d_dt = logmag[i, j + 1] - f
                elif prv:
                    d_dt = f - logmag[i, j - 1]
            grads[i, j, 0] = time_scale * d_df + advance[i]
            grads[i, j, 1] = freq_scale * d_dt - pi
            height = f - floor
            level[i, j] = min(int(height * inv_bucket), top) if height >= 0 else DONE
    return grads, level


@numba.njit(cache=True)
def _descending(level):  # pragma: no cover - numba
    """Flat indices of the coefficients still to do (level < DONE), loudest first (a counting sort,
    O(N)), and the number of levels they use."""
    n = level.size
    flat = level.reshape(n)
    top = 0
    for i in range(n):
        if flat[i] != DONE and flat[i] > top:
            top = flat[i]
    start = np.zeros(top + 2, np.int64)  # start[top - l] = first slot of level l
    for i in range(n):
        if flat[i] != DONE:
            start[top - flat[i] + 1] += 1
    for j in range(1, top + 2):
        start[j] += start[j - 1]
    order = np.empty(start[top + 1], np.int64)
    for i in range(n):
        if flat[i] != DONE:
            j = top - flat[i]
            order[start[j]] = i
            start[j] += 1
    return order, top + 1


@numba.njit(cache=True)
def _integrate(level, grads, starts, n_levels, phase):  # pragma: no cover - numba
    """Trapezoidal integration of the phase gradient, always from the loudest coefficient reached.

    The priority queue is a bucket queue over the quantized levels (LIFO within a bucket), O(1)
    per coefficient; ties within one bucket (0.5 dB) are broken arbitrarily. Each phase is kept
    in [0, 2 pi) as it is written, so float32 holds it to 1e-6 rad however long the path.

    Args:
        level: (F, T) uint16 from :func:`_prepare`, set to DONE as coefficients get a phase.
        grads: (F, T, 2) float32 phase increments per frame and per bin (radians).
        starts: flat indices of candidate starting points, loudest first; each one not yet
            reached starts a new island, at phase 0.
        n_levels: 1 + the highest level in ``starts``.
        phase: (F, T) float32, written in place where the level was below DONE.
    """
    n_freq, n_time = level.shape
    n = n_freq * n_time
    flat_level, flat_phase, flat_grads = level.reshape(n), phase.reshape(n), grads.reshape(2 * n)
    head = np.full(n_levels, -1, np.int32)  # first item of each bucket
    nxt = np.empty(n, np.int32)  # next item in the same bucket
    two_pi = np.float32(2 * np.pi)
    inv_two_pi = np.float32(1 / (2 * np.pi))
    half = np.float32(0.5)
    for start in starts:
        top = flat_level[start]
        if top == DONE:
            continue
        flat_level[start] = DONE
        flat_phase[start] = 0.0
        head[top] = start
        nxt[start] = -1
        count = 1
        while count > 0:
            while head[top] < 0:
                top -= 1
            idx = head[top]
            head[top] = nxt[idx]
            count -= 1
            t = idx % n_time
            here = flat_phase[idx]
            for step in range(4):
                if step == 0:  # next frame
                    if t + 1 >= n_time:
                        continue
                    nb = idx + 1
                    inc = half * (flat_grads[2 * idx] + flat_grads[2 * nb])
                elif step == 1:  # previous frame
                    if t == 0:
                        continue
                    nb = idx - 1
                    inc = -half * (flat_grads[2 * idx] + flat_grads[2 * nb])
                elif step == 2:  # next bin
                    nb = idx + n_time
                    if nb >= n:
                        continue
                    inc = half * (flat_grads[2 * idx + 1] + flat_grads[2 * nb + 1])
                else:  # previous bin
                    nb = idx - n_time
                    if nb < 0:
                        continue
                    inc = -half * (flat_grads[2 * idx + 1] + flat_grads[2 * nb + 1])
                b = flat_level[nb]
                if b != DONE:
                    flat_level[nb] = DONE
                    p = here + inc
                    flat_phase[nb] = p - two_pi * np.floor(p * inv_two_pi)
                    nxt[nb] = head[b]
                    head[b] = nb
                    count += 1
                    if b > top:
                        top = b


def _pghi_one(mag: np.ndarray, n_fft: int, hop_length: int, win_length: int, gamma: float,
              tol_db: float, rng: np.random.Generator) -> np.ndarray:
    """PGHI phase (float32, in [0, 2 pi]) of one (F, T) magnitude."""
    mag = np.ascontiguousarray(mag, dtype=np.float32)
    n_freq, n_time = mag.shape
    peak = float(mag.max()) if mag.size else 0.0
    if not np.isfinite(peak) or peak <= 0:
        return rng.uniform(0, 2 * np.pi, mag.shape).astype(np.float32)
    # zeros (bins outside a front end's band, digital silence) are unknown, not very quiet: the
    # slopes next to them are one-sided, else a 200 dB cliff becomes a huge phase gradient
    zero_edges = np.zeros(n_freq, bool)
    zero_edges[0] = True  # |X| is even in frequency at DC and Nyquist
    if n_fft % 2 == 0:
        zero_edges[-1] = True
    # the bin's own advance per frame, reduced mod 2 pi so float32 keeps it exact enough
    advance = np.mod(2 * np.pi * hop_length * np.arange(n_freq) / n_fft, 2 * np.pi).astype(np.float32)
    # centre-referenced phase: d(phase)/d(frame) and d(phase)/d(bin), from the Gaussian-window
    # Cauchy-Riemann relations; -pi per bin moves the reference from the window centre to the
    # frame start, the convention torch.stft uses
    floor = np.log(peak) - tol_db / 20 * np.log(10)
    grads, level = _prepare(mag, np.float32(peak * 1e-10), np.float32(floor), np.float32(20 / np.log(10) / BUCKET_DB),
                            np.float32(hop_length * n_fft / gamma), np.float32(-gamma / (hop_length * n_fft)),
                            advance, zero_edges)
    # coefficients above the tolerance form islands (4-connected); each is integrated from its
    # largest coefficient, found by walking all of them loudest first; the rest get a random phase
    phase = np.full(mag.shape, np.nan, np.float32)
    order, n_levels = _descending(level)
    _integrate(level, grads, order, n_levels, phase)
    quiet = np.isnan(phase)
    phase[quiet] = rng.uniform(0, 2 * np.pi, int(quiet.sum()))
    # a real signal's DC and Nyquist coefficients are real: round their phase to 0 or pi (the
    # Gaussian model knows nothing of the mirrored negative frequencies that meet there)
    edges = [0, n_freq - 1] if n_fft % 2 == 0 and n_freq > 1 else [0]
    phase[edges] = np.where(np.cos(phase[edges]) >= 0, 0.0, np.pi)
    return phase


def pghi(mag, n_fft: int, hop_length: int, win_length: int, tol_db: float = 60.0,
         gamma: float | None = None, seed: int = 0):
    """Phase-Gradient Heuristic Integration (Průša et al. 2017): a phase from the magnitude alone.

    Args:
        mag: (F, T) or (B, F, T) STFT magnitude (numpy array or tensor), F = n_fft // 2 + 1.
        n_fft, hop_length, win_length: the STFT (Hann window) that produced ``mag``.
        tol_db: coefficients more than this many dB below the peak get a random phase.
        gamma: Gaussian window constant in samples^2; None uses 0.25645 * win_length^2 (Hann).
        seed: seed of the random phase given to the quiet coefficients.
    Returns:
        phase in radians, the shape and kind (array or tensor, same device) of ``mag``.
    """
    gamma = HANN_GAMMA * win_length ** 2 if gamma is None else float(gamma)
    is_tensor = isinstance(mag, torch.Tensor)
    arr = mag.detach().cpu().float().numpy() if is_tensor else np.asarray(mag, dtype=np.float32)
    flat = arr.reshape(-1, *arr.shape[-2:])
    rng = np.random.default_rng(seed)
    phase = np.stack([_pghi_one(m, n_fft, hop_length, win_length, gamma, tol_db, rng) for m in flat])
    phase = phase.reshape(arr.shape)
    if is_tensor:
        return torch.from_numpy(phase).to(device=mag.device,
                                          dtype=mag.dtype if mag.is_floating_point() else torch.float32)
    return phase
