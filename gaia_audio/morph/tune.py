"""Per-pair pivotal tuning: a copy of the generator's decoder fitted to one morph's two endpoints.

An encoder's code of a sound the model never saw decodes to a blurred neighbour of it, so the ends
of a continuum are not the recordings. Pivotal tuning (Roich et al. 2021, "Pivotal Tuning for
Latent-based Editing of Real Images", PTI) keeps the codes ("pivots") and fine-tunes the decoder
instead, for this pair only:

- reconstruction: the decoded pivots must match the endpoints' tiles (L1, as GAIA's own term);
- locality (PTI's regulariser): at codes away from the pair the tuned decoder must decode what
  the trained one does (L1 against the trained decoder's output, fixed codes drawn per morph);
- interpolation (GAIA's own term): the discriminator's reconstruction error of tiles decoded
  between the two pivots is held at the level of real data (a hinge at ``d_error_real``), so
  tuning cannot buy exact endpoints with smeared middles.

Optionally the pivots are first refined by gradient descent on the reconstruction (PTI's
inversion step). The tuned decoder is a copy: the trained model and its file are never changed.
``adapter="lora"`` tunes a rank-``rank`` update of every conv and linear weight instead of the
weights themselves (LoRA, Hu et al. 2021; applied with torch's own ``parametrize``).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from gaia_audio.errors import DataError
from gaia_audio.morph.model import Endpoint, VocalModel
from gaia_audio.spectral.metrics import fidelity_db

ADAPTERS = ("full", "lora")
#: Tuning steps of a morph unless told otherwise (benchmarks/continuum_quality.py chose it).
DEFAULT_TUNE_STEPS = 80
#: Aligned windows whose activations a tuning step holds at once (benchmarks/morph_memory.py).
TUNE_WINDOWS = 8


@dataclass(frozen=True)
class TuneSettings:
    """How a decoder is tuned to one pair (recorded in the continuum's provenance.json).

    Attributes:
        steps: Adam steps on the decoder (0: no tuning).
        lr: the decoder's learning rate.
        refine_steps: Adam steps refining the pivots before the decoder is tuned (0: the encoder's codes).
        refine_lr: the pivots' learning rate.
        locality_weight: weight of the locality term.
        interpolation_weight: weight of the interpolation-realism hinge.
        emphasis: the reconstruction's L1 weighs each bin by 1 + emphasis × its level in [0, 1].
        n_locality: codes away from the pair that the locality term holds fixed.
        n_interpolation: interpolations between the pivots scored by the discriminator each step.
        adapter: "full" (all decoder weights) or "lora" (a low-rank update of each weight).
        rank: the LoRA rank.
        seed: seeds the locality codes and interpolation positions.
        detail: after tuning, add back what the tuned decoder still misses of each endpoint, fading
            along the continuum (:mod:`gaia_audio.morph.detail`); the ends are then the recordings.
    """

    steps: int = DEFAULT_TUNE_STEPS
    lr: float = 5e-4
    refine_steps: int = 0
    refine_lr: float = 1e-2
    locality_weight: float = 1.0
    interpolation_weight: float = 1.0
    emphasis: float = 4.0
    n_locality: int = 1
    n_interpolation: int = 1
    adapter: str = "full"
    rank: int = 4
    seed: int = 0
    detail: bool = True

    def __post_init__(self):
        if self.adapter not in ADAPTERS:
            raise DataError(f"unknown tuning adapter {self.adapter!r} (use {' or '.join(ADAPTERS)})")
        if not 0 <= int(self.steps) <= 10_000 or not 0 <= int(self.refine_steps) <= 10_000:
            raise DataError(f"tuning steps must be in 0..10000, got {self.steps} and {self.refine_steps}")
        if not (0 < self.lr < 1 and 0 < self.refine_lr < 1):
            raise DataError(f"tuning learning rates must be in (0, 1), got {self.lr} and {self.refine_lr}")
        if not (0 <= self.locality_weight <= 1e6 and 0 <= self.interpolation_weight <= 1e6
                and 0 <= self.emphasis <= 1e3):
            raise DataError(f"tuning weights must be in 0..1e6, got {self.locality_weight} and "
                            f"{self.interpolation_weight}")
        if not (0 <= self.n_locality <= 256 and 0 <= self.n_interpolation <= 256 and 1 <= self.rank <= 256):
            raise DataError(f"tuning sizes out of range: n_locality {self.n_locality}, n_interpolation "
                            f"{self.n_interpolation} (0..256), rank {self.rank} (1..256)")

    def as_dict(self) -> dict:
        return asdict(self)


class LowRank(nn.Module):
    """A weight plus a trainable rank-r update: W + up @ down (reshaped); ``up`` starts at zero."""

    def __init__(self, weight: torch.Tensor, rank: int):
        super().__init__()
        fan_in = weight[0].numel()
        self.down = nn.Parameter(torch.randn(rank, fan_in, dtype=weight.dtype) / fan_in ** 0.5)
        self.up = nn.Parameter(torch.zeros(weight.shape[0], rank, dtype=weight.dtype))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + (self.up @ self.down).reshape(weight.shape)


def with_decoder(ae: nn.Module, decoder: nn.Module) -> nn.Module:
    """A shallow copy of an autoencoder that decodes with ``decoder`` (the original is untouched)."""
    clone = copy.copy(ae)
    clone._modules = dict(ae._modules)  # copy.copy shares the module dict; give the clone its own
    clone.decoder = decoder
    return clone


def _trainable_decoder(ae: nn.Module, settings: TuneSettings) -> tuple[nn.Module, list[nn.Parameter]]:
    """A copy of ``ae.decoder`` and the parameters the tuning updates."""
    decoder = copy.deepcopy(ae.decoder).float()
    if settings.adapter == "full":
        return decoder, list(decoder.parameters())
    for p in decoder.parameters():
        p.requires_grad_(False)
    params = []
    for module in list(decoder.modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            parametrize.register_parametrization(module, "weight", LowRank(module.weight, settings.rank))
            low_rank = module.parametrizations.weight[0]
            params += [low_rank.down, low_rank.up]
    return decoder, params


def _bake(decoder: nn.Module) -> nn.Module:
    """Fold LoRA updates into plain weights (decoding is then as fast as the original)."""
    for module in list(decoder.modules()):
        if parametrize.is_parametrized(module):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    for p in decoder.parameters():
        p.requires_grad_(False)
    return decoder.eval()


def locality_codes(z: torch.Tensor, n: int, code_stats: dict | None, generator: torch.Generator) -> torch.Tensor:
    """(n, D) codes away from the pivots: each pivot moved part-way towards a code drawn from the
    training codes' diagonal Gaussian (PTI draws its anchors the same way from its prior).

    Args:
        z: (P, D) pivots.
        n: codes wanted.
        code_stats: {"mean": (D,), "std": (D,)} of the training codes, or None: a Gaussian with the
            pivots' own mean and spread (a model exported before code statistics were stored).
        generator: the random source.
    """
    if code_stats:
        mean = torch.as_tensor(code_stats["mean"], dtype=z.dtype)
        std = torch.as_tensor(code_stats["std"], dtype=z.dtype)
    else:
        mean, std = z.mean(0), z.std(0, unbiased=False) + z.abs().mean() * 0.1
    mean, std = mean.to(z.device), std.to(z.device)
    draws = mean + std * torch.randn(n, z.shape[1], generator=generator, dtype=z.dtype).to(z.device)
    pivots = z[torch.arange(n) % z.shape[0]]
    reach = 0.5 + 0.5 * torch.rand(n, 1, generator=generator, dtype=z.dtype).to(z.device)  # 0.5-1 of the way
    return pivots + reach * (draws - pivots)


def refine_codes(ae: nn.Module, z: torch.Tensor, x: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """Pivots refined so that the trained decoder reconstructs ``x`` better (L1), ``steps`` Adam steps."""
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        loss = (ae.decode(z) - x).abs().mean()
        z.grad, = torch.autograd.grad(loss, z)  # the trained decoder's weights get no gradient
        opt.step()
    return z.detach()


def tune_decoder(model: nn.Module, z_a: torch.Tensor, z_b: torch.Tensor, x_a: torch.Tensor, x_b: torch.Tensor,
                 settings: TuneSettings, d_error_real: float | None = None,
                 code_stats: dict | None = None) -> tuple[nn.Module, torch.Tensor, torch.Tensor, dict]:
    """Fit a copy of the generator's decoder to one pair (or to W aligned window pairs).

    Args:
        model: the trained network (GAIA, or an AE/VAE: then there is no interpolation term).
        z_a, z_b: (W, D) the endpoints' codes (W = 1 for two single units).
        x_a, x_b: (W, 1, n_freq, n_frames) their tiles in [0, 1].
        settings: how to tune.
        d_error_real: the discriminator's error on real data (the interpolation hinge's level).
        code_stats: mean and std of the training codes (locality anchors), or None.
    Returns:
        (an autoencoder that decodes with the tuned decoder, the pivots z_a and z_b it was tuned
        at, and a report: steps, seconds, endpoint L1 before and after, locality L1 after).
    """
    with torch.enable_grad():  # morphs run under no_grad
        return _tune(model, z_a, z_b, x_a, x_b, settings, d_error_real, code_stats)


def _tune(model, z_a, z_b, x_a, x_b, settings, d_error_real, code_stats):
    start = time.perf_counter()
    ae = getattr(model, "generator", model)
    discriminator = getattr(model, "discriminator", None)
    z = torch.cat([z_a, z_b]).float().detach()
    x = torch.cat([x_a, x_b]).float()
    with torch.no_grad():
        before = _l1(ae, z, x)  # the trained decoder at the encoder's codes
    if settings.refine_steps:
        z = refine_codes(ae, z, x, settings.refine_steps, settings.refine_lr)
    gen = torch.Generator().manual_seed(settings.seed)
    with torch.no_grad():
        z_far = locality_codes(z, settings.n_locality, code_stats, gen) if settings.n_locality else z[:0]
        x_far = ae.decode(z_far) if len(z_far) else None
    weight = 1 + settings.emphasis * x  # loud bins count more: what a listener (and fidelity_db) hears
    weight = weight / weight.mean()
    decoder, params = _trainable_decoder(ae, settings)
    tuned = with_decoder(ae, decoder)
    opt = torch.optim.Adam(params, lr=settings.lr)
    use_d = discriminator is not None and d_error_real and settings.interpolation_weight > 0
    frozen = [p for p in discriminator.parameters() if p.requires_grad] if use_d else []
    for p in frozen:  # gradients flow through D to the decoder; D's own weights stay as trained
        p.requires_grad_(False)
    w = len(z_a)
    try:
        use_far = x_far is not None and settings.locality_weight > 0
        for _ in range(settings.steps):
            opt.zero_grad(set_to_none=True)
            alpha = None
            if use_d and settings.n_interpolation:
                alpha = torch.rand(settings.n_interpolation, 1, 1, generator=gen).to(z.device)  # (K, 1, 1)
            for lo in range(0, w, TUNE_WINDOWS):  # the step's gradient, summed over chunks of windows
                _accumulate(tuned, discriminator, z, x, weight, z_far if use_far and lo == 0 else None, x_far,
                            alpha, lo, min(lo + TUNE_WINDOWS, w), settings, d_error_real)
            opt.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    decoder = _bake(decoder)
    with torch.no_grad():
        after = _l1(tuned, z, x)
        locality = float((tuned.decode(z_far) - x_far).abs().mean()) if x_far is not None else None
    report = {"steps": settings.steps, "seconds": round(time.perf_counter() - start, 3),
              "endpoint_l1_before": before, "endpoint_l1_after": after, "locality_l1": locality}
    return tuned, z[:w], z[w:], report


def _l1(ae: nn.Module, z: torch.Tensor, x: torch.Tensor) -> float:
    """Mean |decode(z) − x| over every tile, decoded ``2 * TUNE_WINDOWS`` at a time."""
    n = 2 * TUNE_WINDOWS
    return sum(float((ae.decode(z[i:i + n]) - x[i:i + n]).abs().sum()) for i in range(0, len(z), n)) / x.numel()


def _accumulate(tuned, discriminator, z, x, weight, z_far, x_far, alpha, lo, hi, settings, d_error_real) -> None:
    """Add windows ``lo:hi``'s share of one tuning step's loss gradient to the decoder's ``.grad``.

    The loss of a step is a mean over every window of both endpoints (and over the interpolations
    between them); each chunk's mean is weighted by its share of the windows, so the summed
    gradient equals the whole batch's while at most ``TUNE_WINDOWS`` windows hold activations
    (a 20 s pair has hundreds). ``z_far`` is given with the first chunk only.
    """
    w = len(z) // 2
    idx = torch.cat([torch.arange(lo, hi), torch.arange(w + lo, w + hi)]).to(z.device)  # both ends' windows
    codes = [z[idx], z_far if z_far is not None else z[:0]]
    if alpha is not None:
        codes.append(((1 - alpha) * z[lo:hi][None] + alpha * z[w + lo:w + hi][None]).reshape(-1, z.shape[1]))
    # one decode of every code this chunk needs: each item is decoded on its own (its norms are
    # per item), so one batch equals three calls, at a third of the calls' overhead
    decoded = tuned.decode(torch.cat(codes)).split([len(c) for c in codes])
    share = (hi - lo) / w
    loss = share * (weight[idx] * (decoded[0] - x[idx]).abs()).mean()
    if z_far is not None:
        loss = loss + settings.locality_weight * (decoded[1] - x_far).abs().mean()
    if len(decoded) > 2:
        err = (decoded[2] - discriminator(decoded[2])).abs().mean(dim=(1, 2, 3))
        loss = loss + share * settings.interpolation_weight * torch.relu(err - d_error_real).mean()
    loss.backward()


def with_generator(model: nn.Module, generator: nn.Module) -> nn.Module:
    """A shallow copy of a GAIA model whose generator is ``generator`` (a baseline: ``generator`` itself)."""
    if not hasattr(model, "generator"):
        return generator
    clone = copy.copy(model)
    clone._modules = dict(model._modules)
    clone.generator = generator
    return clone


def settings_for(tune: TuneSettings | None = None, tune_steps: int | None = None) -> TuneSettings:
    """The tuning settings of a morph: ``tune`` (default :class:`TuneSettings`) with ``tune_steps`` if given."""
    settings = tune if tune is not None else TuneSettings()
    return settings if tune_steps is None else dataclasses.replace(settings, steps=int(tune_steps))


def endpoint_fidelity(series, ends: dict[float, Endpoint]) -> dict[float, float]:
    """Fidelity (``spectral.metrics.fidelity_db``) of the series' steps at α = 0 and 1 to the recordings.

    Args:
        series: a pair's series (``gaia_audio.morph.steps``), rendered with the model it decodes with.
        ends: {0.0: endpoint a, 1.0: endpoint b}.
    Returns:
        {α: dB}.
    """
    alphas = np.array(sorted(ends))
    waveforms = series.render(alphas).waveforms
    return {float(al): fidelity_db(series.vm.frontend, ends[al].y, y) for al, y in zip(alphas, waveforms)}


def tune_series(vm: VocalModel, series, settings: TuneSettings) -> tuple[VocalModel, dict]:
    """Tune a copy of ``vm``'s decoder to a pair's series and make the series decode with it.

    Args:
        vm: the trained model (unchanged).
        series: the pair's series (``pivots()`` and ``retune(vm, z_a, z_b)``).
        settings: how to tune.
    Returns:
        (the model with the tuned decoder, the tuning's record for provenance: its settings and
        :func:`tune_decoder`'s report).
    """
    z_a, z_b, x_a, x_b = series.pivots()
    generator, z_a, z_b, report = tune_decoder(vm.model, z_a, z_b, x_a.to(vm.device), x_b.to(vm.device), settings,
                                               vm.d_error_real, vm.extra.get("code_stats"))
    tuned = copy.copy(vm)
    tuned.model = with_generator(vm.model, generator)
    series.retune(tuned, z_a, z_b)
    return tuned, {"settings": settings.as_dict(), **report}
