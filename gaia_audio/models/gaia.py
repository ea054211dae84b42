"""GAIA's networks: a MUNIT-style autoencoder used as generator and (at half width) as discriminator.

An :class:`AutoEncoder` splits a tile into a content code z_c (a feature map, optionally squeezed
through a dense layer) and a style code z_s (pooled), and decodes them with AdaIN residual blocks
whose scales and biases come from z_s. Its public code is ONE flat vector per item,
``concat(flatten(z_c), z_s)``, so interpolation, attribute vectors and embeddings all act on the
same code. Any (C, H, W) works: inputs are padded internally (bottom/right, edge replication) to a
multiple of the total stride and outputs are cropped back. Activations and conv weights use the
channels-last layout (faster on CPU and GPU; values are unaffected). Widths and blocks follow
the reference GAIA code (Sainburg et al. 2018).
"""
from __future__ import annotations

import torch
from torch import nn

from gaia_audio.errors import ModelError
from gaia_audio.models.blocks import MLP, AdaResBlock, ConvReLU, ResBlock, UpBlock, conv, he_init_, pad_to, padded_size

#: Layout of activations and conv weights. NHWC is what oneDNN (CPU) and cuDNN (tensor cores)
#: convolve fastest: ~20% less time per CPU training step than NCHW (benchmarks/train_throughput.py).
MEMORY_FORMAT = torch.channels_last


class ContentEncoder(nn.Module):
    """7×7 conv → width, ``n_down`` stride-2 4×4 convs doubling channels, ``n_res`` residual blocks, dense.

    With ``latent_dim == 0`` the code is the flattened feature map itself. ``n_heads`` > 1 makes the
    last layer output that many codes side by side (the VAE's mean and log-variance).
    """

    def __init__(self, in_channels: int, width: int, n_down: int, n_res: int, map_shape: tuple[int, int],
                 latent_dim: int, n_heads: int = 1):
        super().__init__()
        layers: list[nn.Module] = [ConvReLU(in_channels, width, 7, padding_mode="reflect")]
        channels = width
        for _ in range(n_down):
            layers.append(ConvReLU(channels, 2 * channels, 4, stride=2))
            channels *= 2
        layers += [ResBlock(channels) for _ in range(n_res)]
        self.body = nn.Sequential(*layers)
        self.channels, self.map_shape = channels, tuple(map_shape)
        map_size = channels * map_shape[0] * map_shape[1]
        self.out_dim = latent_dim if latent_dim > 0 else map_size  # per head
        if latent_dim > 0:
            self.head: nn.Module | None = nn.Linear(map_size, n_heads * latent_dim)
        elif n_heads > 1:
            self.head = nn.Conv2d(channels, n_heads * channels, 1)
        else:
            self.head = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, Hp, Wp) padded tiles → (B, n_heads·out_dim) content codes (head-major)."""
        h = self.body(x)                                     # (B, channels, h, w)
        if isinstance(self.head, nn.Conv2d):
            h = self.head(h)
        h = h.flatten(1)
        return self.head(h) if isinstance(self.head, nn.Linear) else h


class StyleEncoder(nn.Module):
    """7×7 conv → width, ``n_down`` stride-2 4×4 convs (channels double up to 4·width), pool, 1×1 conv."""

    def __init__(self, in_channels: int, width: int, n_down: int, style_dim: int, n_heads: int = 1):
        super().__init__()
        layers: list[nn.Module] = [ConvReLU(in_channels, width, 7, padding_mode="reflect")]
        channels = width
        for _ in range(n_down):
            out = min(2 * channels, 4 * width)
            layers.append(ConvReLU(channels, out, 4, stride=2))
            channels = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, n_heads * style_dim, 1)
        self.min_size = max(2 ** n_down, 4)  # reflect padding needs 4; each stride-2 conv needs 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, Hp, Wp) → (B, n_heads·style_dim) style codes."""
        x = pad_to(x, max(x.shape[-2], self.min_size), max(x.shape[-1], self.min_size))
        h = self.body(x).mean(dim=(2, 3), keepdim=True)     # (B, channels, 1, 1)
        return self.head(h).flatten(1)


class Decoder(nn.Module):
    """Dense z_c → feature map; AdaIN residual blocks styled by an MLP on z_s; upsampling; 7×7 conv, sigmoid."""

    def __init__(self, out_channels: int, channels: int, n_down: int, n_res: int, map_shape: tuple[int, int],
                 latent_dim: int, style_dim: int, mlp_dim: int):
        super().__init__()
        self.channels, self.map_shape = channels, tuple(map_shape)
        map_size = channels * map_shape[0] * map_shape[1]
        self.dense = nn.Linear(latent_dim, map_size) if latent_dim > 0 else None
        self.res = nn.ModuleList(AdaResBlock(channels) for _ in range(n_res))
        self.n_adain = [block.n_params() for block in self.res]
        self.mlp = MLP(style_dim, mlp_dim, sum(self.n_adain), n_hidden=2)
        ups: list[nn.Module] = []
        for _ in range(n_down):
            ups.append(UpBlock(channels, channels // 2))
            channels //= 2
        self.up = nn.Sequential(*ups)
        self.out = conv(channels, out_channels, 7)

    def forward(self, z_c: torch.Tensor, z_s: torch.Tensor) -> torch.Tensor:
        """z_c (B, content_dim), z_s (B, style_dim) → (B, out_channels, Hp, Wp) in [0, 1]."""
        h = self.dense(z_c) if self.dense is not None else z_c
        h = h.reshape(h.shape[0], self.channels, *self.map_shape)  # (B, channels, h, w)
        h = h.contiguous(memory_format=MEMORY_FORMAT)
        for block, params in zip(self.res, self.mlp(z_s).split(self.n_adain, dim=1)):
            h = block(h, params)
        return torch.sigmoid(self.out(self.up(h)))


class AutoEncoder(nn.Module):
    """GAIA's autoencoder (the generator; at half width without dense layer, the discriminator).

    Args:
        in_shape: (C, H, W) of the tiles it takes.
        width: channels of the first conv; the content path ends at ``width·2**n_down``.
        n_down: stride-2 downsamplings of the content path (the decoder upsamples as often).
        n_res: residual blocks in the content encoder and in the decoder (at least 1).
        style_n_down: stride-2 downsamplings of the style path.
        style_dim: size of the style code z_s.
        mlp_dim: hidden width of the MLP that turns z_s into AdaIN parameters.
        latent_dim: size of the dense content code z_c; 0 keeps the feature map as the code.
        n_heads: codes per item the encoders output (2 for a VAE's mean and log-variance).
    """

    kind = "ae"

    def __init__(self, in_shape: tuple[int, int, int], width: int, n_down: int, n_res: int, style_n_down: int,
                 style_dim: int, mlp_dim: int, latent_dim: int, n_heads: int = 1):
        super().__init__()
        channels_in, height, width_px = (int(v) for v in in_shape)
        self.in_shape = (channels_in, height, width_px)
        stride = 2 ** n_down
        self.padded_shape = (padded_size(height, stride), padded_size(width_px, stride))
        map_shape = (self.padded_shape[0] // stride, self.padded_shape[1] // stride)
        self.content = ContentEncoder(channels_in, width, n_down, n_res, map_shape, latent_dim, n_heads)
        self.style = StyleEncoder(channels_in, width, style_n_down, style_dim, n_heads)
        self.decoder = Decoder(channels_in, self.content.channels, n_down, n_res, map_shape, latent_dim,
                               style_dim, mlp_dim)
        self.n_heads = n_heads
        self.content_dim = self.content.out_dim
        self.style_dim = style_dim
        self.code_dim = self.content_dim + style_dim
        he_init_(self)
        self.to(memory_format=MEMORY_FORMAT)

    def _check_tiles(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ModelError(f"input of shape {tuple(x.shape)} does not fit this model, which takes "
                             f"(batch, {', '.join(map(str, self.in_shape))}) tiles")

    def _encode_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) → content (B, n_heads·content_dim) and style (B, n_heads·style_dim) outputs."""
        self._check_tiles(x)
        x = pad_to(x, *self.padded_shape).contiguous(memory_format=MEMORY_FORMAT)
        return self.content(x), self.style(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Tiles to flat codes.

        Args:
            x: (B, C, H, W) tiles in [0, 1].
        Returns:
            z: (B, code_dim) = concat(flattened content code z_c, style code z_s).
        """
        content, style = self._encode_heads(x)
        return torch.cat([content[:, :self.content_dim], style[:, :self.style_dim]], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Flat codes to tiles.

        Args:
            z: (B, code_dim) codes.
        Returns:
            x_hat: (B, C, H, W) in [0, 1].
        """
        if z.dim() != 2 or z.shape[1] != self.code_dim:
            raise ModelError(f"code of shape {tuple(z.shape)} does not fit this model, which takes "
                             f"(batch, {self.code_dim}) codes")
        x_hat = self.decoder(self.content_code(z), self.style_code(z))     # (B, C, Hp, Wp)
        if x_hat.shape[-2:] != self.in_shape[1:]:
            x_hat = x_hat[..., :self.in_shape[1], :self.in_shape[2]].contiguous()
        return x_hat

    def content_code(self, z: torch.Tensor) -> torch.Tensor:
        """The content part z_c (B, content_dim) of flat codes z (B, code_dim)."""
        return z[:, :self.content_dim]

    def style_code(self, z: torch.Tensor) -> torch.Tensor:
        """The style part z_s (B, style_dim) of flat codes z (B, code_dim)."""
        return z[:, self.content_dim:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct: (B, C, H, W) → decode(encode(x)) (B, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x))

    def reconstructions(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """The rows of a reconstruction figure: [("x", x), ("G(x)", G(x))], each (B, C, H, W)."""
        return [("x", x), ("G(x)", self(x))]

    def realism_error(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per tile error of a discriminator on ``x``; None: an autoencoder alone has none."""
        return None


class GAIA(nn.Module):
    """GAIA: a generator autoencoder and a half-width discriminator autoencoder without dense bottleneck.

    ``encode``, ``decode``, ``content_code`` and ``forward`` are the generator's; the trainer builds
    one optimizer from ``generator.parameters()`` and one from ``discriminator.parameters()``.

    Args:
        in_shape: (C, H, W) of the tiles.
        width, n_down, n_res, style_n_down, style_dim, mlp_dim, latent_dim: the generator's settings
            (see :class:`AutoEncoder`); the discriminator uses ``max(width // 2, 1)`` and ``latent_dim=0``.
    """

    kind = "gaia"

    def __init__(self, in_shape: tuple[int, int, int], width: int, n_down: int, n_res: int, style_n_down: int,
                 style_dim: int, mlp_dim: int, latent_dim: int):
        super().__init__()
        self.generator = AutoEncoder(in_shape, width, n_down, n_res, style_n_down, style_dim, mlp_dim, latent_dim)
        self.discriminator = AutoEncoder(in_shape, max(width // 2, 1), n_down, n_res, style_n_down, style_dim,
                                         mlp_dim, latent_dim=0)
        self.in_shape = self.generator.in_shape
        self.code_dim = self.generator.code_dim
        self.content_dim = self.generator.content_dim
        self.style_dim = self.generator.style_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → the generator's flat codes (B, code_dim)."""
        return self.generator.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) → the generator's tiles (B, C, H, W) in [0, 1]."""
        return self.generator.decode(z)

    def content_code(self, z: torch.Tensor) -> torch.Tensor:
        """The content part z_c (B, content_dim) of flat codes z (B, code_dim)."""
        return self.generator.content_code(z)

    def style_code(self, z: torch.Tensor) -> torch.Tensor:
        """The style part z_s (B, style_dim) of flat codes z (B, code_dim)."""
        return self.generator.style_code(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → G(x) (B, C, H, W) in [0, 1]."""
        return self.generator(x)

    def reconstructions(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """The rows of the paper's reconstruction figure: x, D(x), G(x), D(G(x)), each (B, C, H, W)."""
        g = self.generator(x)
        return [("x", x), ("D(x)", self.discriminator(x)), ("G(x)", g), ("D(G(x))", self.discriminator(g))]

    def realism_error(self, x: torch.Tensor) -> torch.Tensor:
        """Mean |x − D(x)| of each tile: (B, C, H, W) → (B,); real data's level is the realism scale."""
        return (x - self.discriminator(x)).abs().mean(dim=(1, 2, 3))
