"""Fast Griffin-Lim in its plain form, for reading and as the reference the fast one is tested against.

Perraudin, Balazs & Søndergaard 2013, "A fast Griffin-Lim algorithm", WASPAA. Each iteration
projects the coefficients onto the consistent spectrograms (ISTFT, then STFT), then back onto
the given magnitude, and extrapolates by a momentum α (α = 0 is Griffin & Lim 1984):

    t_n = P_mag(P_consistent(c_{n-1}))
    c_n = t_n + α (t_n − t_{n-1})

:func:`gaia_audio.inversion.sweeps.griffin_lim` computes the same iterations (with one group
and one coset) without allocating per iteration, on numba and torch paths, and adds the
Gauss-Seidel sweeps and cosets the default chain uses.
"""
from __future__ import annotations

import torch

from gaia_audio.spectral.stft import istft, stft


def plain_griffin_lim(mag: torch.Tensor, phase: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
                n_iter: int = 32, momentum: float = 0.99, length: int | None = None) -> torch.Tensor:
    """A waveform whose STFT magnitude approaches ``mag``, from a starting ``phase``.

    Args:
        mag: (B, F, T) STFT magnitude, F = n_fft // 2 + 1.
        phase: (B, F, T) starting phase in radians.
        n_fft, hop_length, win_length: the STFT (:mod:`gaia_audio.spectral.stft`) of ``mag``.
        n_iter: iterations.
        momentum: α.
        length: samples of the output; None gives (T - 1) * hop_length.
    Returns:
        (B, length) waveform: the ISTFT of the last magnitude projection.
    """
    length = (mag.shape[-1] - 1) * hop_length if length is None else int(length)
    inner = length if 1 + length // hop_length == mag.shape[-1] else (mag.shape[-1] - 1) * hop_length
    c = torch.polar(mag, phase)
    t_prev = c
    for _ in range(n_iter):
        consistent = stft(istft(c, n_fft, hop_length, win_length, inner), n_fft, hop_length, win_length)
        t = mag * torch.exp(1j * torch.angle(consistent))
        c = t + momentum * (t - t_prev)
        t_prev = t
    y = istft(t_prev, n_fft, hop_length, win_length, inner)
    return y[..., :length] if y.shape[-1] >= length else torch.nn.functional.pad(y, (0, length - y.shape[-1]))
