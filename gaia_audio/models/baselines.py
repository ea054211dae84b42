"""Baselines that share GAIA's generator: a plain autoencoder and a (β-)VAE.

Both use the generator's encoder and decoder classes (:class:`~gaia_audio.models.gaia.AutoEncoder`)
so that a comparison with GAIA changes the training objective only, not the network. They expose
the same API as GAIA (``encode``, ``decode``, ``content_code``, ``forward``, ``in_shape``,
``code_dim``, ``kind``); the VAE adds ``encode_dist`` and ``reparameterize``.
"""
from __future__ import annotations

import torch

from gaia_audio.models.gaia import AutoEncoder


class AE(AutoEncoder):
    """GAIA's generator trained alone on reconstruction (``losses.ae_loss``).

    Takes the arguments of :class:`~gaia_audio.models.gaia.AutoEncoder` except ``n_heads``.
    """

    kind = "ae"

    def __init__(self, in_shape: tuple[int, int, int], width: int, n_down: int, n_res: int, style_n_down: int,
                 style_dim: int, mlp_dim: int, latent_dim: int):
        super().__init__(in_shape, width, n_down, n_res, style_n_down, style_dim, mlp_dim, latent_dim, n_heads=1)


class VAE(AutoEncoder):
    """GAIA's generator as a VAE: the encoders output a mean and a log-variance for every code entry.

    The code is the same flat ``concat(z_c, z_s)`` as GAIA's, with a diagonal Gaussian posterior
    over it. ``encode`` (and so ``forward``) use the mean, deterministically; training samples with
    :meth:`reparameterize`.

    Args:
        in_shape, width, n_down, n_res, style_n_down, style_dim, mlp_dim, latent_dim: as for
            :class:`~gaia_audio.models.gaia.AutoEncoder`.
        beta: the KL weight the recipe trains with (stored for reference; ``losses.vae_loss`` takes it).
    """

    kind = "vae"

    def __init__(self, in_shape: tuple[int, int, int], width: int, n_down: int, n_res: int, style_n_down: int,
                 style_dim: int, mlp_dim: int, latent_dim: int, beta: float = 1.0):
        super().__init__(in_shape, width, n_down, n_res, style_n_down, style_dim, mlp_dim, latent_dim, n_heads=2)
        self.beta = float(beta)

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior of each tile.

        Args:
            x: (B, C, H, W) tiles in [0, 1].
        Returns:
            (mu, logvar), each (B, code_dim), ordered like the flat code (content, then style).
        """
        content, style = self._encode_heads(x)
        mu_c, logvar_c = content.chunk(2, dim=1)
        mu_s, logvar_s = style.chunk(2, dim=1)
        return torch.cat([mu_c, mu_s], dim=1), torch.cat([logvar_c, logvar_s], dim=1)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                       eps: torch.Tensor | None = None) -> torch.Tensor:
        """Sample ``mu + exp(logvar / 2)·ε`` with ε ~ N(0, 1), differentiably.

        Args:
            mu: (B, code_dim) means.
            logvar: (B, code_dim) log-variances.
            generator: optional random generator on ``mu``'s device, for reproducible draws.
            eps: (B, code_dim) the noise itself, drawn by the caller (then ``generator`` is unused).
        Returns:
            (B, code_dim) samples.
        """
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps
