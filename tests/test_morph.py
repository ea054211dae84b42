"""Morphs: latent paths, step spacing, grid/barycentric weights, endpoints, and whole series.

Series are checked with an *identity* model (the code is the tile itself) on the real front end,
untuned (``tune_steps=0``: an identity has no decoder to tune): there every property of the morph
machinery (endpoint resynthesis, durations, alignment, spacing) can be predicted exactly,
independent of how well a network is trained. Trained models are exercised in
test_vocal_model.py and test_cli_morph.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_synthetic_song
from hypothesis import given, settings
from hypothesis import strategies as st

from gaia_audio.config import Config
from gaia_audio.errors import AudioError, DataError
from gaia_audio.morph.model import make_endpoint
from gaia_audio.morph.paths import (
    arc_length,
    barycentric_weights,
    corrected_alphas,
    equal_arc_alphas,
    grid_weights,
    interpolate,
    lattice_previous,
    slerp,
    step_alphas,
    step_cv,
)
from gaia_audio.morph.perceptual import perceptual_distance, previous_distances
from gaia_audio.morph.series import morph_attribute, morph_barycentric, morph_grid, morph_pair
from gaia_audio.morph.steps import UnitPair

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


def _rms_steps(points: torch.Tensor) -> np.ndarray:
    """(M - 1,) RMS differences between consecutive points (a distance the paths module is given)."""
    flat = points.reshape(points.shape[0], -1).double()
    return (flat[1:] - flat[:-1]).pow(2).mean(dim=1).sqrt().numpy()


def test_equal_arc_alphas_equalise_a_path_that_speeds_up():
    pattern = torch.rand(1, 10, 10, generator=torch.Generator().manual_seed(0))
    decode = lambda alphas: torch.stack([pattern * float(a) ** 3 for a in alphas])  # noqa: E731
    dense = np.linspace(0, 1, 200)
    alphas = equal_arc_alphas(_rms_steps(decode(dense)), dense, 8)
    assert alphas[0] == 0 and alphas[-1] == 1 and np.all(np.diff(alphas) > 0)
    assert step_cv(_rms_steps(decode(np.linspace(0, 1, 8)))) > 0.5
    assert step_cv(_rms_steps(decode(alphas))) < 0.02
    backwards = equal_arc_alphas(_rms_steps(decode(dense[::-1])), dense[::-1], 8)  # α running from 1 to 0
    np.testing.assert_allclose(backwards, alphas[::-1], atol=1e-9)
    still = equal_arc_alphas(np.zeros(4), np.linspace(0, 2, 5), 3)  # a path that does not move
    np.testing.assert_allclose(still, [0, 1, 2])
    np.testing.assert_allclose(arc_length([1.0, 2.0, 0.5]), [0, 1, 3, 3.5])


def test_corrected_alphas_follow_the_distances_measured_between_steps():
    """The dense pass saw a straight path; the steps themselves show it is four times as far from
    α = 0.5 to 1 as from 0 to 0.5: the correction moves the steps towards 1, evenly by that measure."""
    dense = np.linspace(0, 1, 101)
    true_arc = lambda a: np.where(a < 0.5, a, 0.5 + 4 * (a - 0.5))  # noqa: E731
    knots = equal_arc_alphas(np.full(100, 0.01), dense, 5)  # even in α: 0, .25, .5, .75, 1
    measured = np.diff(true_arc(knots))
    assert step_cv(measured) > 0.5
    again = corrected_alphas(np.full(100, 0.01), dense, knots, measured, 5)
    assert again[0] == 0 and again[-1] == 1 and np.all(np.diff(again) > 0)
    assert step_cv(np.diff(true_arc(again))) < 1e-6
    np.testing.assert_allclose(again, [0, 0.53125, 0.6875, 0.84375, 1], atol=1e-9)


def test_lattice_previous_is_one_share_of_weight_away():
    w = barycentric_weights(3, 3)
    assert lattice_previous(w) == [None, 0, 1, 1, 3, 4]
    w = barycentric_weights(4, 4)
    previous = lattice_previous(w)
    assert previous[0] is None and all(p is not None and p < k for k, p in enumerate(previous) if k)
    for k, p in enumerate(previous[1:], start=1):
        assert np.abs(w[k] - w[p]).sum() == pytest.approx(2 / 3)


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


# ---- whole series with an identity model on the real front end ---------------------------------


class Identity(torch.nn.Module):
    """A "model" whose code is the tile itself, optionally bent by a power so the path is not straight."""

    def __init__(self, shape: tuple[int, int, int], power: float = 1.0):
        super().__init__()
        self.shape, self.power = shape, power

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) ** (1 / self.power)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.clamp(0, 1).reshape(-1, *self.shape) ** self.power

    def realism_error(self, x: torch.Tensor) -> None:  # no discriminator: no realism column
        return None


def _identity_vm(power: float = 1.0):
    from gaia_audio.morph.model import VocalModel
    from gaia_audio.spectral.presets import make_frontend

    frontend = make_frontend("zebra_finch")
    config = Config()
    config.model.kind = "ae"
    config.inversion.n_iter = 4
    return VocalModel(Identity((1, *frontend.tile_shape), power), frontend, config, {})


@pytest.fixture(scope="module")
def ivm():
    return _identity_vm()


@pytest.fixture(scope="module")
def units():
    y, sr, bounds = make_synthetic_song(sr=22050, seed=11)
    return [y[int(a * sr):int(b * sr)] for a, b in bounds], sr


def test_endpoints_go_through_the_same_path_and_durations_interpolate(ivm, units):
    (y_a, y_b, *_), sr = units
    a, b = make_endpoint(ivm, y_a, sr, "a"), make_endpoint(ivm, y_b, sr, "b")
    result = morph_pair(ivm, a, b, steps=5, spacing="uniform", tune_steps=0)
    lengths = [len(y) for y in result.waveforms]
    np.testing.assert_allclose(lengths, np.linspace(len(y_a), len(y_b), 5), atol=1)
    # step 0 is a resynthesised through tile -> code -> tile -> untile, not the input itself
    expected = ivm.from_tile(ivm.to_tile(a.S), a.n_frames)
    np.testing.assert_allclose(result.spectrograms[0], expected, atol=1e-5)
    assert result.rows[0]["fidelity_db"] < -15 and result.rows[-1]["fidelity_db"] < -15
    assert [r["fidelity_db"] is None for r in result.rows] == [False, True, True, True, False]
    assert result.rows[0]["distance_prev"] is None
    np.testing.assert_allclose([r["distance_prev"] for r in result.rows[1:]],  # the perceptual distance
                               [perceptual_distance(result.waveforms[k - 1], result.waveforms[k], ivm.sr)
                                for k in range(1, 5)], rtol=1e-9)
    assert all(r["realism"] is None for r in result.rows)  # no discriminator
    assert result.stems == [f"step_{k:02d}" for k in range(5)] and result.hop_length == ivm.hop_length


def _cv(result) -> float:
    """Coefficient of variation of a series' ``distance_prev`` (its final, fully inverted steps)."""
    return step_cv([row["distance_prev"] for row in result.rows[1:]])


def test_equal_spacing_evens_out_a_bent_path(units):
    vm = _identity_vm(power=3.0)
    (*_, y_a, y_b), sr = units
    a, b = make_endpoint(vm, y_a, sr, "a"), make_endpoint(vm, y_b, sr, "b")
    uniform = morph_pair(vm, a, b, 6, spacing="uniform", tune_steps=0)
    equal = morph_pair(vm, a, b, 6, tune_steps=0)  # equal spacing is the default
    assert _cv(equal) <= 0.2 < 0.3 < _cv(uniform)
    alphas = [r["alpha"] for r in equal.rows]
    assert alphas[0] == 0 and alphas[-1] == 1 and alphas != pytest.approx(np.linspace(0, 1, 6).tolist())
    assert alphas == sorted(alphas)


@pytest.fixture(scope="module")
def real_pair(real_songs):
    """Two zebra finch syllables of different types (samba's 4th, 104 ms; simple's 2nd, 237 ms) at 22.05 kHz."""
    from gaia_audio.data.segment import detect_units
    from gaia_audio.io import audio

    picked = []
    for path, k in ((real_songs[2], 3), (real_songs[3], 1)):
        y, sr = audio.load(path, sr=22050)
        onset, offset = detect_units(y, sr, threshold_db=-25.0, max_duration=0.3)[k]
        picked.append(y[int(onset * sr):int(offset * sr)])
    return picked


def test_equal_spacing_evens_out_a_real_pair(real_pair):
    """16 steps between two real syllables on a bent path: even in α they are not even to the ear."""
    vm = _identity_vm(power=3.0)
    a, b = (make_endpoint(vm, y, 22050, n) for y, n in zip(real_pair, "ab"))
    uniform = morph_pair(vm, a, b, 16, spacing="uniform", tune_steps=0)
    equal = morph_pair(vm, a, b, 16, spacing="equal", tune_steps=0)
    assert _cv(equal) <= 0.2 and _cv(uniform) > 0.3


def test_pghi_alone_measures_the_path_as_the_full_chain_does(real_pair):
    """The dense pass inverts with PGHI only; the arc it measures matches the recipe's full chain."""
    vm = _identity_vm(power=3.0)
    vm.config.inversion.n_iter = 20
    a, b = (make_endpoint(vm, y, 22050, n) for y, n in zip(real_pair, "ab"))
    series, dense = UnitPair(vm, a, b, "lerp"), np.linspace(0, 1, 33)
    arcs = []
    for method in ("pghi", "pghi+fgla"):
        waveforms = series.render(dense, method=method).waveforms
        arc = arc_length(previous_distances(waveforms, vm.sr)[1:])
        arcs.append(arc / arc[-1])
    assert np.abs(arcs[0] - arcs[1]).max() < 0.05


def test_extrapolation_keeps_durations_linear(ivm, units):
    (y_a, y_b, *_), sr = units
    a, b = make_endpoint(ivm, y_a, sr, "a"), make_endpoint(ivm, y_b, sr, "b")
    result = morph_pair(ivm, a, b, steps=7, alpha_range=(-0.25, 1.25), path="slerp", spacing="uniform",
                        tune_steps=0)
    alphas = np.array([r["alpha"] for r in result.rows])
    np.testing.assert_allclose(alphas, np.linspace(-0.25, 1.25, 7))
    np.testing.assert_allclose([len(y) for y in result.waveforms], len(y_a) + alphas * (len(y_b) - len(y_a)), atol=1)
    assert [r["fidelity_db"] is not None for r in result.rows] == [False, True, False, False, False, True, False]


def _assemble(units: list[np.ndarray], gaps_s: list[float], sr: int) -> np.ndarray:
    """Units separated by the given silences (one more gap than units: before, between, after)."""
    pieces = [np.zeros(int(gaps_s[0] * sr), np.float32)]
    for unit, gap in zip(units, gaps_s[1:]):
        pieces += [unit, np.zeros(int(gap * sr), np.float32)]
    return np.concatenate(pieces)


def test_long_inputs_are_aligned_before_they_are_mixed(ivm):
    """Two renditions of one song with different timing: the aligned midpoint has the units at
    the average of their two positions, which no blend of the unaligned endpoints gives."""
    y, sr, bounds = make_synthetic_song(sr=22050, seed=12, n_units=5)
    units = [y[int(a * sr):int(b * sr)] for a, b in bounds]
    gaps_a, gaps_b = [0.05, 0.05, 0.30, 0.05, 0.05, 0.05], [0.05, 0.25, 0.05, 0.05, 0.20, 0.05]
    song_a, song_b = _assemble(units, gaps_a, sr), _assemble(units, gaps_b, sr)
    expected = _assemble(units, [(g + h) / 2 for g, h in zip(gaps_a, gaps_b)], sr)
    a, b = make_endpoint(ivm, song_a, sr, "a"), make_endpoint(ivm, song_b, sr, "b")
    assert max(a.n_frames, b.n_frames) > ivm.max_unit_frames
    result = morph_pair(ivm, a, b, steps=3, tune_steps=0)
    assert any("aligned by DTW" in n for n in result.notes)
    assert result.rows[0]["fidelity_db"] < -10 and result.rows[-1]["fidelity_db"] < -10
    mid, target = result.spectrograms[1], ivm.spectrogram(expected).numpy()
    n = min(mid.shape[1], target.shape[1])
    from scipy.ndimage import zoom

    naive = 0.5 * (zoom(a.S.numpy(), (1, n / a.n_frames), order=1)[:, :n]
                   + zoom(b.S.numpy(), (1, n / b.n_frames), order=1)[:, :n])
    corr = lambda x: np.corrcoef(x[:, :n].ravel(), target[:, :n].ravel())[0, 1]  # noqa: E731
    assert corr(mid) > 0.75 and corr(mid) > corr(naive) + 0.2
    same = morph_pair(ivm, a, a, steps=3, tune_steps=0)  # a song morphed with itself stays itself
    assert max(r["distance_prev"] for r in same.rows[1:]) < 1e-6


def test_grid_and_barycentric_mix_codes_by_their_weights(ivm, units):
    (y_a, y_b, y_c, y_d), sr = units
    ends = [make_endpoint(ivm, y, sr, n) for y, n in zip((y_a, y_b, y_c, y_d), "abcd")]
    grid = morph_grid(ivm, ends, steps=3)
    assert len(grid.waveforms) == 9 and grid.stems[4] == "step_01_01"
    tiles = torch.stack([ivm.to_tile(e.S) for e in ends])
    centre = ivm.from_tile(tiles.mean(0), ivm.frames_for(round(np.mean([len(e.y) for e in ends]))))
    np.testing.assert_allclose(grid.spectrograms[4], centre, atol=1e-5)
    assert [r["fidelity_db"] is not None for r in grid.rows] == [True, False, True, False, False, False,
                                                                 True, False, True]
    assert [r["distance_prev"] is None for r in grid.rows] == [True, False, False] * 3  # left neighbour
    assert grid.rows[1]["distance_prev"] == pytest.approx(perceptual_distance(*grid.waveforms[:2], ivm.sr))
    bary = morph_barycentric(ivm, ends[:3], steps=3)
    assert len(bary.rows) == 6 and sum(r["fidelity_db"] is not None for r in bary.rows) == 3
    assert {"w0", "w1", "w2"} <= set(bary.rows[0])
    assert bary.rows[0]["distance_prev"] is None and all(r["distance_prev"] > 0 for r in bary.rows[1:])
    assert bary.rows[3]["distance_prev"] == pytest.approx(perceptual_distance(bary.waveforms[1], bary.waveforms[3],
                                                                              ivm.sr))  # lattice neighbour
    attr = morph_attribute(ivm, ends[0], np.full(ivm.n_freq * ivm.n_frames, 0.05, np.float32), "up",
                           extent=(-1.0, 1.0), steps=3)
    assert attr.rows[0]["distance_prev"] is None
    assert attr.rows[2]["distance_prev"] == pytest.approx(perceptual_distance(*attr.waveforms[1:], ivm.sr))
    with pytest.raises(DataError, match="3 or more"):
        morph_barycentric(ivm, ends[:2], steps=3)
    with pytest.raises(DataError, match="exactly 4"):
        morph_grid(ivm, ends[:3], steps=3)


def test_grids_refuse_inputs_longer_than_a_unit(ivm):
    song, sr, _ = make_synthetic_song(sr=22050, seed=13, n_units=6)
    long = make_endpoint(ivm, song, sr, "song")
    with pytest.raises(DataError, match="too long: song"):
        morph_grid(ivm, [long] * 4, steps=2)


def test_make_endpoint_notes_what_it_changes(ivm, units):
    (y_a, *_), sr = units
    stereo = np.stack([y_a, 0.5 * y_a])
    end = make_endpoint(ivm, stereo, sr, "st")
    assert end.notes == ["st: 2 channels mixed down to mono (pick one with --channel)"]
    np.testing.assert_allclose(end.y, 0.75 * y_a, atol=1e-6)
    end = make_endpoint(ivm, stereo, sr, "st", channel=1)
    np.testing.assert_allclose(end.y, 0.5 * y_a, atol=1e-6) and None
    assert end.notes == ["st: channel 1 of 2 used"]
    end = make_endpoint(ivm, np.repeat(y_a, 2), 44100, "up")
    assert end.notes == ["up: resampled from 44100 Hz to the model's 22050 Hz"] and abs(len(end.y) - len(y_a)) <= 1
    with pytest.raises(AudioError, match="channel 2 out of range"):
        make_endpoint(ivm, stereo, sr, "st", channel=2)
    with pytest.raises(AudioError, match=r"expected samples of shape"):
        make_endpoint(ivm, np.zeros((2, 2, 100)), sr, "cube")


def test_too_quiet_means_within_20_db_of_the_floor(ivm, units):
    (y_a, *_), sr = units
    level = ivm.level_db(float(ivm.spectrogram(y_a).max()))  # dB of the loudest bin
    at = lambda db: y_a * np.float32(10 ** ((db - level) / 20))  # noqa: E731
    assert make_endpoint(ivm, at(ivm.min_db + 25), sr, "ok").notes == []
    with pytest.raises(AudioError, match="too quiet for the model: its loudest bin is -65 dB"):
        make_endpoint(ivm, at(ivm.min_db + 15), sr, "faint")
    with pytest.raises(AudioError, match="silent input"):
        make_endpoint(ivm, np.zeros_like(y_a), sr, "zeros")


def test_equal_spacing_says_when_it_could_not_make_the_steps_even():
    from gaia_audio.morph.finish import MorphResult
    from gaia_audio.morph.series import UNEVEN_CV, _note_uneven

    result = MorphResult(waveforms=[], sr=22050, rows=[{"distance_prev": d} for d in (None, 8.5, 4.8, 3.3)],
                         spectrograms=[], name="a_to_b")
    _note_uneven(result)
    cv = np.std([8.5, 4.8, 3.3]) / np.mean([8.5, 4.8, 3.3])
    assert result.notes == [f"a_to_b: steps are not evenly spaced (distances 8.5 / 4.8 / 3.3 dB, CV {cv:.2f}): the "
                            "path changes faster than the steps can follow; more --steps spread it"]
    even = MorphResult(waveforms=[], sr=22050, rows=[{"distance_prev": d} for d in (None, 4.0, 4.1, 3.9)],
                       spectrograms=[], name="x")
    _note_uneven(even)
    assert even.notes == [] and UNEVEN_CV == 0.2
