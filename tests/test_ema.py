"""The moving average of the generator's weights, which decides what a run exports."""
from __future__ import annotations

import pytest
import torch

from gaia_audio.models import build_model
from gaia_audio.training.ema import GeneratorEMA, with_averaged_generator


def _net(value: float) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
        net[1].running_mean.fill_(value)
    return net


def test_beta_halves_the_weight_every_half_life():
    ema = GeneratorEMA(_net(0.0), half_life_kimg=1.0, rampup=None)  # 1000 images
    assert ema.beta(10_000, 1000) == pytest.approx(0.5)
    assert ema.beta(10_000, 500) == pytest.approx(0.5 ** 0.5)
    assert ema.beta(10_000, 500) ** 2 == pytest.approx(ema.beta(10_000, 1000))  # two half-steps = one step


def test_the_ramp_up_shortens_the_half_life_early_in_a_run():
    ema = GeneratorEMA(_net(0.0), half_life_kimg=5.0, rampup=0.05)
    assert ema.beta(16_000, 16) == pytest.approx(0.5 ** (16 / 800))     # 5 % of 16,000 images seen
    assert ema.beta(1_000_000, 16) == pytest.approx(0.5 ** (16 / 5000))  # later: the full half-life
    assert ema.beta(16, 16) < ema.beta(16_000, 16)                        # the very start forgets fastest


def test_zero_half_life_exports_the_weights_themselves():
    ema = GeneratorEMA(_net(0.0), half_life_kimg=0.0)
    net = _net(3.0)
    ema.update(net, 100, 10)
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), net.state_dict().values()))


def test_update_moves_parameters_by_beta_and_copies_buffers():
    ema = GeneratorEMA(_net(0.0), half_life_kimg=1.0, rampup=None)
    net = _net(1.0)
    ema.update(net, 10_000, 1000)  # beta 0.5: halfway from 0 to 1
    assert all(torch.allclose(p, torch.full_like(p, 0.5)) for p in ema.net.parameters())
    assert torch.equal(ema.net[1].running_mean, torch.ones(2))  # buffers are copied, not averaged
    ema.update(net, 11_000, 1000)
    assert all(torch.allclose(p, torch.full_like(p, 0.75)) for p in ema.net.parameters())
    assert not any(p.requires_grad for p in ema.net.parameters())


def test_the_average_of_a_constant_is_that_constant_and_the_state_round_trips():
    ema = GeneratorEMA(_net(0.0), half_life_kimg=0.5, rampup=0.05)
    net = _net(2.0)
    for step in range(1, 200):
        ema.update(net, step * 16, 16)
    assert all(torch.allclose(p, torch.full_like(p, 2.0), atol=1e-3) for p in ema.net.parameters())
    other = GeneratorEMA(_net(5.0), half_life_kimg=0.5)
    other.load_state_dict(ema.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), ema.state_dict().values()))


def test_the_exported_model_holds_the_average_and_the_trained_discriminator():
    torch.manual_seed(0)
    model = build_model((1, 16, 16), kind="gaia", size="small", width=4, n_res=1, style_dim=8, mlp_dim=8,
                        latent_dim=8)
    ema = GeneratorEMA(model.generator, half_life_kimg=1.0, rampup=None)
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
    ema.update(model.generator, 10_000, 1000)  # halfway towards the moved weights
    exported = with_averaged_generator(model, ema)
    for p_out, p_avg, p_now in zip(exported.generator.parameters(), ema.net.parameters(),
                                   model.generator.parameters()):
        assert torch.equal(p_out, p_avg) and not torch.equal(p_out, p_now)
    for p_out, p_now in zip(exported.discriminator.parameters(), model.discriminator.parameters()):
        assert torch.equal(p_out, p_now)  # the discriminator is exported as trained
    assert exported is not model and not torch.equal(next(model.generator.parameters()),
                                                     next(exported.generator.parameters()))
