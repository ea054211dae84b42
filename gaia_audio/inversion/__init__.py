"""Phase reconstruction: turn a front end's spectrogram (an STFT magnitude) back into a waveform.

Everything here assumes the STFT of :mod:`gaia_audio.spectral.stft` (Hann window, centred
frames, phase referenced to each frame's start). :func:`invert` is what the rest of the package
calls: the front end's magnitude, :func:`reconstruct`, then the front end's de-emphasis.
:func:`reconstruct` is the chain, with the defaults below:

* :mod:`.pghi` — Phase-Gradient Heuristic Integration (Průša, Balazs & Søndergaard 2017): a
  phase from the magnitude alone, in one pass;
* :mod:`.low_band` — where a strong low band (rumble, hum) makes the phase ambiguous up to a
  sign, that band is re-solved on a decimated STFT with its sign walls flipped away;
* :mod:`.sweeps` — Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013) as Gauss-Seidel
  sweeps over groups of frames, over cosets of the frames in turn where the STFT is redundant
  enough (:mod:`.reference` is the plain algorithm, for reading and for tests).

How each default was measured is in benchmarks/inversion.md (``benchmarks/inversion.py``).
"""
from __future__ import annotations

import torch

from gaia_audio.errors import ConfigError
from gaia_audio.inversion import sweeps
from gaia_audio.inversion.low_band import solve_low_band
from gaia_audio.inversion.pghi import pghi
from gaia_audio.inversion.sweeps import as_batch, one_cpu_thread, polar
from gaia_audio.spectral.stft import istft

METHODS = ("pghi+fgla", "pghi", "fgla")
# FGLA iterations after PGHI (InversionConfig.n_iter; benchmarks/inversion.py): with cosets, 20
# reach 10.5-15.7 dB better SC than librosa's 32-iteration Griffin-Lim on every preset, in
# 0.17-0.18x its time (16: mouse_usv 9.6 dB)
DEFAULT_N_ITER = 20
# FGLA's alpha when none is given (InversionConfig.momentum = None): Perraudin et al.'s 0.99 from a
# random phase; after PGHI, whose phase is already close, 0.9 overshoots less and gains 0.5-1.3 dB
# SC in 16 iterations on every preset; over cosets (COSET_MOMENTUM) 0.95 gains 0.1-0.3 dB more
# (benchmarks/inversion.py), but loses 0.6 dB without them (starling)
DEFAULT_MOMENTUM = {"fgla": 0.99, "pghi+fgla": 0.9}
COSET_MOMENTUM = 0.95
# frame groups of each FGLA iteration after PGHI (griffin_lim's Gauss-Seidel sweeps): at 16
# iterations 0.3-1.5 dB better SC than one group on every preset of benchmarks/inversion.py, for
# 0-12 % more time per iteration (smaller FFT batches); 8 groups gain at most 0.1 dB more
DEFAULT_GROUPS = 4
# after PGHI, FGLA splits the frames into cosets that still overlap this much (win_length / their
# hop) and solves them in turn (griffin_lim's cosets): on the presets' 8-fold overlap 2 cosets
# gain 0.7-1.5 dB SC over sweeps of all frames at 20 iterations (benchmarks/inversion.py), with
# 16-fold overlap 4 cosets 1.7 dB (at 16); with starling's 5-fold overlap, cosets overlapping
# 2.5-fold lose 1.2 dB, so there is one
MIN_COSET_OVERLAP = 4


def coset_count(hop_length: int, win_length: int) -> int:
    """How many cosets of frames FGLA solves in turn after PGHI: each overlaps MIN_COSET_OVERLAP-fold at least."""
    return max(1, win_length // (MIN_COSET_OVERLAP * hop_length))


def reconstruct(mag, n_fft: int, hop_length: int, win_length: int, method: str = "pghi+fgla",
                n_iter: int = DEFAULT_N_ITER, momentum: float | None = None,
                length: int | None = None) -> torch.Tensor:
    """A waveform whose STFT magnitude matches ``mag``: PGHI, FGLA, or PGHI then FGLA.

    Args:
        mag: (B, F, T) or (F, T) STFT magnitude (tensor or array), F = n_fft // 2 + 1.
        n_fft, hop_length, win_length: the STFT (Hann window, centred frames) of ``mag``.
        method: "pghi+fgla" (PGHI phase refined by ``n_iter`` FGLA iterations, each a sweep over
            ``DEFAULT_GROUPS`` groups of frames, over :func:`coset_count` cosets of the frames in
            turn and then all of them; where bins within two main lobes of DC hold >= 5% of the
            energy, :func:`solve_low_band` re-solves them first, on a decimated STFT), "pghi"
            (no iterations), or "fgla" (``n_iter`` iterations of Perraudin et al.'s FGLA from a
            random phase).
        n_iter: FGLA iterations (ignored by "pghi").
        momentum: FGLA's inertial factor; None: ``DEFAULT_MOMENTUM[method]`` (0.99 from a random
            phase, 0.9 after PGHI), or ``COSET_MOMENTUM`` (0.95) after PGHI where there are cosets.
        length: samples of the output; None gives (T - 1) * hop_length.
    Returns:
        (B, length) or (length,) waveform tensor on the device of ``mag``.
    Raises:
        ConfigError: an unknown method or a negative n_iter.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown inversion method '{method}' (use one of {', '.join(METHODS)})")
    if n_iter < 0:
        raise ConfigError(f"inversion n_iter must be >= 0, got {n_iter}")
    cosets = coset_count(hop_length, win_length)
    if momentum is None:
        momentum = COSET_MOMENTUM if method == "pghi+fgla" and cosets > 1 else DEFAULT_MOMENTUM.get(method, 0.0)
    mag_b, batched = as_batch(mag)
    with one_cpu_thread(mag_b.device.type == "cpu"):
        if method == "fgla":
            y = sweeps.griffin_lim(mag_b, n_fft, hop_length, win_length, n_iter, momentum, "random", length)
        else:
            phase = pghi(mag_b, n_fft, hop_length, win_length)
            if method == "pghi":
                y = istft(polar(mag_b, phase), n_fft, hop_length, win_length, length)
            else:
                # a strong low band is re-solved first, without sign walls, on a decimated STFT
                solved = solve_low_band(mag_b, phase, n_fft, hop_length, win_length, momentum) if n_iter else None
                if solved is not None:
                    phase = solved
                y = sweeps.griffin_lim(mag_b, n_fft, hop_length, win_length, n_iter, momentum, phase, length,
                                groups=DEFAULT_GROUPS, cosets=cosets)
    return y if batched else y[0]


def invert(frontend, S: torch.Tensor, length: int | None = None, method: str = "pghi+fgla",
           n_iter: int = DEFAULT_N_ITER, momentum: float | None = None) -> torch.Tensor:
    """Waveform of a front end's spectrogram: its magnitude, :func:`reconstruct`, de-emphasis.

    Args:
        frontend: the ``spectral`` front end that made ``S`` (linear or mel).
        S: (B, n_freq, T) or (n_freq, T) spectrogram in [0, 1].
        length: samples of the output; None gives (T - 1) * hop_length.
        method, n_iter, momentum: see :func:`reconstruct`.
    Returns:
        (B, length) float32 waveform on the device of ``S``.
    """
    mag = frontend.to_magnitude(S).float()
    y = reconstruct(mag, frontend.n_fft, frontend.hop_length, frontend.win_length, method=method, n_iter=n_iter,
                    momentum=momentum, length=length)
    return frontend.deemphasize(y)
