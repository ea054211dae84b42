"""One class per model kind: its optimizers, and its training step returning the named loss terms.

Like StyleGAN2-ADA's ``Loss``, an objective owns what a kind trains and how. GAIA's step follows
the reference GAIA code (Sainburg et al. 2018): encode a batch with the generator, decode it and the interpolations
between its halves, pass all three through the discriminator, and update both networks from that
one forward pass, each with its own Adam and the learning rate sigmoid balancing sets for this
step. The AE and VAE baselines train the generator's autoencoder alone with Adam at ``lr_max``.

Every term is over the global batch: in data-parallel training each process passes its own slice
and the terms (and so the update) equal one process's on the whole batch (``distributed.Group``).
"""
from __future__ import annotations

import contextlib
import functools
import math

import numpy as np
import torch

from gaia_audio.errors import TrainingError
from gaia_audio.training.distributed import Group
from gaia_audio.training.losses import (
    ae_loss,
    balance_terms,
    distance_loss,
    interpolate_codes,
    mae,
    sample_alphas,
    vae_loss,
)


class StepForward(torch.nn.Module):
    """A network's whole forward pass in one training step, ``fn(net, *args)``, as one module.

    DistributedDataParallel averages the gradients of the module it wraps after one forward and
    one backward, so a step that calls a network several ways (encode, gather, decode) is
    wrapped as one forward.
    """

    def __init__(self, net: torch.nn.Module, fn):
        super().__init__()
        self.net, self.fn = net, fn

    def forward(self, *args):
        return self.fn(self.net, *args)


class Objective:
    """What one model kind trains: its optimizers, the modules its step runs, and the step.

    Args:
        model: the model (``models.build_model``), on ``device``.
        lr_max: the learning-rate ceiling.
        distance_weight: weight of GAIA's distance loss.
        vae_beta: the VAE's KL weight.
        group: this process's place in data-parallel training.
        device: where the model is.
        autocast: a context-manager factory for mixed precision.
    """

    def __init__(self, model: torch.nn.Module, lr_max: float, distance_weight: float = 5e-5, vae_beta: float = 1.0,
                 group: Group = Group(), device: torch.device = torch.device("cpu"), autocast=contextlib.nullcontext):
        self.model, self.lr_max, self.group, self.autocast = model, float(lr_max), group, autocast
        self.distance_weight, self.vae_beta = float(distance_weight), float(vae_beta)
        # fused: one kernel per network's update instead of a dozen per tensor (CPU and CUDA)
        self.optimizers = {name: torch.optim.Adam(net.parameters(), lr=self.lr_max, eps=1e-8, fused=True)
                           for name, net in self.networks().items()}
        self.nets = {name: group.wrap(net, device) for name, net in self.step_modules().items()}

    def networks(self) -> dict[str, torch.nn.Module]:
        """The networks updated, each by its own optimizer (by name)."""
        return {"model": self.model}

    def step_modules(self) -> dict[str, torch.nn.Module]:
        """What the step runs forward, by name (each wrapped in DDP when training is distributed)."""
        return {"model": self.model}

    def check_batch_size(self, batch_size: int) -> None:
        """Raise TrainingError if the global batch size cannot work for this objective."""

    def terms(self, x: torch.Tensor, noise: torch.Generator, lr_max: float):
        """The forward pass: (terms to log, {network: loss}, {network: learning rate, or the term that holds it})."""
        raise NotImplementedError

    def step(self, x: torch.Tensor, noise: torch.Generator, lr_scale: float = 1.0) -> dict[str, float]:
        """One update. Returns the flat dict of named loss terms (what gets logged).

        The step waits for the device once: the loss terms and one flag saying whether any term
        or gradient is NaN/Inf (the largest |gradient| per tensor, in one fused call) come back
        together, after both backward passes.

        Args:
            x: (b, C, H, W) this process's slice of the batch, in [0, 1], on the model's device.
            noise: CPU generator of the step's randomness (interpolation coefficients, VAE noise).
            lr_scale: multiplies ``lr_max`` (halved after each divergence).
        Returns:
            Loss terms as floats. If any is NaN/Inf (or a gradient is), no parameter has changed
            (a NaN/Inf gradient adds ``grad_nonfinite``: NaN).
        """
        terms, losses, lrs = self.terms(x, noise, self.lr_max * lr_scale)
        # Each network's gradient of its own loss, from the same forward pass, before any update
        # (under DDP, averaged over processes as each backward finishes).
        networks = self.networks()
        for name, loss in losses.items():
            params = [p for p in networks[name].parameters() if p.requires_grad]
            self.optimizers[name].zero_grad(set_to_none=True)
            torch.autograd.backward(loss.float(), inputs=params, retain_graph=True)
        grads = [p.grad for opt in self.optimizers.values() for group in opt.param_groups for p in group["params"]
                 if p.grad is not None]
        values = torch.stack([torch.as_tensor(v, dtype=torch.float32, device=x.device).detach().reshape(())
                              for v in terms.values()])
        grads_finite = torch.stack(torch._foreach_norm(grads, float("inf"))).isfinite().all() if grads else True
        *numbers, ok = torch.cat([values, torch.as_tensor(values.isfinite().all() & grads_finite).reshape(1)
                                  .to(values)]).tolist()                # the step's one wait for the device
        logged = dict(zip(terms, numbers))
        if not ok:
            for opt in self.optimizers.values():
                opt.zero_grad(set_to_none=True)
            if all(math.isfinite(v) for v in numbers):
                logged["grad_nonfinite"] = float("nan")
            return logged
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = logged[lrs[name]] if isinstance(lrs[name], str) else lrs[name]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return logged

    def state_dict(self) -> dict:
        """The optimizers' states, by network name."""
        return {k: o.state_dict() for k, o in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        for k, o in self.optimizers.items():
            o.load_state_dict(state[k])

    def export_extra(self, tiles: np.ndarray, index: np.ndarray, device: torch.device) -> dict:
        """Metadata the exported model carries for this kind (GAIA: the realism reference)."""
        return {}


class AEObjective(Objective):
    """The AE baseline: GAIA's generator trained alone on reconstruction (mean absolute error)."""

    kind = "ae"

    def terms(self, x: torch.Tensor, noise: torch.Generator, lr_max: float):
        with self.autocast():
            terms = {k: self.group.mean(v) for k, v in ae_loss(x, self.nets["model"](x)).items()}
        return terms, {"model": terms["loss"]}, {"model": lr_max}


def _vae_forward(vae, x: torch.Tensor, eps: torch.Tensor):
    """Posterior of x, a reparameterised sample with noise eps (b, code_dim), and its decoding."""
    mu, logvar = vae.encode_dist(x)
    return vae.decode(vae.reparameterize(mu, logvar, eps=eps)), mu, logvar


class VAEObjective(Objective):
    """The (β-)VAE baseline: GAIA's generator with a Gaussian posterior, MAE + β·KL."""

    kind = "vae"

    def step_modules(self) -> dict[str, torch.nn.Module]:
        return {"model": StepForward(self.model, _vae_forward)}

    def terms(self, x: torch.Tensor, noise: torch.Generator, lr_max: float):
        n_global = x.shape[0] * self.group.world_size
        with self.autocast():
            eps = self.group.local(torch.randn((n_global, self.model.code_dim), generator=noise)).to(x.device)
            x_hat, mu, logvar = self.nets["model"](x, eps)
            terms = {k: self.group.mean(v) for k, v in vae_loss(x, x_hat, mu, logvar, self.vae_beta).items()}
        return terms, {"model": terms["loss"]}, {"model": lr_max}


def _gaia_generator_forward(G, x: torch.Tensor, alpha1: torch.Tensor, alpha2: torch.Tensor, group: Group):
    """Encode the local batch, interpolate over the global batch, decode the local part of both.

    Returns:
        z_all (B, code_dim) codes of the global batch, G(x) and G(z_i) (b, C, H, W) for the local b.
    """
    z = G.encode(x)                                                           # (b, code_dim)
    z_all = group.gather(z)                                                   # (B, code_dim)
    z_i = group.local(interpolate_codes(z_all, alpha1, alpha2))               # (b, code_dim)
    x_g, x_i = G.decode(torch.cat([z, z_i])).chunk(2)
    return z_all, x_g, x_i


class GAIAObjective(Objective):
    """GAIA: generator and discriminator autoencoders, updated together with sigmoid balancing."""

    kind = "gaia"

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.model.generator, "discriminator": self.model.discriminator}

    def step_modules(self) -> dict[str, torch.nn.Module]:
        forward = functools.partial(_gaia_generator_forward, group=self.group)
        return {"generator": StepForward(self.model.generator, forward), "discriminator": self.model.discriminator}

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % 2:
            raise TrainingError(f"train.batch_size must be even for GAIA's interpolation pairs, got {batch_size}")

    def terms(self, x: torch.Tensor, noise: torch.Generator, lr_max: float):
        n_global = x.shape[0] * self.group.world_size
        alpha1 = sample_alphas(n_global // 2, noise).to(x.device)
        alpha2 = sample_alphas(n_global // 2, noise).to(x.device)
        with self.autocast():
            z_all, x_g, x_i = self.nets["generator"](x, alpha1, alpha2)     # codes (B, ·); G(x), G(z_i) (b, ·)
            x_d, x_gd, x_id = self.nets["discriminator"](torch.cat([x, x_g, x_i])).chunk(3)  # D(x), D(G(x)), D(G(z_i))
            errors = [self.group.mean(mae(a, b)) for a, b in ((x, x_d), (x, x_gd), (x_i, x_id))]
            l_dist = distance_loss(self.group.gather(x), self.model.content_code(z_all))
            terms = balance_terms(*errors, l_dist, lr_max=lr_max, distance_weight=self.distance_weight)
        return terms, {"discriminator": terms["L_D"], "generator": terms["L_G"]}, {"discriminator": "lr_D",
                                                                                   "generator": "lr_G"}

    @torch.no_grad()
    def export_extra(self, tiles: np.ndarray, index: np.ndarray, device: torch.device, batch_size: int = 64) -> dict:
        """``d_error_real``: mean |x − D(x)| over real tiles, the level that realism is relative to.

        Args:
            tiles: (N, C, H, W) tiles (memory-mapped; only one batch is read at a time).
            index: which tiles to score.
        """
        self.model.eval()
        errors = [self.model.realism_error(torch.from_numpy(np.asarray(tiles[index[i:i + batch_size]], np.float32))
                                           .to(device)).cpu() for i in range(0, len(index), batch_size)]
        self.model.train()
        return {"d_error_real": float(torch.cat(errors).mean())}


OBJECTIVES: dict[str, type[Objective]] = {"gaia": GAIAObjective, "ae": AEObjective, "vae": VAEObjective}


def make_objective(model: torch.nn.Module, lr_max: float, distance_weight: float = 5e-5, vae_beta: float = 1.0,
                   group: Group = Group(), device: torch.device = torch.device("cpu"),
                   autocast=contextlib.nullcontext) -> Objective:
    """The objective of ``model``'s kind (``model.kind``: "gaia", "ae" or "vae")."""
    return OBJECTIVES[model.kind](model, lr_max, distance_weight, vae_beta, group, device, autocast)
