"""Per-pair decoder tuning (morph/tune.py): the ends approach the recordings, the model stays as it was."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from tiny_model import synthetic_unit, train_tiny_model

from gaia_audio import load_model
from gaia_audio.errors import DataError
from gaia_audio.morph.model import make_endpoint
from gaia_audio.morph.series import morph_pair
from gaia_audio.morph.tune import TuneSettings, locality_codes, tune_decoder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_tiny_model(tmp_path_factory.mktemp("tune"))


@pytest.fixture(scope="module")
def vm(run):
    return load_model(run)


@pytest.fixture(scope="module")
def pair(vm):
    return (make_endpoint(vm, synthetic_unit(0, 0), 44100, "a"), make_endpoint(vm, synthetic_unit(2, 3), 44100, "b"))


def _pivots(vm, a, b):
    x = torch.stack([vm.to_tile(a.S), vm.to_tile(b.S)])
    z = vm.encode_tiles(x)
    return z[:1], z[1:], x[:1], x[1:]


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_tuning_brings_both_ends_to_the_recordings(vm, pair, run):
    digest = hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    weights = _weights(vm.model)
    result = morph_pair(vm, *pair, steps=5, tune=TuneSettings(steps=80, lr=2e-3, detail=False))
    ends = [result.rows[0], result.rows[-1]]
    for row in ends:  # the step's sound is closer to the recording after tuning alone than before
        assert row["fidelity_db"] < row["fidelity_untuned_db"] - 1.0, row
    assert result.tuning["settings"]["steps"] == 80
    assert result.tuning["endpoint_l1_after"] < 0.5 * result.tuning["endpoint_l1_before"]
    assert all(r.get("fidelity_untuned_db") is None for r in result.rows[1:-1])
    # the trained model, in memory and on disk, is untouched
    for k, v in vm.model.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0)
    assert hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest() == digest


def test_tune_steps_0_is_the_untuned_morph_exactly(vm, pair):
    a, b = pair
    result = morph_pair(vm, a, b, steps=4, tune_steps=0)
    assert result.tuning is None and result.rows[0]["fidelity_untuned_db"] is None
    z = vm.encode_tiles(torch.stack([vm.to_tile(a.S), vm.to_tile(b.S)]))
    tile = vm.decode_codes(z[:1])[0]  # step 0: the trained decoder at a's code, as before tuning existed
    # (batched decoding differs from one-at-a-time in the last float bits only)
    np.testing.assert_allclose(result.spectrograms[0], vm.from_tile(tile, vm.frames_for(len(a.y))), atol=1e-5)
    again = morph_pair(vm, a, b, steps=4, tune_steps=0)
    for y0, y1 in zip(result.waveforms, again.waveforms):
        np.testing.assert_array_equal(y0, y1)


def test_locality_term_keeps_the_rest_of_the_space(vm, pair):
    z_a, z_b, x_a, x_b = _pivots(vm, *pair)
    common = dict(steps=60, lr=2e-3, n_locality=8, interpolation_weight=0.0)
    _, _, _, held = tune_decoder(vm.model, z_a, z_b, x_a, x_b, TuneSettings(locality_weight=10.0, **common),
                                 vm.d_error_real)
    _, _, _, free = tune_decoder(vm.model, z_a, z_b, x_a, x_b, TuneSettings(locality_weight=0.0, **common),
                                 vm.d_error_real)
    # both fit the ends; the one held by the locality term moved less away from them
    assert held["endpoint_l1_after"] < held["endpoint_l1_before"]
    assert held["locality_l1"] < 0.7 * free["locality_l1"], (held, free)


def test_lora_adapter_tunes_a_baked_copy(vm, pair):
    z_a, z_b, x_a, x_b = _pivots(vm, *pair)
    weights = _weights(vm.model)
    tuned, _, _, report = tune_decoder(vm.model, z_a, z_b, x_a, x_b,
                                       TuneSettings(steps=60, lr=5e-3, adapter="lora", rank=2), vm.d_error_real)
    assert report["endpoint_l1_after"] < report["endpoint_l1_before"]
    assert not any("parametrizations" in name for name, _ in tuned.decoder.named_modules())
    for k, v in vm.model.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0)


def test_refined_pivots_fit_better_before_tuning(vm, pair):
    z_a, z_b, x_a, x_b = _pivots(vm, *pair)
    _, za2, _, report = tune_decoder(vm.model, z_a, z_b, x_a, x_b, TuneSettings(steps=0, refine_steps=30),
                                     vm.d_error_real)
    assert not torch.equal(za2, z_a)
    assert report["endpoint_l1_after"] < report["endpoint_l1_before"]  # refined codes, untouched decoder


def test_locality_codes_follow_the_training_code_statistics():
    gen = torch.Generator().manual_seed(0)
    z = torch.zeros(2, 3)
    stats = {"mean": [10.0, 10.0, 10.0], "std": [0.0, 0.0, 0.0]}
    far = locality_codes(z, 6, stats, gen)
    assert far.shape == (6, 3) and bool(((far >= 5.0 - 1e-6) & (far <= 10.0 + 1e-6)).all())


@pytest.mark.parametrize("kwargs", [dict(adapter="dora"), dict(steps=-1), dict(steps=10**6), dict(lr=0.0),
                                    dict(lr=float("nan")), dict(refine_lr=5.0)])
def test_bad_settings_are_one_line_errors(kwargs):
    with pytest.raises(DataError):
        TuneSettings(**kwargs)


def test_tuning_many_windows_a_chunk_at_a_time_equals_one_batch(vm, pair, monkeypatch):
    """A long pair's windows are tuned TUNE_WINDOWS at a time; the summed gradient is the whole batch's."""
    from gaia_audio.morph import tune

    z_a, z_b, x_a, x_b = _pivots(vm, *pair)
    generator = torch.Generator().manual_seed(3)  # five "windows": the pair's tiles, varied
    shift = 0.05 * torch.randn(5, z_a.shape[1], generator=generator)
    z_a5, z_b5 = z_a + shift, z_b - shift
    x_a5, x_b5 = x_a.repeat(5, 1, 1, 1), x_b.repeat(5, 1, 1, 1)
    settings = TuneSettings(steps=6, lr=2e-3, n_interpolation=2)
    whole, _, _, report = tune_decoder(vm.model, z_a5, z_b5, x_a5, x_b5, settings, vm.d_error_real)
    monkeypatch.setattr(tune, "TUNE_WINDOWS", 2)  # chunks of 2, 2 and 1 windows
    chunked, _, _, chunked_report = tune_decoder(vm.model, z_a5, z_b5, x_a5, x_b5, settings, vm.d_error_real)
    assert report["endpoint_l1_after"] < report["endpoint_l1_before"]
    # (compared by what they decode: a bias that a normalisation cancels has a gradient of rounding
    # noise, which Adam scales up to a full step either way)
    with torch.no_grad():
        codes = torch.cat([z_a5, z_b5, 0.5 * (z_a5 + z_b5)])
        torch.testing.assert_close(whole.decode(codes), chunked.decode(codes), rtol=0, atol=2e-4)
    assert chunked_report["endpoint_l1_after"] == pytest.approx(report["endpoint_l1_after"], rel=1e-4)
