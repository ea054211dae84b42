"""Building blocks of the GAIA networks: padded convs, residual blocks, AdaIN, upsampling.

Convolutions keep the spatial size ("same" padding; stride 2 halves it). The encoders' first 7×7
conv pads by reflection, as the reference does, so the tile's edges are not seen against zeros;
the inner convs pad with zeros, which oneDNN/cuDNN fuse into the convolution (reflect-padding every
layer cost ~10–15% of a CPU training step for no measured benefit). ReLU throughout;
truncated-normal He initialisation with zero biases (:func:`he_init_`). Shapes in comments are
(B, channels, height, width).
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import torch
import torch.nn.functional as F
from torch import nn

#: The epsilon inside AdaIN's and the norms' square roots (the reference GAIA code).
NORM_EPS = 1e-5

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it keeps the He variance.
_TRUNC_STD = 0.87962566103423978
# False inside no_weight_init(): networks built there get their weights from a file right after.
_DRAW_INIT = contextvars.ContextVar("gaia_audio_draw_init", default=True)


@contextlib.contextmanager
def no_weight_init():
    """Networks built inside skip :func:`he_init_`: for a model whose weights are loaded next.

    Drawing the truncated normals costs ~0.5-1 s for the small model (6.5 M parameters), all of it
    thrown away by ``load_state_dict``; a strict load overwrites every weight and bias he_init_
    would have set.
    """
    token = _DRAW_INIT.set(False)
    try:
        yield
    finally:
        _DRAW_INIT.reset(token)


def he_init_(module: nn.Module) -> nn.Module:
    """Truncated-normal He init (variance 2 / fan_in, cut at 2 sd) for every conv/linear; zero biases.

    Args:
        module: a network; its Conv2d and Linear layers are re-initialised in place (left as they
            are inside :func:`no_weight_init`).
    Returns:
        The same module.
    """
    if not _DRAW_INIT.get():
        return module
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                _trunc_normal_(m.weight, math.sqrt(2.0 / fan_in) / _TRUNC_STD)
                if m.bias is not None:
                    m.bias.zero_()
    return module


def _trunc_normal_(weight: torch.Tensor, std: float) -> None:
    """Fill with N(0, std²) cut at ±2·std, by the inverse CDF (one pass, in place)."""
    edge = math.erf(-2.0 / math.sqrt(2.0))  # 2·Φ(−2) − 1
    weight.uniform_(edge, -edge).erfinv_().mul_(std * math.sqrt(2.0)).clamp_(-2 * std, 2 * std)


def padded_size(size: int, stride: int) -> int:
    """The smallest multiple of ``stride`` that holds ``size`` (and 4, for the first conv's reflect padding).

    Args:
        size: an input height or width.
        stride: the network's total stride (2 ** n_down).
    Returns:
        The padded size: a multiple of ``stride``, at least 4.
    """
    return max(-(-size // stride) * stride, -(-4 // stride) * stride)


def pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right, by edge replication, to (B, C, height, width)."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    return F.pad(x, (0, dw, 0, dh), mode="replicate")


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
         padding_mode: str = "zeros") -> nn.Conv2d:
    """A padded convolution: "same" output size for stride 1, halved for stride 2 (kernel 4, pad 1)."""
    padding = (kernel_size - stride + 1) // 2 if stride > 1 else kernel_size // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, padding_mode=padding_mode)


class ConvReLU(nn.Sequential):
    """Conv then ReLU: (B, in_channels, H, W) → (B, out_channels, H/stride, W/stride)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding_mode: str = "zeros"):
        super().__init__(conv(in_channels, out_channels, kernel_size, stride, padding_mode), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Residual block of the content encoder: conv3, InstanceNorm(affine), ReLU, conv3, InstanceNorm, + x."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3), nn.InstanceNorm2d(channels, eps=NORM_EPS, affine=True), nn.ReLU(inplace=True),
            conv(channels, channels, 3), nn.InstanceNorm2d(channels, eps=NORM_EPS, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) → (B, C, h, w)."""
        return x + self.body(x)


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Adaptive instance norm: ``scale·(x − mean)/sqrt(var + 1e-5) + bias``, statistics per item and channel.

    Args:
        x: (B, C, h, w) feature map.
        scale: (B, C) per-item scales.
        bias: (B, C) per-item biases.
    Returns:
        (B, C, h, w).
    """
    return torch.addcmul(bias[:, :, None, None], F.instance_norm(x, eps=NORM_EPS), scale[:, :, None, None])


class AdaResBlock(nn.Module):
    """Residual block of the decoder: conv3, AdaIN, ReLU, conv3, AdaIN, + x (AdaIN params from the style)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv1 = conv(channels, channels, 3)
        self.conv2 = conv(channels, channels, 3)

    def n_params(self) -> int:
        """How many AdaIN parameters this block consumes per item (4·channels)."""
        return 4 * self.channels

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w), params (B, 4·C) as [scale1, bias1, scale2, bias2] → (B, C, h, w)."""
        s1, b1, s2, b2 = params.chunk(4, dim=1)
        h = F.relu(adain(self.conv1(x), s1, b1), inplace=True)
        return x + adain(self.conv2(h), s2, b2)


def _phase_taps() -> torch.Tensor:
    """(2, 3, 5): which of a 5-tap kernel's taps land on low-resolution offsets −1, 0, +1 per output phase.

    After nearest ×2 upsampling, output row 2i + a of a 5-tap "same" convolution reads input row
    2i + a + p − 2, i.e. low-resolution row i + ⌊(a + p − 2)/2⌋: phase 0 sums taps {0,1}, {2,3}, {4}
    and phase 1 taps {0}, {1,2}, {3,4} onto offsets −1, 0, +1.
    """
    taps = torch.zeros(2, 3, 5)
    for a in range(2):
        for p in range(5):
            taps[a, (a + p - 2) // 2 + 1, p] = 1.0
    return taps


class UpBlock(nn.Sequential):
    """Nearest ×2 upsampling, 5×5 conv, GroupNorm over (C, H, W) with per-channel affine, ReLU.

    The upsample-then-conv is computed exactly as its sub-pixel equivalent: one 3×3 convolution at
    the input's resolution with four output phases per channel, put in place by ``pixel_shuffle``.
    Same weights and same result as ``conv(upsample(x))`` (tested to float rounding), 25/9 fewer
    multiply-adds: the 5×5 convs at full tile size were ~40% of a CPU training step. Hand-written
    because no library exposes this re-parameterisation of nearest upsampling.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), conv(in_channels, out_channels, 5),
                         nn.GroupNorm(1, out_channels, eps=NORM_EPS, affine=True), nn.ReLU(inplace=True))
        self.register_buffer("taps", _phase_taps(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, h, w) → (B, out_channels, 2h, 2w)."""
        weight, bias = self[1].weight, self[1].bias                        # (out, in, 5, 5), (out,)
        taps = self.taps.to(weight.dtype)
        # kernel[o, a, b, i, r, s] = Σ_pq taps[a, r, p] · taps[b, s, q] · weight[o, i, p, q]
        kernel = torch.einsum("arp,bsq,oipq->oabirs", taps, taps, weight).reshape(-1, weight.shape[1], 3, 3)
        y = F.conv2d(x, kernel, bias.repeat_interleave(4), padding=1)     # (B, 4·out, h, w)
        y = F.pixel_shuffle(y, 2)                                          # (B, out, 2h, 2w)
        return self[3](self[2](y))


class MLP(nn.Sequential):
    """Linear layers with ReLU between them: (B, in_features) → (B, out_features)."""

    def __init__(self, in_features: int, hidden: int, out_features: int, n_hidden: int = 2):
        layers: list[nn.Module] = []
        size = in_features
        for _ in range(n_hidden):
            layers += [nn.Linear(size, hidden), nn.ReLU(inplace=True)]
            size = hidden
        super().__init__(*layers, nn.Linear(size, out_features))
