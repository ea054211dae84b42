"""An exponential moving average of the generator's weights, as StyleGAN2-ADA keeps one.

The average is what a run exports (``train.ema_kimg`` > 0): a GAN's generator at any one step
carries that step's adversarial jitter, the average over the last few hundred steps does not.
The half-life is ``ema_kimg`` thousand images, ramped up over the first images seen
(``ema_rampup``: the half-life is at most that fraction of the images seen so far), so a short
run averages over its recent past rather than its untrained beginning.

Hand-written rather than ``torch.optim.swa_utils.AveragedModel``: its EMA has a fixed decay,
and the ramp-up changes the decay every step.
"""
from __future__ import annotations

import copy

import torch


class GeneratorEMA:
    """The moving average of a network's weights (buffers are copied, not averaged).

    Args:
        net: the network being trained (GAIA's generator, or a baseline's autoencoder).
        half_life_kimg: half-life in thousands of images (0: the average is the weights themselves).
        rampup: the half-life is at most ``rampup`` × images seen (None: no ramp-up).
    """

    def __init__(self, net: torch.nn.Module, half_life_kimg: float, rampup: float | None = 0.05):
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.half_life_images = float(half_life_kimg) * 1000
        self.rampup = rampup

    def beta(self, images_seen: int, batch_size: int) -> float:
        """The weight kept by the average at this step: 0.5 ** (batch / half-life in images)."""
        half_life = self.half_life_images
        if half_life <= 0:  # no average: the weights themselves
            return 0.0
        if self.rampup is not None:
            half_life = min(half_life, images_seen * self.rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, net: torch.nn.Module, images_seen: int, batch_size: int) -> None:
        """Move the average towards ``net``'s current weights after a step."""
        beta = self.beta(images_seen, batch_size)
        for p_ema, p in zip(self.net.parameters(), net.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.net.buffers(), net.buffers()):
            b_ema.copy_(b)

    def state_dict(self) -> dict:
        return self.net.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state)


def with_averaged_generator(model: torch.nn.Module, ema: GeneratorEMA) -> torch.nn.Module:
    """A copy of ``model`` whose generator (or, for a baseline, whose weights) is the average."""
    out = copy.deepcopy(model)
    target = out.generator if hasattr(out, "generator") else out
    target.load_state_dict(ema.state_dict())
    return out
