"""Morphs: latent paths, step spacing, grid/barycentric weights, endpoints, and whole series.

Series are checked with an *identity* model (the code is the tile itself) on the real front end:
there every property of the morph machinery (endpoint resynthesis, durations, alignment,
spacing) can be predicted exactly, independent of how well a network is trained. Trained models
are exercised in test_api.py and test_cli_morph.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaia_audio.config import Config
from gaia_audio.errors import AudioError, DataError
from gaia_audio.morph import (barycentric_weights, equal_arc_alphas, grid_weights, interpolate, make_endpoint,
                              morph_barycentric, morph_grid, morph_pair, slerp, step_alphas, step_distances)

from conftest import make_synthetic_song

# ---- paths and spacing (pure) ---------------------------------------------------------------


def test_step_alphas_span_the_range():
    np.testing.assert_allclose(step_alphas(5), [0, 0.25, 0.5, 0.75, 1])
    a = step_alphas(16, (-0.25, 1.25))
    assert len(a) == 16 and a[0] == -0.25 and a[-1] == 1.25
    with pytest.raises(DataError):
        step_alphas(1)
    with pytest.raises(DataError):
        step_alphas(4, (0.5, 0.5))


@pytest.mark.parametrize("path", ["lerp", "slerp"])
def test_paths_start_and_end_at_the_codes(path):
    g = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(2, 16, generator=g, dtype=torch.float64)
    z = interpolate(z_a, z_b, np.array([0.0, 0.5, 1.0]), path)
    assert z.shape == (3, 16)
    torch.testing.assert_close(z[0], z_a)
    torch.testing.assert_close(z[2], z_b)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(-0.5, 1.5))
def test_slerp_keeps_the_norm_of_equal_norm_codes(seed, alpha):
    g = torch.Generator().manual_seed(seed)
    z_a, z_b = torch.randn(2, 8, generator=g, dtype=torch.float64)
    z_b = z_b * z_a.norm() / z_b.norm()
    z = slerp(z_a, z_b, torch.tensor([alpha], dtype=torch.float64))[0]
    assert math.isclose(float(z.norm()), float(z_a.norm()), rel_tol=1e-6)


def test_slerp_of_parallel_codes_is_lerp_and_batches_broadcast():
    z_a = torch.tensor([1.0, 2.0, 3.0])
    z = slerp(z_a, 2 * z_a, torch.tensor([0.5]))
    torch.testing.assert_close(z[0], 1.5 * z_a)
    W_a, W_b = torch.randn(4, 6), torch.randn(4, 6)
    for path in ("lerp", "slerp"):
        z = interpolate(W_a, W_b, np.linspace(0, 1, 3), path)
        assert z.shape == (3, 4, 6)
        torch.testing.assert_close(z[0], W_a)
        torch.testing.assert_close(z[-1], W_b)
    lin = interpolate(W_a, W_b, np.array([0.25]), "lerp")[0]
    torch.testing.assert_close(lin, 0.75 * W_a + 0.25 * W_b)
    with pytest.raises(DataError, match="unknown path"):
        interpolate(W_a, W_b, np.array([0.5]), "bezier")


def test_equal_arc_alphas_equalise_a_path_that_speeds_up():
    pattern = torch.rand(1, 10, 10, generator=torch.Generator().manual_seed(0))
    decode = lambda alphas: torch.stack([pattern * float(a) ** 3 for a in alphas])  # noqa: E731
    dense = np.linspace(0, 1, 200)
    alphas = equal_arc_alphas(decode(dense), dense, 8)
    assert alphas[0] == 0 and alphas[-1] == 1 and np.all(np.diff(alphas) > 0)
    d_equal = step_distances(decode(alphas))[1:]
    d_uniform = step_distances(decode(np.linspace(0, 1, 8)))[1:]
    cv = lambda d: d.std() / d.mean()  # noqa: E731
    assert cv(d_uniform) > 0.5 and cv(d_equal) < 0.02
    still = equal_arc_alphas(torch.zeros(5, 3), np.linspace(0, 2, 5), 3)  # a path that does not move
    np.testing.assert_allclose(still, [0, 1, 2])


def test_grid_weights_are_bilinear():
    w, uv = grid_weights(3)
    assert w.shape == (9, 4) and uv.shape == (9, 2)
    np.testing.assert_allclose(w.sum(axis=1), 1)
    np.testing.assert_allclose(w[[0, 2, 6, 8]], np.eye(4))  # the corners a, b, c, d
    np.testing.assert_allclose(w[4], [0.25] * 4)
    np.testing.assert_allclose(uv[1], [0.5, 0])


@pytest.mark.parametrize("n, steps", [(3, 2), (3, 5), (4, 4), (5, 3)])
def test_barycentric_weights_cover_the_simplex_lattice(n, steps):
    w = barycentric_weights(n, steps)
    assert w.shape == (math.comb(steps - 1 + n - 1, n - 1), n)
    np.testing.assert_allclose(w.sum(axis=1), 1)
    assert (w >= 0).all()
    assert len({tuple(np.round(r, 9)) for r in w}) == len(w)
    for k in range(n):  # every vertex is there exactly once
        assert sum(np.allclose(r, np.eye(n)[k]) for r in w) == 1
    np.testing.assert_allclose(np.unique(np.round(w * (steps - 1), 9)), np.arange(steps))


def test_barycentric_refuses_huge_lattices():
    with pytest.raises(DataError, match="use fewer steps"):
        barycentric_weights(6, 40)
