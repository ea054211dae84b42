"""GAIA's loss terms, sigmoid balancing, latent interpolation and the baselines' losses.

Pure functions of tensors, no state, following the reference GAIA code (Sainburg et al. 2018; the code, where
it differs from the blog post). |·| is the mean absolute error over every element.
"""
from __future__ import annotations

import math

import torch

#: Guards the distance matrices' normalisation when a batch holds identical items.
_DIST_EPS = 1e-12


def mae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over all elements of two tensors of the same shape (a scalar)."""
    return (a - b).abs().mean()


def sample_alphas(n: int, generator: torch.Generator | None = None, mean: float = 0.5, std: float = 0.25,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Interpolation coefficients drawn from N(mean, std²), not clipped (some extrapolate).

    Args:
        n: how many.
        generator: random generator to draw from (its device is where they are drawn).
        mean: mean of the normal.
        std: its standard deviation.
        device: where to put the result (default: the generator's device, else the CPU).
    Returns:
        (n,) float32 coefficients.
    """
    draw_device = generator.device if generator is not None else (device or "cpu")
    alphas = torch.randn(n, generator=generator, device=draw_device) * std + mean
    return alphas if device is None else alphas.to(device)


def interpolate_codes(z: torch.Tensor, alpha1: torch.Tensor, alpha2: torch.Tensor) -> torch.Tensor:
    """One interpolant per batch item between the batch's two halves A and B.

    ``concat(A·α1 + B·(1 − α1), reverse(A)·α2 + B·(1 − α2))``, reversing A along the batch axis.

    Args:
        z: (B, ...) codes, B even.
        alpha1: (B/2,) coefficients of the first half of the result.
        alpha2: (B/2,) coefficients of the second half.
    Returns:
        z_i: (B, ...) interpolated codes.
    Raises:
        ValueError: B is odd, or an alpha has the wrong length.
    """
    if z.shape[0] % 2:
        raise ValueError(f"interpolation needs an even batch, got {z.shape[0]} codes")
    half = z.shape[0] // 2
    for name, alpha in (("alpha1", alpha1), ("alpha2", alpha2)):
        if alpha.shape != (half,):
            raise ValueError(f"{name} must have shape ({half},), got {tuple(alpha.shape)}")
    view = (half,) + (1,) * (z.dim() - 1)
    a, b = z[:half], z[half:]
    alpha1, alpha2 = alpha1.to(z).reshape(view), alpha2.to(z).reshape(view)
    return torch.cat([a * alpha1 + b * (1 - alpha1), a.flip(0) * alpha2 + b * (1 - alpha2)], dim=0)


def sigmoid_balance(u: torch.Tensor | float, k: float = 20.0) -> torch.Tensor | float:
    """Sigmoid balancing ``1 / (1 + exp(−k·u))`` (a tensor for a tensor, a float for a float)."""
    if isinstance(u, torch.Tensor):
        return torch.sigmoid(k * u)
    x = -k * float(u)
    return 0.0 if x > 700 else 1.0 / (1.0 + math.exp(x))


def _scaled_square_distances(a: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """(B, ...) → (B, B): mean over features of (a_i − a_j)², divided by the matrix's own mean."""
    a = a.flatten(1)
    rows = [(a[i:i + chunk, None, :] - a[None, :, :]).pow(2).mean(-1) for i in range(0, a.shape[0], chunk)]
    d = torch.cat(rows, dim=0)
    return d / d.mean().clamp_min(_DIST_EPS)


def distance_loss(x: torch.Tensor, z_c: torch.Tensor) -> torch.Tensor:
    """GAIA's distance loss: the content code should keep the batch's relative pairwise distances.

    With sd(A)[i, j] the mean over features of (A_i − A_j)², divided by the mean of that B×B matrix
    (diagonal included), ``L = mean_ij (ln(1 + sd(x)) − ln(1 + sd(z_c)))²``. An all-identical batch
    gives sd = 0 rather than a division by zero.

    Args:
        x: (B, ...) inputs.
        z_c: (B, ...) their content codes.
    Returns:
        Scalar loss.
    """
    if x.shape[0] != z_c.shape[0]:
        raise ValueError(f"x and z_c must have the same batch size, got {x.shape[0]} and {z_c.shape[0]}")
    return (torch.log1p(_scaled_square_distances(x)) - torch.log1p(_scaled_square_distances(z_c))).pow(2).mean()


def balance_terms(err_real: torch.Tensor, err_reconstruction: torch.Tensor, err_interpolation: torch.Tensor,
                  l_dist: torch.Tensor, lr_max: float = 1e-4, distance_weight: float = 5e-5) -> dict[str, torch.Tensor]:
    """All of GAIA's loss terms for one step, with sigmoid balancing, from the discriminator's errors.

    Takes the mean errors rather than the tensors so that a data-parallel step can average each
    over processes first: sigmoid balancing is nonlinear in them, so it must see the global
    batch's means.

    Args:
        err_real: Lr = |x − D(x)|, the discriminator's error on real tiles.
        err_reconstruction: Lfr = |x − D(G(x))|, its error on the generator's reconstructions.
        err_interpolation: Lfs = |G(z_i) − D(G(z_i))|, its error on decoded interpolations.
        l_dist: the distance loss (:func:`distance_loss`).
        lr_max: the learning-rate ceiling that sigmoid balancing scales.
        distance_weight: w, the distance loss's weight in L_G.
    Returns:
        Scalar tensors: Lr, Lfr, Lfs, Lf = (Lfs + Lfr)/2, L_dist, pD = clip(s(Lfs/2 − Lr), 0, 0.9),
        pG = clip(s(Lfs − Lfr), 0, 1), L_D = clip(Lr − pD·Lf, −1, 1),
        L_G = clip(pG·Lfs + (1 − pG)·Lfr + w·L_dist, −1, 1) (pD, pG not detached), and the
        learning rates lr_D = s(Lr − Lf)·lr_max, lr_G = (1 − s(Lr − Lf))·lr_max (detached), where s
        is :func:`sigmoid_balance`.
    """
    err_fake = (err_interpolation + err_reconstruction) / 2                        # Lf
    balance = sigmoid_balance(err_real - err_fake).detach()
    p_d = sigmoid_balance(0.5 * err_interpolation - err_real).clamp(0.0, 0.9)
    p_g = sigmoid_balance(err_interpolation - err_reconstruction).clamp(0.0, 1.0)
    loss_g = p_g * err_interpolation + (1 - p_g) * err_reconstruction + distance_weight * l_dist
    return {
        "Lr": err_real, "Lfr": err_reconstruction, "Lfs": err_interpolation, "Lf": err_fake, "L_dist": l_dist,
        "pD": p_d, "pG": p_g, "L_D": (err_real - p_d * err_fake).clamp(-1.0, 1.0), "L_G": loss_g.clamp(-1.0, 1.0),
        "lr_D": balance * lr_max, "lr_G": (1 - balance) * lr_max,
    }


def ae_loss(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, torch.Tensor]:
    """The AE baseline's loss: mean absolute error, as GAIA's reconstruction terms use.

    Args:
        x: (B, C, H, W) tiles.
        x_hat: (B, C, H, W) reconstructions.
    Returns:
        {"loss": |x − x_hat|}.
    """
    return {"loss": mae(x, x_hat)}


def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0) -> dict[str, torch.Tensor]:
    """The (β-)VAE baseline's loss: MAE reconstruction (a Laplace likelihood) plus β·KL, both per element.

    ``recon = mean |x − x_hat|``; ``kl = mean over items and code entries of
    −(1 + logvar − mu² − exp(logvar))/2``, the KL divergence of N(mu, exp(logvar)) from N(0, 1).

    Args:
        x: (B, C, H, W) tiles.
        x_hat: (B, C, H, W) reconstructions from sampled codes.
        mu: (B, D) posterior means.
        logvar: (B, D) posterior log-variances.
        beta: weight of the KL term.
    Returns:
        {"loss": recon + beta·kl, "recon": recon, "kl": kl}.
    """
    recon = mae(x, x_hat)
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}
