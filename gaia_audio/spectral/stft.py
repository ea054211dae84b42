"""The STFT convention every part of gaia-audio uses, and its least-squares inverse.

``torch.stft`` with a periodic Hann window of ``win_length`` zero-padded to ``n_fft``,
``center=True`` (frames centred on ``t * hop_length``, zero padding at both ends, so
T = 1 + n // hop_length frames) and the phase referenced to each frame's start. Runs batched,
on any device.
"""
from __future__ import annotations

import torch


def hann_window(win_length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The periodic Hann window every STFT here uses."""
    return torch.hann_window(win_length, periodic=True, device=device, dtype=dtype)


def stft(y: torch.Tensor, n_fft: int, hop_length: int, win_length: int,
         window: torch.Tensor | None = None) -> torch.Tensor:
    """Complex STFT with a Hann window, frames centred on ``t * hop_length`` (zero padding).

    Args:
        y: (B, n) or (n,) real waveform.
    Returns:
        (B, n_fft // 2 + 1, T) or (n_fft // 2 + 1, T) complex, T = 1 + n // hop_length.
    """
    if window is None:
        window = hann_window(win_length, y.device, y.dtype)
    return torch.stft(y, n_fft, hop_length, win_length, window, center=True, pad_mode="constant",
                      return_complex=True)


def istft(X: torch.Tensor, n_fft: int, hop_length: int, win_length: int, length: int | None = None,
          window: torch.Tensor | None = None) -> torch.Tensor:
    """Least-squares inverse of :func:`stft` (``torch.istft``).

    Args:
        X: (B, n_fft // 2 + 1, T) or (n_fft // 2 + 1, T) complex.
        length: samples of the output; None gives (T - 1) * hop_length.
    Returns:
        (B, length) or (length,) real waveform.
    """
    if window is None:
        window = hann_window(win_length, X.device, X.real.dtype)
    if length is None:
        length = (X.shape[-1] - 1) * hop_length
    return torch.istft(X, n_fft, hop_length, win_length, window, center=True, length=length)
