"""Time alignment of two long inputs for a morph: DTW path, aligned windows, overlap-add.

Two recordings longer than a tile (song motifs, sentences) are aligned with DTW between their
spectrograms: librosa.sequence.dtw's algorithm (Euclidean frame distances, Sakoe-Chiba band,
steps (1, 1), (0, 1), (1, 0) with ties in that order), written in numpy here because importing
``librosa.sequence`` (scipy.signal, scipy.spatial) costs one to two seconds of every morph
(scipy.signal alone: 1.6 s after torch on this project's 2-core machine).
Windows about one tile long are laid along the warping path, so each window of one input is
paired with the stretch of the other that the path matches to it; after the pairs are morphed,
the decoded windows are cross-faded back into one spectrogram on the interpolated time axis.
"""
from __future__ import annotations

import numpy as np

from gaia_audio.errors import DataError

#: Largest tempo ratio between two long inputs that alignment accepts.
MAX_WARP = 4.0
#: Longest input (frames) DTW aligns at full resolution; longer ones are aligned on block averages.
MAX_DTW_FRAMES = 1500


def dtw_path(S_a: np.ndarray, S_b: np.ndarray, max_warp: float = MAX_WARP, max_frames: int = MAX_DTW_FRAMES,
             source: str | None = None) -> np.ndarray:
    """Align two spectrograms in time with DTW (as librosa.sequence.dtw: Euclidean, Sakoe-Chiba band).

    Inputs longer than ``max_frames`` are averaged over blocks of p frames first (so the cost
    matrix stays small), and the coarse path is refined back to single frames.

    Args:
        S_a: (n_freq, T_a) spectrogram in [0, 1].
        S_b: (n_freq, T_b) spectrogram in [0, 1].
        max_warp: refuse pairs whose durations differ by more than this factor.
        max_frames: longest input DTW runs on at full time resolution.
        source: names for the error message.
    Returns:
        (K, 2) int64 frame pairs (i in a, j in b), from (0, 0) to (T_a-1, T_b-1), each step
        advancing i, j or both by one.
    """
    T_a, T_b = S_a.shape[1], S_b.shape[1]
    ratio = max(T_a, T_b) / max(1, min(T_a, T_b))
    if ratio > max_warp:
        raise DataError(f"cannot align in time: one input is {ratio:.1f}× as long as the other "
                        f"(at most {max_warp:g}×); cut both to matching units or motifs", source)
    p = max(1, -(-max(T_a, T_b) // max_frames))  # ceil
    X, Y = _pool(S_a, p), _pool(S_b, p)
    cost, path = _dtw(X, Y, band_rad=0.25)
    if not np.isfinite(cost):
        raise DataError("cannot align in time: no warping path joins the two inputs", source)
    return _refine(path, p, T_a, T_b)


def _dtw(X: np.ndarray, Y: np.ndarray, band_rad: float) -> tuple[float, np.ndarray]:
    """DTW between the columns of X and Y: ``librosa.sequence.dtw(X=X, Y=Y, metric="euclidean",
    global_constraints=True, band_rad=band_rad)``, with the accumulation vectorised along
    anti-diagonals.

    Args:
        X: (n_freq, N) float64.
        Y: (n_freq, M) float64.
        band_rad: half-width of the Sakoe-Chiba band, as a fraction of min(N, M).
    Returns:
        (total cost, (K, 2) int64 path from (0, 0) to (N - 1, M - 1)); the cost is inf and the
        path empty when the band leaves no path.
    """
    N, M = X.shape[1], Y.shape[1]
    C = np.empty((N, M))
    rows = max(1, (1 << 22) // max(1, M * X.shape[0]))  # ~32 MB of differences at a time
    for i0 in range(0, N, rows):
        diff = X[:, i0:i0 + rows].T[:, None, :] - Y.T[None, :, :]             # (rows, M, n_freq)
        C[i0:i0 + rows] = np.sqrt(np.square(diff).sum(axis=-1))
    radius, offset = int(np.round(band_rad * min(N, M))), abs(N - M)           # librosa.util.fill_off_diagonal
    k = np.arange(M)[None, :] - np.arange(N)[:, None]                          # diagonal of each cell
    lo, hi = (-radius, radius + offset) if N < M else (-radius - offset, radius)
    C[(k <= lo) | (k >= hi)] = np.inf
    D = np.full((N + 1, M + 1), np.inf)                                        # D[i + 1, j + 1]: cost to (i, j)
    D[1, 1] = C[0, 0]
    step = np.zeros((N, M), dtype=np.int8)                                     # 0: (1, 1), 1: (0, 1), 2: (1, 0)
    for d in range(1, N + M - 1):
        i = np.arange(max(0, d - M + 1), min(N - 1, d) + 1)
        j = d - i
        c = C[i, j]
        candidates = np.stack([D[i, j] + c, D[i + 1, j] + c, D[i, j + 1] + c])  # from (i-1, j-1), (i, j-1), (i-1, j)
        best = np.argmin(candidates, axis=0)                                   # first of equals, as librosa
        D[i + 1, j + 1] = candidates[best, np.arange(len(i))]
        step[i, j] = best
    if not np.isfinite(D[N, M]):
        return float("inf"), np.zeros((0, 2), dtype=np.int64)
    moves = ((1, 1), (0, 1), (1, 0))
    path, i, j = [(N - 1, M - 1)], N - 1, M - 1
    while (i, j) != (0, 0):
        di, dj = moves[step[i, j]]
        i, j = i - di, j - dj
        path.append((i, j))
    return float(D[N, M]), np.asarray(path[::-1], dtype=np.int64)


def _pool(S: np.ndarray, p: int) -> np.ndarray:
    """Average (n_freq, T) over blocks of p frames: (n_freq, ceil(T / p)) float64."""
    S = np.asarray(S, dtype=np.float64)
    if p == 1:
        return S
    T = S.shape[1]
    padded = np.pad(S, ((0, 0), (0, -T % p)), mode="edge")
    return padded.reshape(S.shape[0], -1, p).mean(axis=2)


def _refine(coarse: np.ndarray, p: int, T_a: int, T_b: int) -> np.ndarray:
    """A frame-level path from a path over blocks of p frames: each block step becomes p unit steps."""
    if p == 1:
        return coarse
    steps = np.repeat(np.diff(coarse, axis=0), p, axis=0)                    # p unit steps per block step
    end = coarse[-1] * p
    rest_a, rest_b = T_a - 1 - end[0], T_b - 1 - end[1]                      # frames after the last block start
    diag = min(rest_a, rest_b)
    tail = [(1, 1)] * diag + [(1, 0)] * (rest_a - diag) + [(0, 1)] * (rest_b - diag)
    steps = np.concatenate([steps, np.asarray(tail, dtype=np.int64).reshape(-1, 2)])
    return np.concatenate([[[0, 0]], np.cumsum(steps, axis=0)]).astype(np.int64)


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
            windows.append((int(sel[:, 0].min()), int(sel[:, 0].max()) + 1,
                            int(sel[:, 1].min()), int(sel[:, 1].max()) + 1))
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
