"""GAIA and its baselines, built from a size preset plus overrides (``build_model``).

``build_model(tile_shape, **dataclasses.asdict(config.model))`` gives a model with the common API:
``encode(x) -> z``, ``decode(z) -> x_hat``, ``content_code(z)``, ``forward(x)``, ``reconstructions(x)``,
``realism_error(x)``, ``in_shape``, ``code_dim``, ``kind``.
"""
from __future__ import annotations

import torch
from torch import nn

from gaia_audio.config import model_sizes
from gaia_audio.errors import ConfigError
from gaia_audio.models.baselines import AE, VAE
from gaia_audio.models.gaia import GAIA, AutoEncoder

__all__ = ["AE", "VAE", "GAIA", "AutoEncoder", "SIZE_PRESETS", "build_model", "count_parameters", "decode_line"]

#: Network settings per size, {size: {width, n_down, ...}}: read from
#: ``gaia_audio/recipes/presets/model/<size>.yaml`` ("paper": the reference networks; "small": for
#: CPUs and small datasets, with its measured cost there).
SIZE_PRESETS: dict[str, dict[str, int]] = model_sizes()

KINDS = ("gaia", "ae", "vae")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"model.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def build_model(in_shape: tuple[int, int, int], kind: str = "gaia", size: str = "small", width: int | None = None,
                n_down: int | None = None, n_res: int | None = None, style_n_down: int | None = None,
                style_dim: int | None = None, mlp_dim: int | None = None, latent_dim: int | None = None,
                vae_beta: float | None = 1.0) -> nn.Module:
    """Build GAIA, the AE or the VAE for tiles of one shape.

    Args:
        in_shape: (C, H, W) of the tiles, e.g. (1, n_freq, n_frames) or (3, 64, 64).
        kind: "gaia" | "ae" | "vae".
        size: "paper" | "small": the preset that every None setting is taken from.
        width: base channels of the generator (the discriminator has half).
        n_down: stride-2 downsamplings on the content path.
        n_res: residual blocks in the content encoder and the decoder (>= 1).
        style_n_down: stride-2 downsamplings on the style path.
        style_dim: style code size.
        mlp_dim: hidden width of the AdaIN MLP.
        latent_dim: dense content code size; 0 keeps the content feature map as the code.
        vae_beta: KL weight of the VAE (None = 1.0).
    Returns:
        A :class:`GAIA`, :class:`AE` or :class:`VAE` module (randomly initialised from torch's RNG).
    Raises:
        ConfigError: an unknown kind or size, or a setting out of range.
    """
    if kind not in KINDS:
        raise ConfigError(f"model.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if size not in SIZE_PRESETS:
        raise ConfigError(f"model.size must be one of {', '.join(SIZE_PRESETS)}, got {size!r}")
    if len(tuple(in_shape)) != 3:
        raise ConfigError(f"tile shape must be (channels, height, width), got {tuple(in_shape)}")
    for i, v in enumerate(in_shape):
        _check_int(f"tile shape[{i}]", v, 1)
    given = {"width": width, "n_down": n_down, "n_res": n_res, "style_n_down": style_n_down,
             "style_dim": style_dim, "mlp_dim": mlp_dim, "latent_dim": latent_dim}
    settings = {k: (SIZE_PRESETS[size][k] if v is None else v) for k, v in given.items()}
    minimum = {"width": 2 if kind == "gaia" else 1, "n_down": 0, "n_res": 1, "style_n_down": 0,
               "style_dim": 1, "mlp_dim": 1, "latent_dim": 0}
    for name, value in settings.items():
        _check_int(name, value, minimum[name])
    _, height, width_px = in_shape
    if 2 ** settings["n_down"] > max(height, width_px):
        raise ConfigError(f"model.n_down={settings['n_down']} halves a {height}×{width_px} tile below one pixel")
    if 2 ** settings["style_n_down"] > max(height, width_px):
        raise ConfigError(f"model.style_n_down={settings['style_n_down']} halves a {height}×{width_px} tile "
                          "below one pixel")
    if kind == "gaia":
        return GAIA(tuple(in_shape), **settings)
    if kind == "ae":
        return AE(tuple(in_shape), **settings)
    beta = 1.0 if vae_beta is None else vae_beta
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise ConfigError(f"model.vae_beta must be a number >= 0, got {vae_beta!r}")
    return VAE(tuple(in_shape), **settings, beta=float(beta))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``model`` (works on the meta device, without allocating)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def decode_line(model: nn.Module, a: torch.Tensor, b: torch.Tensor, n: int = 8) -> torch.Tensor:
    """Decode ``n`` evenly spaced points on the latent line from tile ``a`` to tile ``b``.

    Args:
        model: any model kind (``encode``/``decode``).
        a, b: (C, H, W) tiles.
        n: points, endpoints included.
    Returns:
        (n, C, H, W) decoded tiles.
    """
    z = model.encode(torch.stack([a, b]))                       # (2, code_dim)
    alpha = torch.linspace(0, 1, n, device=z.device)[:, None]   # (n, 1)
    return model.decode((1 - alpha) * z[:1] + alpha * z[1:])
