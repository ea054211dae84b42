"""Distances between STFT magnitudes, for judging a phase reconstruction (or any resynthesis).

Both take magnitudes of the same STFT (arrays or tensors of any matching shape, (..., F, T)).
``spectral_convergence_db`` is the relative Frobenius error in dB (Sturmel & Daudet 2011; the
usual figure for phase retrieval); ``log_spectral_distance_db`` the per-frame RMS of the dB
difference, averaged over frames.
"""
from __future__ import annotations

import numpy as np
import torch


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)


def spectral_convergence_db(mag_ref, mag_est) -> float:
    """Spectral convergence 20·log10(‖|X| − |Y|‖_F / ‖|X|‖_F) in dB (lower is better).

    Args:
        mag_ref: (..., F, T) reference STFT magnitude (array or tensor).
        mag_est: the same shape: the magnitude of the STFT of the reconstruction.
    Returns:
        the spectral convergence in dB.
    """
    ref, est = _np(mag_ref), _np(mag_est)
    return float(20 * np.log10(np.linalg.norm(ref - est) / max(np.linalg.norm(ref), 1e-300) + 1e-300))


def log_spectral_distance_db(mag_ref, mag_est, top_db: float = 80.0) -> float:
    """Log-spectral distance in dB: per frame the RMS over bins of the dB difference, averaged.

    Both magnitudes are floored ``top_db`` below the reference's peak so silent bins do not
    dominate.

    Args:
        mag_ref: (..., F, T) reference STFT magnitude (array or tensor).
        mag_est: the same shape.
        top_db: dynamic range kept below the reference peak.
    Returns:
        the mean log-spectral distance in dB.
    """
    ref, est = _np(mag_ref), _np(mag_est)
    floor = max(ref.max(), 1e-30) * 10 ** (-top_db / 20)
    diff = 20 * np.log10(np.maximum(ref, floor)) - 20 * np.log10(np.maximum(est, floor))
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=-2))))


def fidelity_db(frontend, y_ref, y_est) -> float:
    """How close a resynthesized sound is to a recording: spectral convergence in dB of their STFT
    magnitudes inside the front end's band, level invariant and time-normalised (lower is better).

    Both waveforms go through ``frontend``'s STFT (pre-emphasis included); the estimate's frames
    are stretched to the recording's count and scaled by the least-squares gain, so a step that is
    the recording at another level or another duration scores as the recording.

    Args:
        frontend: a ``spectral.frontend.Spectrogram`` (its sr, STFT and band).
        y_ref: (n,) the recording at ``frontend.sr``.
        y_est: (m,) the resynthesis at ``frontend.sr``.
    Returns:
        spectral convergence in dB (0 dB: as far from the recording as silence is).
    """
    from gaia_audio.spectral.frontend import stretch  # metrics is imported without torch elsewhere

    ref, est = (frontend._band(frontend.magnitude(torch.as_tensor(np.asarray(y, np.float32)))).double()
                for y in (y_ref, y_est))
    if est.shape[-1] != ref.shape[-1]:
        est = stretch(est, ref.shape[-1])
    ref, est = ref.cpu().numpy().ravel(), est.cpu().numpy().ravel()
    gain = float(ref @ est) / max(float(est @ est), 1e-300)
    return spectral_convergence_db(ref, max(gain, 0.0) * est)
