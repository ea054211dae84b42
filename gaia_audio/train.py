"""Training: build the model and data from a recipe, then one loop you can read top to bottom.

GAIA's step follows ../shared/gaia-spec.md: encode a batch with the generator, decode it and the
interpolations between its halves, pass all three through the discriminator, and update both
networks from that one forward pass, each with its own Adam and the learning rate sigmoid
balancing sets for this step. The AE and VAE baselines train the generator's autoencoder alone
with Adam at ``lr_max``. Under torchrun every process runs this same loop on its slice of the
batch (see ``distributed.py``); rank 0 alone writes.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import importlib.util
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gaia_audio import checkpoint as ckpt
from gaia_audio import distributed
from gaia_audio.config import Config, check_values, to_dict
from gaia_audio.data import BatchSampler, build_tile_cache, split_holdout
from gaia_audio.errors import DataError, ModelError, TrainingError
from gaia_audio.frontends import make_frontend
from gaia_audio.distributed import Group
from gaia_audio.losses import (ae_loss, balance_terms, distance_loss, interpolate_codes, mae, sample_alphas,
                               vae_loss)
from gaia_audio.models import SIZE_PRESETS, build_model

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_device(name: str) -> torch.device:
    """"auto" → the first CUDA device if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise TrainingError(f"train.device={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)"
                            " (use auto or cpu)")
    return device


def run_prepare(name: str, root: Path) -> None:
    """Run ``datasets/<name>/prepare.py``'s ``prepare(out)`` to create a missing dataset."""
    script = REPO_ROOT / "datasets" / name / "prepare.py"
    if not script.is_file():
        raise DataError(f"data folder is missing and there is no datasets/{name}/prepare.py to create it", root)
    spec = importlib.util.spec_from_file_location(f"gaia_prepare_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.prepare(root)


def load_data(config: Config, progress: bool = True):
    """The front end (None for images) and the dataset's tiles, preparing example data if absent.

    ``data.kind`` picks the source: "audio" (a manifest of sound files through the spectrogram
    front end), "images" (a manifest of image files, centre-cropped and resized), or "lines"
    (the synthetic lines benchmark, drawn fresh each step; the tiles returned are a fixed set for
    samples and evaluation).

    Returns:
        (frontend, tiles) where tiles.tiles is (N, C, H, W) in [0, 1].
    """
    kind, root = config.data.kind, Path(config.data.root)
    if kind == "lines":
        from gaia_audio.lines import lines_tileset

        return None, lines_tileset(config.data.image_size, seed=config.train.seed)
    if kind not in ("audio", "images"):
        raise DataError(f"data.kind must be audio, images or lines, got {kind!r}")
    if not (root / config.data.manifest).is_file() and config.data.prepare:
        run_prepare(config.data.prepare, root)
    if kind == "images":
        from gaia_audio.images import build_image_cache

        return None, build_image_cache(root, config.data.image_size, config.data.manifest, config.data.cache_dir,
                                       progress)
    frontend = make_frontend(**dataclasses.asdict(config.frontend))
    tiles = build_tile_cache(root, frontend, config.data.manifest, config.data.cache_dir, progress)
    return frontend, tiles


def resolve_config(config: Config, frontend) -> Config:
    """The recipe with every preset-derived value written out (front end and model sizes).

    A run stores this, so its model rebuilds identically even if a preset changes later.
    """
    settings = frontend.settings if frontend is not None else {}
    frontend_fields = {k: v for k, v in settings.items() if hasattr(config.frontend, k)}
    model_fields = {k: v for k, v in SIZE_PRESETS[config.model.size].items() if getattr(config.model, k) is None}
    return dataclasses.replace(config, frontend=dataclasses.replace(config.frontend, **frontend_fields),
                               model=dataclasses.replace(config.model, **model_fields))


def make_optimizers(model: torch.nn.Module, config: Config) -> dict[str, torch.optim.Optimizer]:
    """One Adam per network (GAIA: generator and discriminator; baselines: one)."""
    lr = config.train.lr_max
    if config.model.kind == "gaia":
        return {"generator": torch.optim.Adam(model.generator.parameters(), lr=lr, eps=1e-8),
                "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=lr, eps=1e-8)}
    return {"model": torch.optim.Adam(model.parameters(), lr=lr, eps=1e-8)}


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


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


def _vae_forward(vae, x: torch.Tensor, eps: torch.Tensor):
    """Posterior of x, a reparameterised sample with noise eps (b, code_dim), and its decoding."""
    mu, logvar = vae.encode_dist(x)
    return vae.decode(vae.reparameterize(mu, logvar, eps=eps)), mu, logvar


def step_modules(model: torch.nn.Module, kind: str, group: Group = Group(),
                 device: torch.device = torch.device("cpu")) -> dict[str, torch.nn.Module]:
    """What :func:`train_step` runs forward, each network under DDP when training is distributed.

    Returns:
        GAIA: {"generator", "discriminator"}; AE / VAE: {"model"}.
    """
    if kind == "gaia":
        generator = StepForward(model.generator, functools.partial(_gaia_generator_forward, group=group))
        return {"generator": group.wrap(generator, device), "discriminator": group.wrap(model.discriminator, device)}
    return {"model": group.wrap(StepForward(model, _vae_forward) if kind == "vae" else model, device)}


def train_step(model: torch.nn.Module, x: torch.Tensor, optimizers: dict, alpha_generator: torch.Generator,
               kind: str, lr_max: float, distance_weight: float, vae_beta: float = 1.0,
               autocast=contextlib.nullcontext, group: Group = Group(), nets: dict | None = None) -> dict[str, float]:
    """One update. Returns the flat dict of named loss terms (what gets logged).

    Every term is over the global batch: in data-parallel training each process passes its own
    slice and the terms (and so the update) equal one process's on the whole batch.

    Args:
        model: GAIA model (``generator``, ``discriminator``) or an AE/VAE baseline.
        x: (b, C, H, W) this process's slice of the batch, in [0, 1], on the model's device;
            the global batch B = b·world_size is even for GAIA.
        optimizers: from :func:`make_optimizers`.
        alpha_generator: CPU generator for the interpolation coefficients (and the VAE's noise).
        kind: "gaia" | "ae" | "vae".
        lr_max: the learning-rate ceiling (sigmoid balancing scales it per step for GAIA).
        distance_weight: weight w of the distance loss (GAIA).
        vae_beta: KL weight (VAE).
        autocast: a context manager factory for mixed precision.
        group: this process's place in data-parallel training.
        nets: from :func:`step_modules` (built here when None, for one process).
    Returns:
        Loss terms as floats. If any is NaN/Inf no parameter has been changed.
    """
    nets = nets if nets is not None else step_modules(model, kind, group, x.device)
    n_global = x.shape[0] * group.world_size
    if kind == "gaia":
        alpha1 = sample_alphas(n_global // 2, alpha_generator).to(x.device)
        alpha2 = sample_alphas(n_global // 2, alpha_generator).to(x.device)
        with autocast():
            z_all, x_g, x_i = nets["generator"](x, alpha1, alpha2)      # codes (B, ·); G(x), G(z_i) (b, ·)
            x_d, x_gd, x_id = nets["discriminator"](torch.cat([x, x_g, x_i])).chunk(3)  # D(x), D(G(x)), D(G(z_i))
            errors = [group.mean(mae(a, b)) for a, b in ((x, x_d), (x, x_gd), (x_i, x_id))]
            l_dist = distance_loss(group.gather(x), model.content_code(z_all))
            terms = balance_terms(*errors, l_dist, lr_max=lr_max, distance_weight=distance_weight)
        losses = {"discriminator": (terms["L_D"], model.discriminator), "generator": (terms["L_G"], model.generator)}
        lrs = {"discriminator": float(terms["lr_D"]), "generator": float(terms["lr_G"])}
    elif kind == "vae":
        with autocast():
            eps = group.local(torch.randn((n_global, model.code_dim), generator=alpha_generator)).to(x.device)
            x_hat, mu, logvar = nets["model"](x, eps)
            terms = {k: group.mean(v) for k, v in vae_loss(x, x_hat, mu, logvar, vae_beta).items()}
        losses, lrs = {"model": (terms["loss"], model)}, {"model": lr_max}
    else:
        with autocast():
            terms = {k: group.mean(v) for k, v in ae_loss(x, nets["model"](x)).items()}
        losses, lrs = {"model": (terms["loss"], model)}, {"model": lr_max}

    logged = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}
    if not all(math.isfinite(v) for v in logged.values()):
        return logged
    # Each network's gradient of its own loss, from the same forward pass, before any update
    # (under DDP, averaged over processes as each backward finishes).
    for name, (loss, net) in losses.items():
        params = [p for p in net.parameters() if p.requires_grad]
        optimizers[name].zero_grad(set_to_none=True)
        torch.autograd.backward(loss.float(), inputs=params, retain_graph=True)
    grads = [p.grad for opt in optimizers.values() for group_ in opt.param_groups for p in group_["params"]]
    if not all(g is None or torch.isfinite(g).all() for g in grads):
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        logged["grad_nonfinite"] = float("nan")
        return logged
    for name, optimizer in optimizers.items():
        _set_lr(optimizer, lrs[name])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return logged


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def new_run_dir(config: Config) -> Path:
    """``runs_dir/name``, or ``name-2``, ``name-3``… if that already exists."""
    base = Path(config.runs_dir) / config.name
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def train(config: Config, run_dir: str | Path | None = None, resume: str | Path | None = None,
          progress: bool = True) -> Path:
    """Train a model from a recipe (or go on with a run) and export it.

    Args:
        config: the merged recipe (when resuming: the run's ``config.yaml``, perhaps with
            overrides such as more ``train.steps``).
        run_dir: where to write the run (default: a new folder under ``config.runs_dir``).
        resume: a run folder (or checkpoint file) to continue exactly from its last checkpoint.
        progress: show progress bars.
    Returns:
        The run folder, holding ``model.safetensors``, ``config.yaml``, ``metrics.jsonl``,
        ``checkpoints/`` and ``samples/``.
    """
    state = None
    if resume is not None:
        resume = Path(resume)
        found = [resume] if resume.is_file() else ckpt.list_checkpoints(resume)
        if not found:
            raise ModelError("nothing to resume: the run has no complete checkpoint", resume)
        state = ckpt.load_checkpoint(found[-1])
        run_dir = resume.parent.parent if resume.is_file() else resume
    check_values(config)
    tc = config.train
    group, device_name = distributed.setup(tc.device, tc.batch_size)
    try:
        run_dir = _train(config, group, resolve_device(device_name), run_dir, state, progress and group.is_main)
    except BaseException:
        distributed.teardown(group, wait=False)  # the others stop too (torchrun ends the group)
        raise
    distributed.teardown(group)
    return run_dir


def _train(config: Config, group: Group, device: torch.device, run_dir: Path | None, state: dict | None,
           progress: bool) -> Path:
    """:func:`train` for one process of ``group``; every process runs this same loop."""
    tc = config.train
    torch.manual_seed(tc.seed)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    use_amp = tc.amp and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    if not group.is_main:  # rank 0 prepares the data and builds the cache; the others then read it
        group.barrier()
    frontend, tiles = load_data(config, progress)
    if group.is_main:
        group.barrier()
    tile_shape = tuple(int(n) for n in tiles.tiles.shape[1:])  # (C, H, W)
    if config.model.size not in SIZE_PRESETS:  # let build_model say what is wrong
        build_model(tile_shape, **dataclasses.asdict(config.model))
    config = resolve_config(config, frontend)
    train_idx, held_idx = split_holdout(tiles, config.data.holdout)
    if config.model.kind == "gaia" and tc.batch_size % 2:
        raise TrainingError(f"train.batch_size must be even for GAIA's interpolation pairs, got {tc.batch_size}")
    model = build_model(tile_shape, **dataclasses.asdict(config.model)).to(device)
    optimizers = make_optimizers(model, config)
    augment_args = None
    if config.data.augment and frontend is not None:
        augment_args = {"max_shift_frames": config.data.max_shift_frames, "max_gain_db": config.data.max_gain_db,
                        "max_freq_shift_bins": config.data.max_freq_shift_bins,
                        "db_range": frontend.ref_db - frontend.min_db}
    if config.data.kind == "lines":  # fresh random lines every step
        from gaia_audio.lines import LinesSampler

        sampler = LinesSampler(config.data.image_size, tc.batch_size, tc.seed, part=(group.rank, group.world_size))
    else:
        sampler = BatchSampler(tiles.tiles, tc.batch_size, tc.seed, augment_args, index=np.sort(train_idx),
                               part=(group.rank, group.world_size))
    nets = step_modules(model, config.model.kind, group, device)
    alpha_generator = torch.Generator().manual_seed(tc.seed + 1)
    step, lr_scale, n_bad = 0, 1.0, 0

    def snapshot() -> dict:
        return {"step": step, "lr_scale": lr_scale, "n_bad": n_bad, "config": to_dict(config),
                "tile_shape": list(tile_shape), "model": model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "sampler": sampler.state_dict(), "alpha_generator": alpha_generator.get_state(),
                "rng": _rng_state()}

    def restore(saved: dict) -> None:
        nonlocal step, lr_scale, n_bad
        if list(saved["tile_shape"]) != list(tile_shape):
            raise ModelError(f"checkpoint tile shape {tuple(saved['tile_shape'])} does not match the recipe's "
                             f"{tile_shape}", run_dir)
        try:
            model.load_state_dict(saved["model"])
        except RuntimeError as err:
            raise ModelError(f"checkpoint does not fit the recipe's model ({str(err).splitlines()[0]})",
                             run_dir) from None
        for k, o in optimizers.items():
            o.load_state_dict(saved["optimizers"][k])
        sampler.load_state_dict(saved["sampler"])
        alpha_generator.set_state(saved["alpha_generator"])
        _set_rng_state(saved["rng"])
        step, lr_scale, n_bad = int(saved["step"]), float(saved["lr_scale"]), int(saved["n_bad"])

    if state is not None:
        restore(state)
    run_dir = Path(run_dir) if run_dir is not None else group.broadcast(new_run_dir(config))
    if state is None and (ckpt.list_checkpoints(run_dir) or (run_dir / "model.safetensors").exists()):
        raise TrainingError("run folder already holds a run; continue it with --resume, or choose another folder",
                            run_dir)
    group.barrier()  # every process has looked before rank 0 writes
    if group.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.write_config(run_dir, config)
    last_good = copy.deepcopy(snapshot()) if state is None else state
    metrics = open(run_dir / "metrics.jsonl", "a", encoding="utf-8") if group.is_main else open(os.devnull, "w")
    bar = tqdm(total=tc.steps, initial=step, desc=f"training {config.model.kind}", unit="step", disable=not progress)
    start = time.perf_counter()
    try:
        while step < tc.steps:
            x = sampler.next().to(device, non_blocking=True)  # this process's slice of the batch
            terms = train_step(model, x, optimizers, alpha_generator, config.model.kind, tc.lr_max * lr_scale,
                               tc.distance_weight, config.model.vae_beta, autocast, group, nets)
            if not all(math.isfinite(v) for v in terms.values()):
                # Divergence: go back to the last good state with half the learning rate, or stop.
                n_bad += 1
                bad_step = step + 1
                metrics.write(json.dumps({"event": "nonfinite", "step": bad_step, "lr_scale": lr_scale / 2}) + "\n")
                if n_bad > tc.max_bad_steps:
                    raise TrainingError(f"loss became NaN/Inf at step {bad_step} ({n_bad} times); "
                                        f"the last good checkpoint is kept in {run_dir / 'checkpoints'}")
                n_bad_now, lr_scale_now = n_bad, lr_scale
                restore(last_good)
                n_bad, lr_scale = n_bad_now, lr_scale_now / 2  # both survive the rollback
                continue
            step += 1
            if step % tc.log_every == 0 or step == tc.steps:
                record = {"step": step, "time": round(time.perf_counter() - start, 3), **terms}
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                bar.set_postfix({k: f"{terms[k]:.3f}" for k in ("Lr", "Lf", "L_G", "loss") if k in terms})
            bar.update(1)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                last_good = snapshot()
                if group.is_main:
                    ckpt.save_checkpoint(run_dir, step, last_good, tc.keep_last)
                last_good = copy.deepcopy(last_good)
            if group.is_main and tc.sample_every and (step % tc.sample_every == 0 or step == tc.steps):
                from gaia_audio.samples import write_samples

                held = tiles.subset((held_idx if len(held_idx) >= 2 else train_idx)[:6])
                write_samples(model, frontend, held, run_dir / "samples", step, config)
    finally:
        bar.close()
        metrics.close()
    # The longest training unit tells the morph which inputs are single units (time-normalised
    # into one tile) and which need window-by-window alignment.
    if not group.is_main:
        return run_dir
    extra = {"step": step}
    if frontend is not None:
        extra["max_unit_frames"] = int(tiles.n_frames_orig[train_idx].max())
    if config.model.kind == "gaia":  # the realism scale the morph reports against
        extra["d_error_real"] = discriminator_error(model, tiles.tiles, np.sort(train_idx), device)
    ckpt.export_model(run_dir, model, config, tile_shape, extra)
    return run_dir


@torch.no_grad()
def discriminator_error(model: torch.nn.Module, tiles: np.ndarray, index: np.ndarray, device: torch.device,
                        batch_size: int = 64) -> float:
    """Mean |x − D(x)| of GAIA's discriminator over real tiles: the level that realism is relative to.

    Args:
        tiles: (N, C, H, W) tiles (memory-mapped; only one batch is read at a time).
        index: which tiles to score.
    """
    model.eval()
    errors = []
    for i in range(0, len(index), batch_size):
        x = torch.from_numpy(np.asarray(tiles[index[i:i + batch_size]], dtype=np.float32)).to(device)
        errors.append((x - model.discriminator(x)).abs().mean(dim=(1, 2, 3)).cpu())
    model.train()
    return float(torch.cat(errors).mean())
