"""Time alignment of two long inputs for a morph: DTW path, aligned windows, overlap-add.

Two recordings longer than a tile (song motifs, sentences) are aligned with DTW between their
spectrograms (``librosa.sequence.dtw``). Windows about one tile long are laid along the warping
path, so each window of one input is paired with the stretch of the other that the path matches
to it; after the pairs are morphed, the decoded windows are cross-faded back into one
spectrogram on the interpolated time axis.
"""
from __future__ import annotations

import numpy as np

from gaia_audio.errors import DataError

#: Largest tempo ratio between two long inputs that alignment accepts.
MAX_WARP = 4.0


def dtw_path(S_a: np.ndarray, S_b: np.ndarray, max_warp: float = MAX_WARP, source: str | None = None) -> np.ndarray:
    """Align two spectrograms in time with DTW (librosa.sequence.dtw, Euclidean, Sakoe-Chiba band).

    Args:
        S_a: (n_freq, T_a) spectrogram in [0, 1].
        S_b: (n_freq, T_b) spectrogram in [0, 1].
        max_warp: refuse pairs whose durations differ by more than this factor.
        source: names for the error message.
    Returns:
        (K, 2) int64 frame pairs (i in a, j in b), increasing from (0, 0) to (T_a-1, T_b-1).
    """
    T_a, T_b = S_a.shape[1], S_b.shape[1]
    ratio = max(T_a, T_b) / max(1, min(T_a, T_b))
    if ratio > max_warp:
        raise DataError(f"cannot align in time: one input is {ratio:.1f}× as long as the other "
                        f"(at most {max_warp:g}×); cut both to matching units or motifs", source)
    import librosa.sequence  # numba-compiled: imported only when a long input needs it

    cost, path = librosa.sequence.dtw(X=S_a.astype(np.float64), Y=S_b.astype(np.float64),
                                      metric="euclidean", global_constraints=True, band_rad=0.25)
    if not np.isfinite(cost[-1, -1]):
        raise DataError("cannot align in time: no warping path joins the two inputs", source)
    return np.ascontiguousarray(path[::-1]).astype(np.int64)


def aligned_windows(path: np.ndarray, n_frames: int) -> list[tuple[int, int, int, int]]:
    """Windows along an alignment, each about one tile long, overlapping by half.

    Windows are laid on the mean time axis m = (i + j) / 2 of the warping path; each window's
    frames in a and b are those the path pairs with its stretch of m.

    Args:
        path: (K, 2) DTW path from :func:`dtw_path`.
        n_frames: the tile width.
    Returns:
        [(i0, i1, j0, j1), ...]: half-open frame ranges in a and in b, in time order.
    """
    m = path.sum(axis=1) / 2.0
    total = m[-1] + 1
    hop = max(1, n_frames // 2)
    starts = [0.0] if total <= n_frames else list(np.arange(0.0, total - n_frames, hop)) + [total - n_frames]
    windows = []
    for m0 in starts:
        sel = path[(m >= m0) & (m < m0 + n_frames)]
        if len(sel):
            windows.append((int(sel[:, 0].min()), int(sel[:, 0].max()) + 1, int(sel[:, 1].min()), int(sel[:, 1].max()) + 1))
    return windows


def overlap_add(pieces: list[np.ndarray], offsets: list[int], total: int) -> np.ndarray:
    """Cross-fade spectrogram pieces into one, weighting each by a Hann taper.

    Args:
        pieces: (n_freq, L_w) arrays.
        offsets: start frame of each piece.
        total: frames of the result.
    Returns:
        (n_freq, total) array; frames no piece covers are 0 (the floor).
    """
    out = np.zeros((pieces[0].shape[0], total))
    weight = np.zeros(total)
    for piece, start in zip(pieces, offsets):
        L = min(piece.shape[1], total - start)
        if L <= 0:
            continue
        taper = np.hanning(piece.shape[1] + 2)[1:-1][:L]  # never exactly 0, so edges still count
        out[:, start:start + L] += piece[:, :L] * taper
        weight[start:start + L] += taper
    return (out / np.maximum(weight, 1e-12)).astype(np.float32)
