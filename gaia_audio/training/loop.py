"""Training: build the model and data from a recipe, then one loop you can read top to bottom.

Each step draws a batch, calls the model kind's objective (:mod:`.objectives`: GAIA's
discriminator and generator updates, or a baseline's), logs its named terms, and now and then
writes a checkpoint and preview samples. A step whose loss is NaN/Inf rolls back to the last
checkpointed state with half the learning rate. Under torchrun every process runs this same
loop on its slice of the batch (see :mod:`.distributed`); rank 0 alone writes.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gaia_audio.bounds import check_values
from gaia_audio.config import Config, resolve_presets, to_dict
from gaia_audio.data.cache import split_holdout
from gaia_audio.data.sources import source_for
from gaia_audio.errors import ModelError, TrainingError
from gaia_audio.io.checks import print_note
from gaia_audio.models import build_model
from gaia_audio.models.export import export_model, write_config
from gaia_audio.training import checkpoint as ckpt
from gaia_audio.training import distributed
from gaia_audio.training.distributed import Group
from gaia_audio.training.ema import GeneratorEMA, with_averaged_generator
from gaia_audio.training.lock import run_lock
from gaia_audio.training.objectives import Objective, make_objective
from gaia_audio.training.report import write_run_page


def resolve_device(name: str) -> torch.device:
    """"auto" → the first CUDA device if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise TrainingError(f"train.device={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)"
                            " (use auto or cpu)")
    return device


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
        run_dir: where to write the run (default: a new folder under ``config.runs_dir``). With
            ``resume``, another folder than the resumed run's: the run is copied forward into it
            and goes on there, the resumed folder only read.
        resume: a run folder (its newest intact checkpoint; damaged ones are skipped with a note)
            or a checkpoint file, to continue exactly from.
        progress: show progress bars.
    Returns:
        The run folder, holding ``model.safetensors``, ``config.yaml``, ``metrics.jsonl``,
        ``checkpoints/`` and ``samples/``.
    Raises:
        TrainingError: another process is training in the run folder (its lock names it).
        ModelError: nothing intact to resume, or the recipe contradicts the checkpoint.
    """
    check_values(config)
    tc = config.train
    group, device_name = distributed.setup(tc.device, tc.batch_size)
    try:
        state, copy_from = None, None
        if resume is not None:
            checkpoint, state = ckpt.find_resume_checkpoint(resume, print_note if group.is_main else lambda _: None)
            run_dir, copy_from = resume_target(config, Path(resume), checkpoint, state, run_dir)
        run_dir = Path(run_dir) if run_dir is not None else group.broadcast(new_run_dir(config))
        with run_lock(run_dir) if group.is_main else contextlib.nullcontext():  # one writer: rank 0
            if copy_from is not None and group.is_main:
                ckpt.copy_run_forward(*copy_from, run_dir)
            run_dir = _train(config, group, resolve_device(device_name), run_dir, state, progress and group.is_main)
    except BaseException:
        distributed.teardown(group, wait=False)  # the others stop too (torchrun ends the group)
        raise
    distributed.teardown(group)
    return run_dir


def resume_target(config: Config, resume: Path, checkpoint: Path, state: dict,
                  run_dir: str | Path | None) -> tuple[Path, tuple | None]:
    """Where a resumed run goes on, after refusing a recipe that contradicts its checkpoint.

    Args:
        config: the resumed recipe.
        resume: ``--resume`` as given: a run folder or a checkpoint file.
        checkpoint, state: the checkpoint resumed from and its content.
        run_dir: ``--run-dir``, or None.
    Returns:
        (run folder, None) to go on in the resumed run's own folder, or (``run_dir``,
        ``copy_run_forward``'s first three arguments) to copy the run forward into ``run_dir``.
    Raises:
        ModelError: the recipe changes the front end, network shape or data kind, or a loose
            checkpoint file is resumed without ``run_dir``.
    """
    source_for(config)  # an unknown data.kind is refused before anything else
    ckpt.check_resume_config(to_dict(resolve_presets(config)), state["config"], checkpoint)
    source = resume if resume.is_dir() else resume.parent.parent if resume.parent.name == "checkpoints" else None
    if run_dir is None and source is None:
        raise ModelError("this checkpoint is not inside a run's checkpoints/ folder: give --run-dir for the run to "
                         "go on in", resume)
    if run_dir is None or (source is not None and Path(run_dir).resolve() == source.resolve()):
        return source, None
    return Path(run_dir), (source, checkpoint, int(state["step"]))


def _train(config: Config, group: Group, device: torch.device, run_dir: Path | None, state: dict | None,
           progress: bool) -> Path:
    """:func:`train` for one process of ``group``; every process runs this same loop."""
    tc = config.train
    torch.manual_seed(tc.seed)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    use_amp = tc.amp and device.type == "cuda"  # bfloat16 autocast on CUDA only
    autocast = functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext

    if not group.is_main:  # rank 0 prepares the data and builds the cache; the others then read it
        group.barrier()
    source = source_for(config)
    frontend, tiles = source.load(config, progress)
    if group.is_main:
        group.barrier()
    tile_shape = tuple(int(n) for n in tiles.tiles.shape[1:])  # (C, H, W)
    config = resolve_presets(config)  # a run states every value its model is built with (API configs hold None)
    model = build_model(tile_shape, **dataclasses.asdict(config.model)).to(device)
    train_idx, held_idx = split_holdout(tiles, config.data.holdout)
    objective = make_objective(model, tc.lr_max, tc.distance_weight, config.model.vae_beta, group, device, autocast)
    objective.check_batch_size(tc.batch_size)
    sampler = source.sampler(config, frontend, tiles.tiles, np.sort(train_idx), part=(group.rank, group.world_size))
    noise = torch.Generator().manual_seed(tc.seed + 1)  # interpolation coefficients, VAE noise
    ema = GeneratorEMA(getattr(model, "generator", model), tc.ema_kimg, tc.ema_rampup)  # ema_kimg 0: the weights
    step, lr_scale, n_bad = 0, 1.0, 0

    def snapshot() -> dict:
        return {"step": step, "lr_scale": lr_scale, "n_bad": n_bad, "config": to_dict(config),
                "tile_shape": list(tile_shape), "model": model.state_dict(), "optimizers": objective.state_dict(),
                "sampler": sampler.state_dict(), "noise": noise.get_state(), "rng": _rng_state(),
                "ema": ema.state_dict()}

    def restore(saved: dict) -> None:
        nonlocal step, lr_scale, n_bad
        load_snapshot(saved, model, objective, sampler, noise, tile_shape, run_dir)
        # a checkpoint from before the average was kept starts it at its weights
        ema.load_state_dict(saved.get("ema") or getattr(model, "generator", model).state_dict())
        step, lr_scale, n_bad = int(saved["step"]), float(saved["lr_scale"]), int(saved["n_bad"])

    if state is not None:
        restore(state)
    run_dir = open_run_dir(run_dir, config, group, resuming=state is not None)
    last_good = copy.deepcopy(snapshot()) if state is None else state
    metrics = open(run_dir / "metrics.jsonl", "a", encoding="utf-8") if group.is_main else open(os.devnull, "w")
    bar = tqdm(total=tc.steps, initial=step, desc=f"training {config.model.kind}", unit="step", disable=not progress)
    start = time.perf_counter()
    try:
        while step < tc.steps:
            x = sampler.next().to(device, non_blocking=True)  # this process's slice of the batch
            terms = objective.step(x, noise, lr_scale)
            if not all(math.isfinite(v) for v in terms.values()):
                # Divergence: go back to the last good state with half the learning rate, or stop.
                n_bad += 1
                metrics.write(json.dumps({"event": "nonfinite", "step": step + 1, "lr_scale": lr_scale / 2}) + "\n")
                if n_bad > tc.max_bad_steps:
                    raise TrainingError(f"loss became NaN/Inf at step {step + 1} ({n_bad} times); "
                                        f"the last good checkpoint is kept in {run_dir / 'checkpoints'}")
                n_bad_now, lr_scale_now = n_bad, lr_scale
                restore(last_good)
                n_bad, lr_scale = n_bad_now, lr_scale_now / 2  # both survive the rollback
                continue
            step += 1
            ema.update(getattr(model, "generator", model), step * tc.batch_size, tc.batch_size)
            if step % tc.log_every == 0 or step == tc.steps:
                metrics.write(json.dumps({"step": step, "time": round(time.perf_counter() - start, 3), **terms}) + "\n")
                metrics.flush()
                bar.set_postfix({k: f"{terms[k]:.3f}" for k in ("Lr", "Lf", "L_G", "loss") if k in terms})
            bar.update(1)
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                last_good = snapshot()
                if group.is_main:
                    ckpt.save_checkpoint(run_dir, step, last_good, tc.keep_last)
                    write_run_page(run_dir)
                last_good = copy.deepcopy(last_good)
            if group.is_main and tc.sample_every and (step % tc.sample_every == 0 or step == tc.steps):
                from gaia_audio.training.previews import write_previews

                held = tiles.subset((held_idx if len(held_idx) >= 2 else train_idx)[:6])
                write_previews(model, frontend, held, run_dir / "samples", step, config)
                write_run_page(run_dir)
    finally:
        bar.close()
        metrics.close()
    if group.is_main:
        averaged = with_averaged_generator(model, ema)  # what the run exports: the averaged generator
        export(run_dir, averaged, objective, config, tiles, train_idx, frontend, step, device)
    return run_dir


def open_run_dir(run_dir: Path | None, config: Config, group: Group, resuming: bool) -> Path:
    """The run folder (a new one under ``runs_dir`` by default), created with its config.yaml.

    Raises:
        TrainingError: a new run was asked for in a folder that already holds one.
    """
    run_dir = Path(run_dir) if run_dir is not None else group.broadcast(new_run_dir(config))
    if not resuming and (ckpt.list_checkpoints(run_dir) or (run_dir / "model.safetensors").exists()):
        raise TrainingError("run folder already holds a run; continue it with --resume, or choose another folder",
                            run_dir)
    group.barrier()  # every process has looked before rank 0 writes
    if group.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, config)
    return run_dir


def load_snapshot(saved: dict, model: torch.nn.Module, objective: Objective, sampler, noise: torch.Generator,
                  tile_shape: tuple[int, ...], run_dir: Path | None) -> None:
    """Put a checkpointed (or in-memory) training state back into the model, optimizers, sampler and RNGs."""
    if list(saved["tile_shape"]) != list(tile_shape):
        raise ModelError(f"checkpoint tile shape {tuple(saved['tile_shape'])} does not match the recipe's "
                         f"{tile_shape}", run_dir)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as err:
        raise ModelError(f"checkpoint does not fit the recipe's model ({str(err).splitlines()[0]})",
                         run_dir) from None
    objective.load_state_dict(saved["optimizers"])
    sampler.load_state_dict(saved["sampler"])
    noise.set_state(saved["noise"])
    _set_rng_state(saved["rng"])


def export(run_dir: Path, model: torch.nn.Module, objective: Objective, config: Config, tiles, train_idx: np.ndarray,
           frontend, step: int, device: torch.device) -> Path:
    """Export the trained model with what the morph needs to know about its training data."""
    extra = {"step": step, **objective.export_extra(tiles.tiles, np.sort(train_idx), device)}
    if source_for(config).has_sound:
        # The longest training unit tells the morph which inputs are single units (time-normalised
        # into one tile) and which need window-by-window alignment.
        extra["max_unit_frames"] = int(tiles.n_frames_orig[train_idx].max())
    extra["code_stats"] = code_stats(model, tiles.tiles, np.sort(train_idx), device)
    path = export_model(run_dir, model, config, tuple(int(n) for n in tiles.tiles.shape[1:]), extra)
    write_run_page(run_dir)
    return path


@torch.no_grad()
def code_stats(model: torch.nn.Module, tiles: np.ndarray, index: np.ndarray, device: torch.device,
               batch_size: int = 64) -> dict:
    """Mean and standard deviation (each a list of code_dim floats) of the training tiles' codes.

    A morph's per-pair tuning draws its locality anchors from this Gaussian (``morph.tune``).
    """
    was_training = model.training
    model.eval()
    codes = torch.cat([model.encode(torch.from_numpy(np.asarray(tiles[index[i:i + batch_size]], np.float32))
                                    .to(device)).float().cpu() for i in range(0, len(index), batch_size)])
    model.train(was_training)
    return {"mean": [round(float(v), 6) for v in codes.mean(0)],
            "std": [round(float(v), 6) for v in codes.std(0, unbiased=False)]}
