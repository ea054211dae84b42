"""The perceptual distance: librosa's filterbank and scipy's DCT, invariances, and batching."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gaia_audio.morph import perceptual
from gaia_audio.morph.perceptual import (
    TOP_DB,
    frame_distance,
    mel_filterbank,
    mfcc_distance,
    perceptual_distance,
    perceptual_frames,
    previous_distances,
)

SR = 22050


def syllable(dur: float, f0: float, sweep: float = 0.3, sr: int = SR, noise: float = 1e-4) -> np.ndarray:
    """A harmonic stack gliding from f0 to f0·(1 + sweep) over ``dur`` s, smooth envelope: (n,) float32."""
    t = np.arange(int(dur * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + sweep * t / dur)) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 7)) * np.sin(np.pi * t / dur) ** 2
    rng = np.random.default_rng(0)
    return (0.4 * y / np.abs(y).max() + noise * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("sr, n_fft", [(16000, 512), (22050, 512), (44100, 1024), (8000, 256)])
def test_mel_filterbank_is_librosas(sr, n_fft):
    import librosa

    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=64)
    np.testing.assert_allclose(mel_filterbank(sr, n_fft), expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(mel_filterbank(sr, n_fft, 40, 500.0, sr / 3),
                               librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=40, fmin=500.0, fmax=sr / 3),
                               rtol=1e-5, atol=1e-8)


def test_dct_is_scipys_orthonormal_dct_ii():
    import scipy.fft

    x = np.random.default_rng(0).standard_normal((64, 7))
    expected = scipy.fft.dct(x, type=2, norm="ortho", axis=0)[:20]
    np.testing.assert_allclose(perceptual._dct_matrix(64, 20) @ x, expected, atol=1e-12)


def test_a_louder_or_quieter_copy_is_not_far_but_another_pitch_is():
    y = syllable(0.12, 700)
    for gain in (4.0, 0.125, 3.0, 0.01):  # powers of two scale every float exactly
        assert perceptual_distance(y, gain * y, SR) < 1e-3
        assert mfcc_distance(y, gain * y, SR) < 1e-3
    assert perceptual_distance(y, y, SR) == 0.0 and mfcc_distance(y, y, SR) == 0.0
    other = syllable(0.12, 770)  # 10 % higher
    assert perceptual_distance(y, other, SR) > 3.0 and mfcc_distance(y, other, SR) > 3.0
    assert perceptual_distance(y, other, SR) == pytest.approx(perceptual_distance(other, 0.5 * y, SR), rel=1e-6)


def test_time_is_normalised():
    y, longer = syllable(0.12, 700), syllable(0.15, 700)  # the same glide, 25 % slower
    other = syllable(0.12, 700, sweep=-0.3)  # same length, glides down instead
    near, far = perceptual_distance(y, longer, SR), perceptual_distance(y, other, SR)
    assert near < 1.0 and far > 10 * near
    padded = np.concatenate([y, np.zeros(1, np.float32)])  # one more frame, same sound
    assert perceptual_distance(y, padded, SR) < 0.05


def test_frames_are_db_re_the_loudest_with_a_soft_floor():
    y = syllable(0.1, 900)
    (f,) = perceptual_frames([y], SR)
    n_fft, hop_length = perceptual.stft_settings(SR)
    assert f.db.shape == (1 + len(y) // hop_length, perceptual.N_MELS) and f.length == len(y)
    assert f.db.max() == pytest.approx(10 * np.log10(1 + 10 ** (-TOP_DB / 10)))
    assert f.db.min() >= -TOP_DB
    (silent,) = perceptual_frames([np.zeros(2000, np.float32)], SR)
    assert np.all(silent.db == -TOP_DB)
    assert 0 < perceptual_distance(np.zeros(2000, np.float32), y, SR) <= TOP_DB


def test_batched_distances_equal_pairwise_ones(monkeypatch):
    sounds = [syllable(0.06 + 0.02 * k, 600 + 50 * k, sweep=0.1 * k - 0.2) for k in range(5)]
    monkeypatch.setattr(perceptual, "BATCH", 2)  # batches of different padded lengths
    d = previous_distances(sounds, SR)
    assert np.isnan(d[0])
    np.testing.assert_allclose(d[1:], [perceptual_distance(sounds[k - 1], sounds[k], SR) for k in range(1, 5)],
                               rtol=1e-6)
    chosen = previous_distances(sounds, SR, [None, 0, 0, None, 2])
    np.testing.assert_allclose(chosen[[1, 2, 4]], [perceptual_distance(sounds[0], sounds[1], SR),
                                                   perceptual_distance(sounds[0], sounds[2], SR),
                                                   perceptual_distance(sounds[2], sounds[4], SR)], rtol=1e-6)
    assert np.isnan(chosen[[0, 3]]).all()
    frames = perceptual_frames(sounds, SR)
    assert frame_distance(frames[1], frames[3]) == pytest.approx(frame_distance(frames[3], frames[1]))


def test_importing_it_loads_neither_librosa_nor_scipy_signal():
    code = ("import sys, gaia_audio.morph.perceptual; "
            "bad = {'librosa', 'scipy.signal'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
