"""GAIA, AE and VAE networks: shapes for any tile, the flat code, init, errors, and that they learn."""
from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
from test_losses import gaia_losses

from gaia_audio.config import ModelConfig
from gaia_audio.errors import ConfigError, ModelError
from gaia_audio.models import AE, GAIA, SIZE_PRESETS, VAE, build_model, count_parameters
from gaia_audio.training.losses import interpolate_codes

KINDS = ["gaia", "ae", "vae"]
TINY = {"width": 8, "n_res": 1, "style_dim": 8, "mlp_dim": 8, "latent_dim": 16}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(1, 80, 64), (1, 81, 63), (3, 64, 64), (1, 20, 48)])
def test_round_trip_shapes_and_range(kind, shape):
    torch.manual_seed(0)
    model = build_model(shape, kind=kind, size="small")
    assert model.kind == kind and model.in_shape == shape
    x = torch.rand(3, *shape)
    z = model.encode(x)
    assert z.shape == (3, model.code_dim)
    x_hat = model.decode(z)
    assert x_hat.shape == x.shape
    assert x_hat.min() >= 0 and x_hat.max() <= 1
    torch.testing.assert_close(model(x), x_hat)
    assert model.content_code(z).shape == (3, model.content_dim)


@pytest.mark.parametrize("shape", [(1, 5, 7), (1, 3, 3), (2, 17, 1)])
def test_tiny_and_odd_tiles(shape):
    model = build_model(shape, kind="gaia", n_down=1, style_n_down=1, **TINY)
    x = torch.rand(2, *shape)
    assert model(x).shape == x.shape
    assert model.discriminator(x).shape == x.shape


def test_code_layout_and_slicing():
    model = build_model((1, 80, 64), kind="ae", size="small", latent_dim=32, style_dim=12)
    assert (model.content_dim, model.style_dim, model.code_dim) == (32, 12, 44)
    z = model.encode(torch.rand(2, 1, 80, 64))
    torch.testing.assert_close(model.content_code(z), z[:, :32])
    torch.testing.assert_close(model.style_code(z), z[:, 32:])
    # latent_dim = 0 keeps the feature map: width·2**n_down channels at (H/4, W/4) after padding 81 → 84
    fmap = build_model((1, 81, 64), kind="ae", width=8, n_down=2, latent_dim=0, style_dim=12)
    assert fmap.content_dim == 32 * 21 * 16 and fmap.code_dim == fmap.content_dim + 12
    assert fmap.decode(fmap.encode(torch.rand(2, 1, 81, 64))).shape == (2, 1, 81, 64)


def test_style_and_content_both_drive_the_decoder():
    torch.manual_seed(0)
    model = build_model((1, 32, 32), kind="ae", **TINY)
    z = model.encode(torch.rand(2, 1, 32, 32))
    swapped = torch.cat([model.content_code(z)[:1], model.style_code(z)[1:]], dim=1)
    out = model.decode(torch.cat([z, swapped]))
    assert not torch.allclose(out[2], out[0]) and not torch.allclose(out[2], out[1])


def test_gaia_networks():
    model = build_model((1, 80, 64), kind="gaia", size="small")
    assert isinstance(model, GAIA)
    gen, disc = model.generator, model.discriminator
    assert disc.content.channels == gen.content.channels // 2
    assert disc.content.head is None and disc.decoder.dense is None        # no dense bottleneck
    assert gen.content.out_dim == SIZE_PRESETS["small"]["latent_dim"]
    assert disc.style_dim == gen.style_dim
    gen_ids = {id(p) for p in gen.parameters()}
    assert not gen_ids & {id(p) for p in disc.parameters()}
    assert count_parameters(model) == count_parameters(gen) + count_parameters(disc)
    x = torch.rand(2, 1, 80, 64)
    z = model.encode(x)
    torch.testing.assert_close(z, gen.encode(x))
    torch.testing.assert_close(model.decode(z), gen.decode(z))
    torch.testing.assert_close(model(x), gen(x))
    assert disc(x).shape == x.shape


def test_gaia_losses_reach_every_parameter_of_their_network():
    torch.manual_seed(0)
    model = build_model((1, 24, 16), kind="gaia", **TINY)
    G, D = model.generator, model.discriminator
    x = torch.rand(4, 1, 24, 16)
    z = G.encode(x)
    x_g = G.decode(z)
    x_i = G.decode(interpolate_codes(z, torch.tensor([0.3, 0.8]), torch.tensor([0.5, 1.2])))
    t = gaia_losses(x, D(x), x_g, D(x_g), x_i, D(x_i), G.content_code(z))
    for loss, net in ((t["L_D"], D), (t["L_G"], G)):
        params = list(net.parameters())
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        names = [n for n, _ in net.named_parameters()]
        missing = [n for n, g in zip(names, grads) if g is None or not torch.any(g != 0)]
        assert not missing, missing


def test_vae_distribution_and_sampling():
    torch.manual_seed(0)
    model = build_model((1, 32, 24), kind="vae", vae_beta=4.0, **TINY)
    assert isinstance(model, VAE) and model.beta == 4.0
    x = torch.rand(3, 1, 32, 24)
    mu, logvar = model.encode_dist(x)
    assert mu.shape == logvar.shape == (3, model.code_dim)
    torch.testing.assert_close(model.encode(x), mu)
    torch.testing.assert_close(model.reparameterize(mu, torch.full_like(logvar, -200.0)), mu)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    torch.testing.assert_close(model.reparameterize(mu, logvar, g1), model.reparameterize(mu, logvar, g2))
    draws = model.reparameterize(torch.zeros(20000, 2), torch.log(torch.full((20000, 2), 4.0)))
    assert draws.std(0).tolist() == pytest.approx([2.0, 2.0], rel=0.03)
    # the map-code VAE (latent_dim 0) gets its log-variance from a 1×1 conv
    fmap = build_model((1, 32, 24), kind="vae", **{**TINY, "latent_dim": 0})
    mu, logvar = fmap.encode_dist(x)
    assert mu.shape == logvar.shape == (3, fmap.code_dim)


def test_deterministic_init():
    def weights(seed):
        torch.manual_seed(seed)
        return build_model((1, 40, 32), kind="gaia", **TINY).state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_he_init_scale_and_zero_biases():
    torch.manual_seed(0)
    model = build_model((1, 80, 64), kind="ae", size="small")
    conv = model.decoder.res[0].conv1
    fan_in = conv.weight[0].numel()
    assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
    assert conv.weight.abs().max().item() <= 2 * (2 / fan_in) ** 0.5 / 0.8796 + 1e-6     # truncated at 2 sd
    assert all(not m.bias.any() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))


def test_no_weight_init_skips_the_draw_and_a_strict_load_sets_every_weight():
    from gaia_audio.models.blocks import he_init_, no_weight_init

    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 4)
    drawn_by_torch = linear.weight.clone()
    with no_weight_init():
        he_init_(linear)
    assert torch.equal(linear.weight, drawn_by_torch)
    he_init_(linear)  # outside the block the He draw happens again
    assert not torch.equal(linear.weight, drawn_by_torch) and not linear.bias.any()
    trained = build_model((1, 40, 32), kind="gaia", **TINY)
    with no_weight_init():
        loaded = build_model((1, 40, 32), kind="gaia", **TINY)
    loaded.load_state_dict(trained.state_dict())
    x = torch.rand(2, 1, 40, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained(x)) and torch.equal(loaded.discriminator(x), trained.discriminator(x))


def test_build_from_config_dataclass():
    model = build_model((1, 80, 64), **asdict(ModelConfig()))
    assert isinstance(model, GAIA)
    ae = build_model((1, 80, 64), **asdict(ModelConfig(kind="ae", width=16, latent_dim=0)))
    assert isinstance(ae, AE) and ae.content.channels == 64 and ae.content.head is None


def test_paper_preset_parameter_count_on_meta_device():
    with torch.device("meta"):
        model = build_model((3, 128, 128), kind="gaia", size="paper")
    dense = 2 * (32 * 32 * 256 * 512) + 512 + 32 * 32 * 256
    assert dense == pytest.approx(268e6, rel=0.01)
    assert 280e6 < count_parameters(model.generator) < 290e6      # the reference's ~283M
    assert count_parameters(model.generator) - dense < 20e6
    assert model.code_dim == 512 + 512


def test_paper_preset_runs_on_a_small_tile():
    torch.manual_seed(0)
    model = build_model((3, 16, 16), kind="gaia", size="paper")
    x = torch.rand(2, 3, 16, 16)
    assert model(x).shape == x.shape and model.discriminator(x).shape == x.shape
    assert model.generator.content.channels == 256 and model.discriminator.content.channels == 128


def test_small_ae_overfits_a_tiny_batch():
    torch.manual_seed(0)
    model = build_model((1, 32, 32), kind="ae", width=8, n_res=1, style_dim=16, mlp_dim=16, latent_dim=32)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([torch.sin(6 * yy + 3 * k * xx) ** 2 for k in range(4)])[:, None]  # (4, 1, 32, 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = (model(x) - x).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "gan"}, "model.kind"),
    ({"size": "huge"}, "model.size"),
    ({"width": 0}, "model.width"),
    ({"kind": "gaia", "width": 1}, "model.width"),
    ({"n_res": 0}, "model.n_res"),
    ({"latent_dim": -1}, "model.latent_dim"),
    ({"style_dim": 2.5}, "model.style_dim"),
    ({"n_down": 8}, "model.n_down"),
    ({"style_n_down": 9}, "model.style_n_down"),
    ({"kind": "vae", "vae_beta": -1.0}, "model.vae_beta"),
])
def test_bad_settings_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model((1, 80, 64), **kwargs)


def test_bad_tile_shape_is_config_error():
    with pytest.raises(ConfigError):
        build_model((80, 64))
    with pytest.raises(ConfigError):
        build_model((1, 0, 64))


def test_wrong_input_or_code_is_model_error():
    model = build_model((1, 32, 32), kind="gaia", **TINY)
    with pytest.raises(ModelError, match=r"\(batch, 1, 32, 32\)"):
        model.encode(torch.rand(2, 1, 32, 33))
    with pytest.raises(ModelError):
        model.encode(torch.rand(1, 32, 32))
    with pytest.raises(ModelError, match=str(model.code_dim)):
        model.decode(torch.zeros(2, model.code_dim + 1))


@pytest.mark.parametrize("shape", [(3, 11, 8), (2, 4, 5)])
def test_upblock_is_exactly_upsample_then_conv(shape):
    """The sub-pixel form equals nearest ×2 upsampling then the 5×5 conv, values and gradients."""
    from gaia_audio.models.blocks import UpBlock

    torch.manual_seed(0)
    block = UpBlock(shape[0] * 2, shape[0]).double()
    x = torch.randn(2, shape[0] * 2, *shape[1:], dtype=torch.float64, requires_grad=True)
    reference = torch.nn.Sequential(*list(block))  # the same layers, run one after the other
    y, y_ref = block(x), reference(x)
    assert y.shape == (2, shape[0], 2 * shape[1], 2 * shape[2])
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    grads = torch.autograd.grad((y * y_ref.detach()).sum(), [x, block[1].weight, block[1].bias])
    grads_ref = torch.autograd.grad((y_ref * y_ref.detach()).sum(), [x, block[1].weight, block[1].bias])
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-10)
