"""Time alignment for long morphs: DTW path, windows along it, overlap-add."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import zoom

from gaia_audio.errors import DataError
from gaia_audio.morph.align import _dtw, aligned_windows, dtw_path, overlap_add


def _pattern(n_freq: int = 24, T: int = 120, seed: int = 0) -> np.ndarray:
    """A spectrogram-like array with distinct events over time: (n_freq, T) in [0, 1]."""
    rng = np.random.default_rng(seed)
    S = np.zeros((n_freq, T))
    t = 0
    while t < T:
        length = int(rng.integers(6, 14))
        band = int(rng.integers(0, n_freq - 4))
        S[band:band + 4, t:t + length] = rng.uniform(0.5, 1.0)
        t += length + int(rng.integers(2, 6))
    return S


def _stretch(S: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(zoom(S, (1, factor), order=1), 0, 1)


@pytest.mark.parametrize("factor, max_frames", [(1.0, 1500), (1.5, 1500), (0.7, 1500), (1.3, 40), (0.8, 25)])
def test_dtw_path_is_monotone_full_and_follows_a_stretch(factor, max_frames):
    """Also when long inputs are aligned on block averages and the path refined to frames."""
    S_a = _pattern()
    S_b = _stretch(S_a, factor)
    path = dtw_path(S_a, S_b, max_frames=max_frames)
    assert path.shape[1] == 2
    assert tuple(path[0]) == (0, 0)
    assert tuple(path[-1]) == (S_a.shape[1] - 1, S_b.shape[1] - 1)
    steps = np.diff(path, axis=0)
    assert np.all(steps >= 0) and np.all(steps.sum(axis=1) >= 1) and np.all(steps <= 1)
    # a pure time stretch is aligned along the stretched diagonal (within a few frames)
    expected_j = path[:, 0] * (S_b.shape[1] - 1) / (S_a.shape[1] - 1)
    assert np.median(np.abs(path[:, 1] - expected_j)) <= 3 * -(-max(S_a.shape[1], S_b.shape[1]) // max_frames)


def _librosa_dtw(X, Y):
    """librosa.sequence.dtw as the alignment used it: (cost, forward path), or (inf, empty) when no path."""
    librosa_sequence = pytest.importorskip("librosa.sequence")
    try:
        D, wp = librosa_sequence.dtw(X=X, Y=Y, metric="euclidean", global_constraints=True, band_rad=0.25)
    except Exception:  # librosa's ParameterError: no path within the band
        return np.inf, np.zeros((0, 2), dtype=np.int64)
    return D[-1, -1], wp[::-1]


@pytest.mark.parametrize("seed", range(6))
def test_dtw_equals_librosa_dtw(seed):
    """The numpy DTW gives librosa.sequence.dtw's path and cost: random frames, stretched patterns,
    binary frames full of exact ties, silence, and band-limited shapes with no path at all."""
    rng = np.random.default_rng(seed)
    F, N, M = int(rng.integers(1, 90)), int(rng.integers(1, 120)), int(rng.integers(1, 120))
    S = _pattern(T=int(rng.integers(30, 200)), seed=seed)
    pairs = [(rng.random((F, N)), rng.random((F, M))), (S, _stretch(S, 0.6 + 0.25 * seed)),
             (rng.integers(0, 2, (5, N)).astype(float), rng.integers(0, 2, (5, M)).astype(float)),
             (np.zeros((4, N)), np.zeros((4, M))), (np.ones((3, 1)), np.ones((3, 1 + seed % 3)))]
    for X, Y in pairs:
        cost, path = _dtw(X, Y, band_rad=0.25)
        ref_cost, ref_path = _librosa_dtw(X, Y)
        assert np.array_equal(path, ref_path)
        assert cost == pytest.approx(ref_cost, rel=1e-12) if np.isfinite(ref_cost) else cost == np.inf


def test_dtw_without_a_path_in_the_band_is_a_data_error():
    with pytest.raises(DataError, match="no warping path"):
        dtw_path(np.ones((3, 1)), np.ones((3, 2)))


def test_dtw_refuses_inputs_too_different_in_length():
    S_a = _pattern(T=40)
    with pytest.raises(DataError, match="cannot align"):
        dtw_path(S_a, _pattern(T=200), max_warp=4.0)


@pytest.mark.parametrize("T_a, T_b, n_frames", [(120, 150, 32), (300, 200, 64), (40, 50, 64)])
def test_windows_cover_both_inputs_and_overlap(T_a, T_b, n_frames):
    path = dtw_path(_pattern(T=T_a), _stretch(_pattern(T=T_a), T_b / T_a))
    windows = aligned_windows(path, n_frames)
    covered_a = np.zeros(path[-1, 0] + 1, bool)
    covered_b = np.zeros(path[-1, 1] + 1, bool)
    for i0, i1, j0, j1 in windows:
        assert 0 <= i0 < i1 and 0 <= j0 < j1
        assert (i1 - i0 + j1 - j0) / 2 <= n_frames + 1  # about one tile on the mean axis
        covered_a[i0:i1] = covered_b[j0:j1] = True
    assert covered_a.all() and covered_b.all()
    starts = [w[0] for w in windows]
    assert starts == sorted(starts)
    if len(windows) > 1:  # consecutive windows overlap, so the cross-fade has material
        assert all(windows[k + 1][0] < windows[k][1] for k in range(len(windows) - 1))


def test_overlap_add_rebuilds_what_was_cut():
    S = np.random.default_rng(1).random((8, 100))
    pieces, offsets = [], []
    for start in range(0, 80, 20):
        pieces.append(S[:, start:start + 40])
        offsets.append(start)
    out = overlap_add(pieces, offsets, 100)
    assert out.shape == (8, 100)
    np.testing.assert_allclose(out, S, atol=1e-6)


def test_overlap_add_clips_pieces_at_the_end_and_leaves_gaps_at_the_floor():
    out = overlap_add([np.ones((3, 10)), np.full((3, 10), 0.5)], [0, 25], 30)
    assert out.shape == (3, 30)
    assert np.allclose(out[:, :10], 1) and np.allclose(out[:, 10:25], 0) and np.allclose(out[:, 25:], 0.5)
