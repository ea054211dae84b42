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
