"""The mel front end: band-limited magnitudes averaged into mel bands, and back by NNLS."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from gaia_audio.errors import ConfigError
from gaia_audio.spectral.frontend import Spectrogram, _as_batch


class MelSpectrogram(Spectrogram):
    """Like :class:`Spectrogram` on ``n_mels`` mel bands between fmin and fmax.

    Each band is a weighted mean (unit-sum triangular filter from ``librosa.filters.mel``) of the
    normalised magnitudes, so levels match the linear front end. ``to_magnitude`` goes back to a
    linear magnitude by non-negative least squares (:func:`gaia_audio.mel_to_linear`):
    exact, in that the mel projection of the result equals the input, whenever the input is the
    mel projection of some spectrum (e.g. the output of :meth:`forward` above the floor); what the
    filterbank averaged away within a band is not recovered.

    Args:
        n_mels: number of mel bands (every band must hold at least one FFT bin).
        others: as :class:`Spectrogram`.
    """

    kind = "mel"

    def __init__(self, sr: int, n_fft: int, hop_length: int, win_length: int, fmin: float, fmax: float,
                 n_mels: int = 64, preemphasis: float = 0.97, ref_db: float = 0.0, min_db: float = -80.0,
                 n_frames: int = 64):
        super().__init__(sr, n_fft, hop_length, win_length, fmin, fmax, preemphasis, ref_db, min_db, n_frames)
        import librosa

        if not isinstance(n_mels, (int, np.integer)) or n_mels < 1:
            raise ConfigError(f"n_mels must be a positive integer, got {n_mels!r}")
        with warnings.catch_warnings():  # empty bands get our own error below
            warnings.simplefilter("ignore")
            basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=int(n_mels), fmin=fmin, fmax=fmax, norm=None)
        basis = basis[:, self.bin_lo:self.bin_hi].astype(np.float64)
        sums = basis.sum(axis=1)
        if np.any(sums <= 0):
            raise ConfigError(f"n_mels={n_mels} is too many for n_fft={n_fft} between {fmin:g} and {fmax:g} Hz: "
                              f"{int(np.sum(sums <= 0))} mel band(s) hold no FFT bin")
        basis /= sums[:, None]
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)  # (n_mels, n_band)
        self.n_mels = self.n_freq = int(n_mels)
        self._mel_hz = librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]

    @property
    def settings(self) -> dict:
        """The linear front end's settings plus ``n_mels``."""
        return {**super().settings, "n_mels": self.n_mels}

    @property
    def frequencies(self) -> np.ndarray:
        """(n_mels,) centre frequency in Hz of each mel band."""
        return self._mel_hz

    def _band(self, mag: torch.Tensor) -> torch.Tensor:
        return self.mel_basis.to(mag.dtype) @ (mag[:, self.bin_lo:self.bin_hi] * self.scale)

    def to_magnitude(self, S: torch.Tensor) -> torch.Tensor:
        """Linear |STFT| (B, n_fft // 2 + 1, T) of (B, n_mels, T) or (n_mels, T) S, by NNLS per frame."""
        S, _ = _as_batch(S, 3, self.window.device)
        band = mel_to_linear(self._from_unit(S).detach().cpu().double().numpy(),
                                       self.mel_basis.cpu().double().numpy())
        mag = S.new_zeros(S.shape[0], self.n_fft // 2 + 1, S.shape[-1])
        mag[:, self.bin_lo:self.bin_hi] = torch.from_numpy(band / self.scale).to(mag)
        return mag


def mel_to_linear(M: np.ndarray, mel_basis: np.ndarray) -> np.ndarray:
    """Non-negative least-squares linear magnitude from mel magnitudes (``scipy.optimize.nnls``).

    Exact (``mel_basis @ mag == M``) whenever M lies in the cone the filterbank spans, i.e. M is the
    mel projection of some non-negative spectrum; otherwise the closest such projection.

    Args:
        M: (..., n_mels, T) non-negative mel magnitudes.
        mel_basis: (n_mels, F) non-negative filterbank.
    Returns:
        (..., F, T) non-negative linear magnitudes.
    """
    import scipy.optimize  # ~0.5 s to import; only the mel front end needs it

    M = np.asarray(M, dtype=np.float64)
    A = np.asarray(mel_basis, dtype=np.float64)
    n_mels, n_time = M.shape[-2:]
    frames = np.moveaxis(M, -1, -2).reshape(-1, n_mels)  # (N, n_mels): one row per frame
    uniq, inverse = np.unique(frames, axis=0, return_inverse=True)  # silent frames repeat
    sol = np.stack([scipy.optimize.nnls(A, m, maxiter=50 * A.shape[1])[0] for m in uniq])
    mag = sol[inverse.reshape(-1)].reshape(*M.shape[:-2], n_time, A.shape[1])
    return np.moveaxis(mag, -1, -2)
