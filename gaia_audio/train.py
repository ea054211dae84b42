"""Training: build the model and data from a recipe, then one loop you can read top to bottom.

GAIA's step follows ../shared/gaia-spec.md: encode a batch with the generator, decode it and the
interpolations between its halves, pass all three through the discriminator, and update both
networks from that one forward pass, each with its own Adam and the learning rate sigmoid
balancing sets for this step. The AE and VAE baselines train the generator's autoencoder alone
with Adam at ``lr_max``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gaia_audio import checkpoint as ckpt
from gaia_audio.config import Config, check_values, to_dict
from gaia_audio.data import BatchSampler, build_tile_cache, split_holdout
from gaia_audio.errors import DataError, ModelError, TrainingError
from gaia_audio.frontends import make_frontend
from gaia_audio.losses import ae_loss, gaia_losses, interpolate_codes, sample_alphas, vae_loss
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


def train_step(model: torch.nn.Module, x: torch.Tensor, optimizers: dict, alpha_generator: torch.Generator,
               kind: str, lr_max: float, distance_weight: float, vae_beta: float = 1.0,
               autocast=contextlib.nullcontext) -> dict[str, float]:
    """One update. Returns the flat dict of named loss terms (what gets logged).

    Args:
        model: GAIA model (``generator``, ``discriminator``) or an AE/VAE baseline.
        x: (B, C, H, W) batch in [0, 1] on the model's device; B even for GAIA.
        optimizers: from :func:`make_optimizers`.
        alpha_generator: CPU generator for the interpolation coefficients.
        kind: "gaia" | "ae" | "vae".
        lr_max: the learning-rate ceiling (sigmoid balancing scales it per step for GAIA).
        distance_weight: weight w of the distance loss (GAIA).
        vae_beta: KL weight (VAE).
        autocast: a context manager factory for mixed precision.
    Returns:
        Loss terms as floats. If any is NaN/Inf no parameter has been changed.
    """
    if kind == "gaia":
        G, D = model.generator, model.discriminator
        with autocast():
            z = G.encode(x)                                        # (B, code_dim)
            x_g = G.decode(z)                                      # G(x)
            alpha1 = sample_alphas(x.shape[0] // 2, alpha_generator).to(x.device)
            alpha2 = sample_alphas(x.shape[0] // 2, alpha_generator).to(x.device)
            x_i = G.decode(interpolate_codes(z, alpha1, alpha2))   # G(z_i)
            terms = gaia_losses(x, D(x), x_g, D(x_g), x_i, D(x_i), G.content_code(z),
                                lr_max=lr_max, distance_weight=distance_weight)
        losses = {"discriminator": (terms["L_D"], D), "generator": (terms["L_G"], G)}
        lrs = {"discriminator": float(terms["lr_D"]), "generator": float(terms["lr_G"])}
    elif kind == "vae":
        with autocast():
            mu, logvar = model.encode_dist(x)
            terms = vae_loss(x, model.decode(model.reparameterize(mu, logvar)), mu, logvar, vae_beta)
        losses, lrs = {"model": (terms["loss"], model)}, {"model": lr_max}
    else:
        with autocast():
            terms = ae_loss(x, model(x))
        losses, lrs = {"model": (terms["loss"], model)}, {"model": lr_max}

    logged = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}
    if not all(math.isfinite(v) for v in logged.values()):
        return logged
    # Gradients of each network's own loss, from the same forward pass, before any update.
    grads = {}
    for name, (loss, net) in losses.items():
        params = [p for p in net.parameters() if p.requires_grad]
        grads[name] = (params, torch.autograd.grad(loss.float(), params, retain_graph=True, allow_unused=True))
    if not all(g is None or torch.isfinite(g).all() for _, gs in grads.values() for g in gs):
        logged["grad_nonfinite"] = float("nan")
        return logged
    for name, (params, gs) in grads.items():
        for p, g in zip(params, gs):
            p.grad = None if g is None else g.to(p.dtype)
        _set_lr(optimizers[name], lrs[name])
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
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
    torch.manual_seed(tc.seed)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    device = resolve_device(tc.device)
    use_amp = tc.amp and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    frontend, tiles = load_data(config, progress)
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

        sampler = LinesSampler(config.data.image_size, tc.batch_size, tc.seed)
    else:
        sampler = BatchSampler(tiles.tiles, tc.batch_size, tc.seed, augment_args, index=np.sort(train_idx))
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
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(config)
    if state is None and (ckpt.list_checkpoints(run_dir) or (run_dir / "model.safetensors").exists()):
        raise TrainingError("run folder already holds a run; continue it with --resume, or choose another folder",
                            run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.write_config(run_dir, config)
    last_good = copy.deepcopy(snapshot()) if state is None else state
    metrics = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
    bar = tqdm(total=tc.steps, initial=step, desc=f"training {config.model.kind}", unit="step", disable=not progress)
    start = time.perf_counter()
    try:
        while step < tc.steps:
            x = sampler.next().to(device, non_blocking=True)
            terms = train_step(model, x, optimizers, alpha_generator, config.model.kind, tc.lr_max * lr_scale,
                               tc.distance_weight, config.model.vae_beta, autocast)
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
                ckpt.save_checkpoint(run_dir, step, last_good, tc.keep_last)
                last_good = copy.deepcopy(last_good)
            if tc.sample_every and (step % tc.sample_every == 0 or step == tc.steps):
                from gaia_audio.samples import write_samples

                held = tiles.subset((held_idx if len(held_idx) >= 2 else train_idx)[:6])
                write_samples(model, frontend, held, run_dir / "samples", step, config)
    finally:
        bar.close()
        metrics.close()
    # The longest training unit tells the morph which inputs are single units (time-normalised
    # into one tile) and which need window-by-window alignment.
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
