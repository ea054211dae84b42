"""The series of every kind of morph and their one render path (decode → untile → invert)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_synthetic_song
from test_morph import _identity_vm

from gaia_audio.morph.model import make_endpoint
from gaia_audio.morph.steps import AlignedPair, AttributeLine, Series, UnitPair, WeightedMix, lerp_length


@pytest.fixture(scope="module")
def vm():
    return _identity_vm(power=2.0)


@pytest.fixture(scope="module")
def ends(vm):
    y, sr, bounds = make_synthetic_song(sr=22050, seed=5)
    units = [y[int(a * sr):int(b * sr)] for a, b in bounds]
    return [make_endpoint(vm, u, sr, f"u{k}") for k, u in enumerate(units[:3])], (y, sr)


def test_render_is_decode_untile_invert(vm, ends):
    """What every step of every morph goes through: the series' decode, its untile, the model's inversion."""
    (a, b, _), _ = ends
    series, alphas = UnitPair(vm, a, b, "lerp"), np.array([0.0, 0.3, 1.0])
    made = series.render(alphas)
    tiles = series.decode(alphas)
    assert made.tiles.shape == tiles.shape == (3, 1, vm.n_freq, vm.n_frames)
    built = [series.untile(tiles[k], alpha) for k, alpha in enumerate(alphas)]
    waveforms = vm.invert_many([S for S, _ in built], [n for _, n in built])
    for k, alpha in enumerate(alphas):
        S, n = built[k]
        np.testing.assert_allclose(made.spectrograms[k], S)
        assert len(made.waveforms[k]) == n == lerp_length(len(a.y), len(b.y), alpha)
        np.testing.assert_allclose(made.waveforms[k], waveforms[k], atol=1e-5)


def test_pghi_render_differs_from_the_full_chain(vm, ends):
    (a, b, _), _ = ends
    series = UnitPair(vm, a, b, "lerp")
    full, pghi = series.render(np.array([0.5])), series.render(np.array([0.5]), method="pghi")
    np.testing.assert_allclose(full.spectrograms[0], pghi.spectrograms[0])
    assert not np.allclose(full.waveforms[0], pghi.waveforms[0])


def test_a_weighted_mix_at_a_vertex_is_that_endpoint(vm, ends):
    (a, b, c), _ = ends
    mix, pair = WeightedMix(vm, [a, b, c]), UnitPair(vm, a, b, "lerp")
    weights = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(mix.decode(weights[:1]), pair.decode(np.array([1.0])), atol=1e-6)
    np.testing.assert_allclose(mix.decode(weights[1:]), pair.decode(np.array([0.5])), atol=1e-6)
    _, n = mix.untile(mix.decode(weights[1:])[0], weights[1])
    assert n == round((len(a.y) + len(b.y)) / 2)


def test_an_attribute_line_moves_the_code_and_keeps_the_duration(vm, ends):
    (a, _, _), _ = ends
    vector = np.zeros(int(np.prod(vm.frontend.tile_shape)), np.float32)
    vector[: vector.size // 2] = 0.1
    line = AttributeLine(vm, a, vector)
    tiles = line.decode(np.array([0.0, 2.0]))
    np.testing.assert_allclose(tiles[0], UnitPair(vm, a, a, "lerp").decode(np.array([0.0]))[0], atol=1e-6)
    assert not torch.allclose(tiles[0], tiles[1])
    assert {line.untile(t, e)[1] for t, e in zip(tiles, (0.0, 2.0))} == {len(a.y)}


def test_an_aligned_pair_renders_windows_onto_one_warped_time_axis(vm, ends):
    _, (y, sr) = ends
    a = make_endpoint(vm, y[: int(0.9 * sr)], sr, "long_a")
    b = make_endpoint(vm, y[int(0.1 * sr): int(1.1 * sr)], sr, "long_b")
    series = AlignedPair(vm, a, b, "lerp")
    made = series.render(np.array([0.0, 0.5, 1.0]))
    assert made.tiles.shape[:2] == (3, len(series.windows))
    assert [len(w) for w in made.waveforms] == [lerp_length(len(a.y), len(b.y), t) for t in (0.0, 0.5, 1.0)]


def test_a_series_must_say_how_it_decodes_and_untiles():
    class Half(Series):
        def decode(self, positions):
            return torch.zeros(len(positions), 1, 2, 2)

    with pytest.raises(TypeError, match="untile"):
        Half()


def test_long_steps_render_a_few_at_a_time_as_they_would_at_once(vm, ends, monkeypatch):
    """A pair of long recordings renders in groups of RENDER_TILES decoded tiles; the steps are the same."""
    from gaia_audio.morph import steps

    _, (y, sr) = ends
    a = make_endpoint(vm, y[: int(0.9 * sr)], sr, "long_a")
    b = make_endpoint(vm, y[int(0.1 * sr): int(1.1 * sr)], sr, "long_b")
    series, alphas = AlignedPair(vm, a, b, "lerp"), np.array([0.0, 0.4, 0.7, 1.0])
    whole = series.render(alphas)
    calls = []
    monkeypatch.setattr(steps, "RENDER_TILES", series.tiles_per_step)  # one step per pass
    monkeypatch.setattr(series, "_render", lambda at, method, f=series._render: calls.append(len(at)) or f(at, method))
    grouped = series.render(alphas)
    assert calls == [1, 1, 1, 1] and grouped.tiles.shape == whole.tiles.shape
    for y_whole, y_grouped in zip(whole.waveforms, grouped.waveforms):  # a batch's padding shapes the tails only
        assert len(y_grouped) == len(y_whole)
        assert np.sqrt(np.mean((y_grouped - y_whole) ** 2)) < 0.01 * np.sqrt(np.mean(y_whole ** 2))
