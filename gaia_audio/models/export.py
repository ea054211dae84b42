"""Exported models: ``model.safetensors`` plus ``config.yaml``, written atomically, opened without running code.

An exported model is ``RUN/model.safetensors``: the weights, with the merged recipe as YAML, the
tile shape and further JSON metadata (training step, realism reference) in its header, and
``RUN/config.yaml`` beside it. :func:`load_network` is the one loader every command uses; a
safetensors file holds tensors and strings only, so opening one never executes anything.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from gaia_audio import __version__, pretrained
from gaia_audio.bounds import MAX_TILE_SIDE, check_model_values
from gaia_audio.config import Config, from_dict, resolve_presets, safe_load, to_dict
from gaia_audio.errors import ConfigError, ModelError, TrainingError
from gaia_audio.io.files import atomic_write, write_text
from gaia_audio.models import build_model
from gaia_audio.models.blocks import no_weight_init
from gaia_audio.spectral.presets import make_frontend


def export_model(run_dir: str | os.PathLike, model: torch.nn.Module, config: Config,
                 tile_shape: tuple[int, int, int], extra: dict | None = None) -> Path:
    """Write ``RUN/model.safetensors`` (weights + recipe metadata) and ``RUN/config.yaml``.

    Args:
        run_dir: the run folder.
        model: the trained model (all of it: a GAIA model keeps its discriminator, which the
            morph uses to score realism).
        config: the merged recipe the model was trained with (stored with its presets resolved).
        tile_shape: (C, n_freq, n_frames) of the model's input.
        extra: further JSON-able metadata (e.g. the training step, realism reference level).
    Returns:
        Path of the safetensors file.
    """
    run_dir = Path(run_dir)
    config = resolve_presets(config)  # the stored recipe states every value the model is built with
    metadata = {"format": "gaia-audio", "version": __version__,
                "config": yaml.safe_dump(to_dict(config), sort_keys=False),
                "tile_shape": json.dumps(list(tile_shape)), "extra": json.dumps(extra or {})}
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    path = run_dir / "model.safetensors"
    with atomic_write(path, error=TrainingError) as tmp:
        save_file(weights, str(tmp), metadata=metadata)
    write_config(run_dir, config)
    return path


def write_config(run_dir: str | os.PathLike, config: Config) -> Path:
    """Write the merged recipe, its presets resolved, as ``RUN/config.yaml`` (what ``--resume`` and later
    commands read)."""
    return write_text(Path(run_dir) / "config.yaml", yaml.safe_dump(to_dict(resolve_presets(config)), sort_keys=False))


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A run folder, a ``.safetensors`` file or a shipped model's name → the exported model's file."""
    shipped = pretrained.find(path)
    if shipped is not None:
        return shipped / pretrained.MODEL_FILE
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
        if not path.is_file():
            raise ModelError("run folder has no exported model.safetensors (training not finished?)", path.parent)
    elif not path.is_file():
        raise ModelError(f"no such model file or run folder, nor a shipped model ({', '.join(pretrained.names())})",
                         path)
    return path


def read_exported(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], Config, tuple[int, int, int], dict]:
    """Open an exported model: (weights, config with its presets resolved, tile_shape, extra metadata). Runs no code."""
    path = resolve_model_path(path)
    try:
        weights = load_file(str(path))
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"not a gaia-audio model ({str(err).splitlines()[0][:120]})", path) from None
    if metadata.get("format") != "gaia-audio" or "config" not in metadata:
        raise ModelError("not a gaia-audio model (safetensors file without gaia-audio metadata)", path)
    try:
        config = from_dict(Config, safe_load(metadata["config"]) or {}, str(path))
        tile_shape = tuple(int(v) for v in json.loads(metadata["tile_shape"]))
        extra = json.loads(metadata.get("extra", "{}"))
    except (yaml.YAMLError, ValueError, TypeError) as err:
        raise ModelError(f"model metadata is damaged ({err})", path) from None
    if len(tile_shape) != 3 or not all(1 <= v <= MAX_TILE_SIDE for v in tile_shape):
        raise ModelError(f"model metadata is damaged (tile shape {tile_shape})", path)
    check_extra(extra, path)
    config = resolve_presets(config, str(path))  # a model exported before presets were resolved stores nulls
    check_stored_config(config, path)
    return weights, config, tile_shape, extra


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_extra(extra, path: str | os.PathLike) -> None:
    """Refuse exported metadata whose known keys hold the wrong kind of value (a list where a number
    belongs, a string for the code statistics), before anything computes with them.

    Raises:
        ModelError: naming the key and ``path``.
    """
    if not isinstance(extra, dict):
        raise ModelError("model metadata is damaged (its 'extra' is not a mapping)", path)
    rules = {"step": lambda v: _finite(v) and v >= 0, "d_error_real": lambda v: v is None or (_finite(v) and v >= 0),
             "max_unit_frames": lambda v: v is None or (_finite(v) and 1 <= v <= 10**9)}
    for key, ok in rules.items():
        if key in extra and not ok(extra[key]):
            raise ModelError(f"model metadata is damaged ('{key}' is {extra[key]!r:.40})", path)
    stats = extra.get("code_stats")
    if stats is not None:
        good = isinstance(stats, dict) and all(
            isinstance(stats.get(k), list) and stats[k] and all(_finite(v) for v in stats[k]) for k in ("mean", "std"))
        if not good or len(stats["mean"]) != len(stats["std"]):
            raise ModelError("model metadata is damaged ('code_stats' is not two equal lists of numbers)", path)


def check_stored_config(config: Config, path: str | os.PathLike) -> None:
    """Refuse a model file whose stored recipe holds a value out of bounds, before it is used.

    Each front-end, inversion and model value must lie within the bounds a recipe's must
    (:func:`gaia_audio.bounds.check_model_values`: ``inversion.n_iter: 1e9`` would hang a
    morph), and together the front-end values must make a front end that works (its sample
    rate holds its band).

    Raises:
        ConfigError: naming the key, its value and ``path``.
    """
    check_model_values(config, str(path))
    try:
        make_frontend(**dataclasses.asdict(config.frontend))
    except ConfigError as err:  # e.g. frontend.sr 1000 under zebra_finch's band up to 8 kHz
        fc = config.frontend
        raise ConfigError(f"its stored front end (frontend.preset {fc.preset!r}, frontend.sr {fc.sr!r}) cannot work: "
                          f"{err.problem}", path) from None


def load_network(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Config, dict]:
    """The network of an exported model, in eval mode, with its recipe and metadata.

    Args:
        path: a run folder or its ``model.safetensors``.
        device: where the network goes.
    Returns:
        (model, its recipe, the exported metadata, which holds ``tile_shape`` too).
    Raises:
        ModelError: missing file, not a gaia-audio model, or weights that do not fit the recipe.
        ConfigError: a stored recipe value out of bounds (:func:`check_stored_config`).
    """
    file = resolve_model_path(path)
    weights, config, tile_shape, extra = read_exported(file)
    with no_weight_init():  # the strict load below sets every weight
        model = build_model(tuple(tile_shape), **dataclasses.asdict(config.model))
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise ModelError(f"weights do not fit the model the recipe describes ({str(err).splitlines()[0]})",
                         file) from None
    return model.to(device).eval(), config, {**extra, "tile_shape": list(tile_shape), "path": str(file)}
