"""Detail transfer (morph/detail.py): the ends become the recordings' spectrograms; the middles stay decoded."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_model import synthetic_unit, train_tiny_model

from gaia_audio import load_model
from gaia_audio.morph.detail import add_detail, residual, stretch_residual, weights
from gaia_audio.morph.model import make_endpoint
from gaia_audio.morph.series import morph_pair
from gaia_audio.morph.tune import TuneSettings
from gaia_audio.spectral.frontend import stretch


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    return load_model(train_tiny_model(tmp_path_factory.mktemp("detail")))


@pytest.fixture(scope="module")
def pair(vm):
    return (make_endpoint(vm, synthetic_unit(0, 0), 44100, "a"), make_endpoint(vm, synthetic_unit(2, 3), 44100, "b"))


def test_residual_is_resized_like_a_spectrogram():
    rng = np.random.default_rng(0)
    x = rng.random((12, 40)).astype(np.float32)
    for n in (17, 40, 90):  # shrinking (antialiased), the same, stretching
        want = stretch(torch.as_tensor(x)[None], n)[0].numpy() * 2 - 1
        np.testing.assert_allclose(stretch_residual(2 * x - 1, n), want, atol=1e-6)
    assert stretch_residual(-np.ones((3, 5)), 9).min() == pytest.approx(-1.0)  # signed values survive


def test_ends_get_their_own_residual_and_nothing_else():
    rng = np.random.default_rng(1)
    S_a, S_b = rng.random((8, 30)).astype(np.float32), rng.random((8, 50)).astype(np.float32)
    D_a, D_b = np.clip(S_a + 0.1, 0, 1), np.clip(S_b - 0.2, 0, 1)  # what a decoder made of them
    R_a, R_b = residual(S_a, D_a), residual(S_b, D_b)
    np.testing.assert_allclose(add_detail(D_a, 0.0, R_a, R_b), S_a, atol=1e-6)
    np.testing.assert_allclose(add_detail(D_b, 1.0, R_a, R_b), S_b, atol=1e-6)
    middle = add_detail(np.full((8, 40), 0.5, np.float32), 0.5, R_a, R_b)
    np.testing.assert_allclose(middle, 0.5 + 0.5 * stretch_residual(R_a, 40) + 0.5 * stretch_residual(R_b, 40),
                               atol=1e-6)
    assert weights(-0.5) == (1.0, 0.0) and weights(1.5) == (0.0, 1.0) and weights(0.25) == (0.75, 0.25)
    # a decoded copy at another frame count is resized to the recording's first
    assert residual(S_a, D_b).shape == S_a.shape


def test_tuned_morph_ends_are_the_recordings_spectrograms(vm, pair):
    a, b = pair
    settings = dict(steps=10, lr=2e-3)
    with_detail = morph_pair(vm, a, b, steps=5, spacing="uniform", tune=TuneSettings(**settings))
    without = morph_pair(vm, a, b, steps=5, spacing="uniform", tune=TuneSettings(detail=False, **settings))
    for k, e in ((0, a), (-1, b)):
        S = e.S.numpy()
        assert with_detail.spectrograms[k].shape == S.shape
        np.testing.assert_allclose(with_detail.spectrograms[k], S, atol=1e-5)
        assert with_detail.rows[k]["fidelity_db"] < without.rows[k]["fidelity_db"] - 3.0
    # the middle is the same tuned decoder's step plus half of each residual, not a mix of the recordings
    assert with_detail.tuning["settings"]["detail"] is True
    mid_with, mid_without = with_detail.spectrograms[2], without.spectrograms[2]
    assert mid_with.shape == mid_without.shape and not np.allclose(mid_with, mid_without)
    T = mid_with.shape[1]
    crossfade = 0.5 * (stretch(a.S[None], T)[0] + stretch(b.S[None], T)[0]).numpy()  # the recordings mixed
    assert np.abs(mid_with - mid_without).mean() < np.abs(crossfade - mid_without).mean()


def test_untuned_morph_adds_no_detail(vm, pair):
    a, b = pair
    plain = morph_pair(vm, a, b, steps=3, tune_steps=0)
    assert not np.allclose(plain.spectrograms[0], a.S.numpy(), atol=1e-3)
