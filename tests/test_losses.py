"""Loss terms against values computed by hand on tiny tensors, clipping, gradients, loss(x, x) = 0."""
from __future__ import annotations

import math

import pytest
import torch

from gaia_audio.training.losses import (
    ae_loss,
    balance_terms,
    distance_loss,
    interpolate_codes,
    mae,
    sample_alphas,
    sigmoid_balance,
    vae_loss,
)

KEYS = {"Lr", "Lfr", "Lfs", "Lf", "L_dist", "pD", "pG", "L_D", "L_G", "lr_D", "lr_G"}


def gaia_losses(x, x_d, x_g, x_gd, x_i, x_id, z_c, lr_max=1e-4, distance_weight=5e-5):
    """GAIA's terms from one step's tensors, as GAIAObjective.terms computes them (x_g enters through x_gd)."""
    return balance_terms(mae(x, x_d), mae(x, x_gd), mae(x_i, x_id), distance_loss(x, z_c), lr_max, distance_weight)


def full(value: float, shape=(2, 1, 2, 3), dtype=torch.float32) -> torch.Tensor:
    return torch.full(shape, float(value), dtype=dtype)


def num(value) -> float:
    """A loss term as a float (detached first: some carry gradients)."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def s(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-20.0 * u))


def test_mae_by_hand():
    assert mae(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])).item() == pytest.approx(1.0)
    x = torch.rand(3, 4)
    assert mae(x, x).item() == 0.0


def test_sample_alphas_reproducible_unclipped_and_distributed():
    a = sample_alphas(4, torch.Generator().manual_seed(3))
    b = sample_alphas(4, torch.Generator().manual_seed(3))
    assert a.shape == (4,) and torch.equal(a, b)
    many = sample_alphas(40000, torch.Generator().manual_seed(0))
    assert many.mean().item() == pytest.approx(0.5, abs=0.01)
    assert many.std().item() == pytest.approx(0.25, abs=0.01)
    assert (many < 0).any() and (many > 1).any()  # extrapolation is kept
    other = sample_alphas(10000, torch.Generator().manual_seed(1), mean=2.0, std=0.1)
    assert other.mean().item() == pytest.approx(2.0, abs=0.01)


def test_interpolate_codes_by_hand():
    z = torch.tensor([[0.0, 0.0], [1.0, 2.0], [10.0, 20.0], [30.0, 40.0]])
    # A = rows 0, 1; B = rows 2, 3; reverse(A) = rows 1, 0
    out = interpolate_codes(z, torch.tensor([0.5, 0.25]), torch.tensor([1.0, 0.0]))
    expected = torch.tensor([[5.0, 10.0],            # 0.5·A0 + 0.5·B0
                             [22.75, 30.5],          # 0.25·A1 + 0.75·B1
                             [1.0, 2.0],             # 1·A1 + 0·B0
                             [30.0, 40.0]])          # 0·A0 + 1·B1
    torch.testing.assert_close(out, expected)


def test_interpolate_codes_extrapolates_and_keeps_shape():
    z = torch.randn(6, 3, 2, 2)
    alpha = torch.tensor([1.5, -0.5, 0.0])
    out = interpolate_codes(z, alpha, alpha)
    assert out.shape == z.shape
    a, b = z[:3], z[3:]
    torch.testing.assert_close(out[0], 1.5 * a[0] - 0.5 * b[0])
    torch.testing.assert_close(out[4], -0.5 * a.flip(0)[1] + 1.5 * b[1])
    torch.testing.assert_close(out[2], b[2])


@pytest.mark.parametrize("batch", [1, 3, 5])
def test_interpolate_codes_rejects_odd_batch(batch):
    with pytest.raises(ValueError, match="even"):
        interpolate_codes(torch.zeros(batch, 2), torch.zeros(batch // 2), torch.zeros(batch // 2))


def test_interpolate_codes_rejects_wrong_alpha_length():
    with pytest.raises(ValueError, match="alpha2"):
        interpolate_codes(torch.zeros(4, 2), torch.zeros(2), torch.zeros(3))


def test_sigmoid_balance_values():
    assert sigmoid_balance(0.0) == 0.5
    assert sigmoid_balance(0.05) == pytest.approx(1 / (1 + math.exp(-1)))       # 0.7310585786
    assert sigmoid_balance(-0.05) == pytest.approx(0.2689414214)
    assert sigmoid_balance(0.1, k=10.0) == pytest.approx(1 / (1 + math.exp(-1)))
    assert sigmoid_balance(-100.0) == 0.0 and sigmoid_balance(100.0) == 1.0    # no overflow
    t = sigmoid_balance(torch.tensor([0.0, 0.05, -0.05]))
    torch.testing.assert_close(t, torch.tensor([0.5, 0.7310585786, 0.2689414214]))


def test_distance_loss_by_hand():
    x = torch.tensor([[0.0], [1.0], [3.0]])                     # (3 items, 1 feature)
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])     # (3 items, 2 features)
    dx = [[0, 1, 9], [1, 0, 4], [9, 4, 0]]                      # mean squared differences
    dz = [[0, 1, 2], [1, 0, 1], [2, 1, 0]]                      # ((1+1)/2, (4+0)/2, (1+1)/2)
    mx, mz = 28 / 9, 8 / 9                                      # the matrices' means (diagonal included)
    expected = sum((math.log(1 + dx[i][j] / mx) - math.log(1 + dz[i][j] / mz)) ** 2
                   for i in range(3) for j in range(3)) / 9
    assert distance_loss(x, z).item() == pytest.approx(expected, rel=1e-5)


def test_distance_loss_invariances_and_zero():
    x = torch.rand(6, 1, 4, 5)
    assert distance_loss(x, x).item() == pytest.approx(0.0, abs=1e-7)
    # normalising by the mean makes it blind to scale and offset of either side
    assert distance_loss(x, 3.0 * x.flatten(1) + 7.0).item() == pytest.approx(0.0, abs=1e-6)
    z = torch.randn(6, 8)
    assert distance_loss(x, z).item() == pytest.approx(distance_loss(10 * x, z).item(), rel=1e-5)
    assert distance_loss(x, z).item() > 0


def test_distance_loss_identical_batch_is_finite_with_gradient():
    x = torch.ones(4, 3)
    z = torch.ones(4, 2, requires_grad=True)
    loss = distance_loss(x, z)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(z.grad).all()
    z2 = torch.randn(4, 2, requires_grad=True)
    loss2 = distance_loss(x, z2)           # sd(x) = 0 everywhere: L = mean(ln(1 + sd(z))²)
    assert math.isfinite(loss2.item()) and loss2.item() > 0
    loss2.backward()
    assert torch.isfinite(z2.grad).all()


def test_distance_loss_rejects_batch_mismatch():
    with pytest.raises(ValueError):
        distance_loss(torch.zeros(4, 2), torch.zeros(3, 2))


def test_gaia_losses_by_hand():
    x = full(0.0)
    terms = gaia_losses(x, x_d=full(0.1), x_g=full(0.9), x_gd=full(0.3), x_i=full(0.5), x_id=full(0.7),
                        z_c=x.flatten(1), lr_max=1e-4, distance_weight=5e-5)
    assert set(terms) == KEYS
    lr, lfr, lfs = 0.1, 0.3, 0.2
    lf = (lfs + lfr) / 2
    p_d = s(0.5 * lfs - lr)                      # s(0) = 0.5
    p_g = s(lfs - lfr)
    expected = {"Lr": lr, "Lfr": lfr, "Lfs": lfs, "Lf": lf, "L_dist": 0.0, "pD": p_d, "pG": p_g,
                "L_D": lr - p_d * lf, "L_G": p_g * lfs + (1 - p_g) * lfr,
                "lr_D": s(lr - lf) * 1e-4, "lr_G": (1 - s(lr - lf)) * 1e-4}
    for key, value in expected.items():
        assert num(terms[key]) == pytest.approx(value, rel=1e-5, abs=1e-9), key
    assert num(terms["lr_D"]) + num(terms["lr_G"]) == pytest.approx(1e-4)


def test_gaia_losses_distance_term_enters_l_g():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 3, 3)
    z_c = torch.randn(4, 5)
    t = gaia_losses(x, x, x, x, x, x, z_c, distance_weight=0.5)
    assert num(t["L_dist"]) == pytest.approx(float(distance_loss(x, z_c)))
    assert num(t["L_G"]) == pytest.approx(0.5 * num(t["L_dist"]))


def test_gaia_losses_clipping():
    x = full(0.0)
    # pD = s(0.5·0.5 − 0) = s(0.25) ≈ 0.993 → clipped to 0.9; L_D = 0 − 0.9·Lf
    t = gaia_losses(x, x_d=x, x_g=x, x_gd=full(0.5), x_i=full(0.0), x_id=full(0.5), z_c=x.flatten(1))
    assert num(t["pD"]) == pytest.approx(0.9)
    assert num(t["L_D"]) == pytest.approx(-0.9 * 0.5)
    # L_D = Lr − 0.9·5 < −1 → −1 (with zero gradient); L_G = 5 > 1 → 1
    x_d = full(0.0).requires_grad_()
    x_gd = full(5.0).requires_grad_()
    t = gaia_losses(x, x_d=x_d, x_g=x, x_gd=x_gd, x_i=full(0.0), x_id=full(5.0), z_c=x.flatten(1))
    assert num(t["L_D"]) == -1.0 and num(t["L_G"]) == 1.0
    grad_d, grad_g = torch.autograd.grad(t["L_D"] + t["L_G"], [x_d, x_gd])
    assert (grad_d == 0).all() and (grad_g == 0).all()
    # L_G below −1 needs a negative distance weight; the clip holds there too
    t = gaia_losses(x, x, x, x, x, x, torch.randn(4, 3)[:2], distance_weight=-1e6)
    assert num(t["L_G"]) == -1.0
    # pG stays within [0, 1] at the sigmoid's extremes
    for a, b in ((5.0, 0.0), (0.0, 5.0)):
        t = gaia_losses(x, x, x, x_gd=full(b), x_i=full(0.0), x_id=full(a), z_c=x.flatten(1))
        assert 0.0 <= num(t["pG"]) <= 1.0


def test_gaia_losses_balance_weights_are_not_detached():
    torch.manual_seed(0)
    shape = (4, 1, 2, 3)
    x = torch.rand(shape, dtype=torch.float64)
    base = [x + 0.3 * torch.randn(shape, dtype=torch.float64) for _ in range(3)]
    x_i = torch.rand(shape, dtype=torch.float64)
    x_id = x_i + 0.2 * torch.randn(shape, dtype=torch.float64)
    z_c = torch.randn(4, 3, dtype=torch.float64)
    inputs = [t.clone().requires_grad_() for t in (base[0], base[1], x_i, x_id)]

    def losses(x_d, x_gd, xi, xid):
        t = gaia_losses(x, x_d, base[2], x_gd, xi, xid, z_c)
        assert 0 < num(t["pD"]) < 0.9 and abs(num(t["L_D"])) < 1 and abs(num(t["L_G"])) < 1
        return t["L_D"], t["L_G"]

    t = gaia_losses(x, *inputs[:1], base[2], *inputs[1:], z_c)
    assert t["pD"].requires_grad and t["pG"].requires_grad
    assert not t["lr_D"].requires_grad and not t["lr_G"].requires_grad
    # gradcheck compares autograd with finite differences: a detached pD or pG would fail it
    assert torch.autograd.gradcheck(losses, inputs)
    # and pD's own derivative is part of L_D's gradient (differs from the detached version)
    p_d_fixed = num(t["pD"])
    detached = (mae(x, inputs[0]) - p_d_fixed * t["Lf"])
    g_full = torch.autograd.grad(t["L_D"], inputs[3], retain_graph=True)[0]
    g_detached = torch.autograd.grad(detached, inputs[3])[0]
    assert not torch.allclose(g_full, g_detached)


def test_gaia_losses_zero_when_everything_reconstructs():
    x = torch.rand(4, 1, 5, 6)
    t = gaia_losses(x, x, x, x, x, x, z_c=x.flatten(1))
    for key in ("Lr", "Lfr", "Lfs", "Lf", "L_dist", "L_D", "L_G"):
        assert num(t[key]) == pytest.approx(0.0, abs=1e-7), key


def test_ae_loss():
    x = torch.rand(2, 1, 4, 4)
    assert num(ae_loss(x, x)["loss"]) == 0.0
    assert num(ae_loss(x, x + 0.25)["loss"]) == pytest.approx(0.25)


def test_vae_loss_by_hand():
    x = torch.rand(2, 1, 4, 4)
    zero = torch.zeros(2, 3)
    out = vae_loss(x, x, zero, zero, beta=1.0)
    assert set(out) == {"loss", "recon", "kl"}
    assert num(out["loss"]) == 0.0                            # N(0, 1) posterior, perfect recon
    # KL per element: mu = 1, logvar = 0 → 0.5; mu = 0, logvar = ln 2 → (1 − ln 2)/2
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    out = vae_loss(x, x + 0.1, mu, logvar, beta=2.0)
    kl = (0.5 + 0.5 * (1 - math.log(2))) / 2
    assert num(out["kl"]) == pytest.approx(kl, rel=1e-5)
    assert num(out["recon"]) == pytest.approx(0.1, rel=1e-5)
    assert num(out["loss"]) == pytest.approx(0.1 + 2.0 * kl, rel=1e-5)
