"""One objective per model kind: its optimizers, its step's named terms, its update (training/objectives.py)."""
from __future__ import annotations

import pytest
import torch

from gaia_audio.errors import TrainingError
from gaia_audio.models import build_model
from gaia_audio.training.objectives import OBJECTIVES, make_objective

TINY = dict(size="small", width=4, n_res=1, style_dim=8, mlp_dim=8, latent_dim=8)
TERMS = {"gaia": {"Lr", "Lfr", "Lfs", "Lf", "L_dist", "pD", "pG", "L_D", "L_G", "lr_D", "lr_G"},
         "ae": {"loss"}, "vae": {"loss", "recon", "kl"}}


@pytest.mark.parametrize("kind", ["gaia", "ae", "vae"])
def test_each_kind_steps_its_own_networks_and_logs_its_terms(kind, one_torch_thread):
    torch.manual_seed(0)
    model = build_model((1, 16, 8), kind=kind, **TINY)
    objective = make_objective(model, lr_max=1e-3)
    assert type(objective) is OBJECTIVES[kind] and objective.kind == kind
    networks = objective.networks()
    assert set(objective.optimizers) == set(networks)
    before = {name: [p.detach().clone() for p in net.parameters()] for name, net in networks.items()}
    terms = objective.step(torch.rand(4, 1, 16, 8), torch.Generator().manual_seed(1))
    assert set(terms) == TERMS[kind] and all(isinstance(v, float) for v in terms.values())
    for name, net in networks.items():  # every network its objective owns has moved
        assert any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters())), name
    state = objective.state_dict()
    assert set(state) == set(networks)
    objective.load_state_dict(state)


def test_only_gaia_needs_an_even_batch_and_a_realism_reference():
    torch.manual_seed(0)
    gaia = make_objective(build_model((1, 16, 8), kind="gaia", **TINY), lr_max=1e-3)
    with pytest.raises(TrainingError, match="must be even for GAIA's interpolation pairs, got 5"):
        gaia.check_batch_size(5)
    gaia.check_batch_size(4)
    tiles = torch.rand(6, 1, 16, 8).numpy()
    extra = gaia.export_extra(tiles, torch.arange(6).numpy(), torch.device("cpu"))
    with torch.no_grad():
        expected = (torch.from_numpy(tiles) - gaia.model.discriminator(torch.from_numpy(tiles))).abs().mean()
    assert extra["d_error_real"] == pytest.approx(float(expected), rel=1e-5)
    ae = make_objective(build_model((1, 16, 8), kind="ae", **TINY), lr_max=1e-3)
    ae.check_batch_size(5)
    assert ae.export_extra(tiles, torch.arange(6).numpy(), torch.device("cpu")) == {}


def test_a_nonfinite_term_changes_nothing():
    torch.manual_seed(0)
    model = build_model((1, 16, 8), kind="ae", **TINY)
    objective = make_objective(model, lr_max=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(4, 1, 16, 8)
    x[0, 0, 0, 0] = float("nan")
    terms = objective.step(x, torch.Generator().manual_seed(1))
    assert terms["loss"] != terms["loss"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
