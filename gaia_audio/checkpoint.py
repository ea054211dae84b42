"""Checkpoints and exported models, written atomically and opened without running code.

A training checkpoint is one file ``RUN/checkpoints/step_XXXXXXX.pt`` holding only tensors,
numbers, strings and plain containers (read back with ``torch.load(weights_only=True)``, which
refuses pickled code). An exported model is ``model.safetensors`` (weights, with the merged recipe
as YAML and the tile shape in its metadata) plus ``config.yaml`` beside it. Every write goes to a
temporary file in the same folder, is flushed to disk, and is renamed into place: a crash or a
full disk leaves the previous file intact.
"""
from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gaia_audio import __version__
from gaia_audio.config import Config, from_dict, to_dict
from gaia_audio.errors import ModelError, TrainingError

CHECKPOINT_RE = re.compile(r"^step_(\d{7,})\.pt$")


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, fsync, and rename over ``path``; clean up on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise TrainingError("disk full while writing; the previous file is intact", path) from None
        raise TrainingError(f"could not write ({err.strerror or err})", path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(run_dir: str | os.PathLike, step: int, state: dict, keep_last: int = 3) -> Path:
    """Write ``state`` as checkpoint ``step`` of a run and keep only the newest ``keep_last``.

    Args:
        run_dir: the run folder.
        step: the training step the state is at.
        state: plain data and tensors only (models', optimizers' and samplers' state dicts, RNG
            states as uint8 tensors, config mapping).
        keep_last: how many checkpoints to keep (older ones are deleted after the write succeeds).
    Returns:
        The checkpoint's path.
    """
    ckpt_dir = Path(run_dir) / "checkpoints"
    path = ckpt_dir / f"step_{step:07d}.pt"
    _atomic_write(path, lambda tmp: torch.save(state, tmp))
    for old in list_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary files are never listed)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint without executing anything in it (pickled code is refused)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("no such checkpoint", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError for payloads, RuntimeError for truncated zips
        problem = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise ModelError(f"not a usable gaia-audio checkpoint ({problem})", path) from None


def export_model(run_dir: str | os.PathLike, model: torch.nn.Module, config: Config,
                 tile_shape: tuple[int, int, int], extra: dict | None = None) -> Path:
    """Write ``RUN/model.safetensors`` (weights + recipe metadata) and ``RUN/config.yaml``.

    Args:
        run_dir: the run folder.
        model: the trained model (all of it: a GAIA model keeps its discriminator, which the
            morph uses to score realism).
        config: the merged recipe the model was trained with.
        tile_shape: (C, n_freq, n_frames) of the model's input.
        extra: further JSON-able metadata (e.g. the training step, realism reference level).
    Returns:
        Path of the safetensors file.
    """
    run_dir = Path(run_dir)
    config_yaml = yaml.safe_dump(to_dict(config), sort_keys=False)
    metadata = {"format": "gaia-audio", "version": __version__, "config": config_yaml,
                "tile_shape": json.dumps(list(tile_shape)), "extra": json.dumps(extra or {})}
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    path = run_dir / "model.safetensors"
    _atomic_write(path, lambda tmp: save_file(weights, str(tmp), metadata=metadata))
    write_config(run_dir, config)
    return path


def write_config(run_dir: str | os.PathLike, config: Config) -> Path:
    """Write the merged recipe as ``RUN/config.yaml`` (what ``--resume`` and later commands read)."""
    path = Path(run_dir) / "config.yaml"
    text = yaml.safe_dump(to_dict(config), sort_keys=False)
    _atomic_write(path, lambda tmp: tmp.write_text(text))
    return path


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A run folder or a ``.safetensors`` file → the exported model's file."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
        if not path.is_file():
            raise ModelError("run folder has no exported model.safetensors (training not finished?)", path.parent)
    elif not path.is_file():
        raise ModelError("no such model file or run folder", path)
    return path


def read_exported(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], Config, tuple[int, int, int], dict]:
    """Open an exported model: (weights, config, tile_shape, extra metadata). Runs no code."""
    path = resolve_model_path(path)
    try:
        weights = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"not a gaia-audio model ({str(err).splitlines()[0][:120]})", path) from None
    if metadata.get("format") != "gaia-audio" or "config" not in metadata:
        raise ModelError("not a gaia-audio model (safetensors file without gaia-audio metadata)", path)
    try:
        config = from_dict(Config, yaml.safe_load(metadata["config"]) or {}, str(path))
        tile_shape = tuple(int(v) for v in json.loads(metadata["tile_shape"]))
        extra = json.loads(metadata.get("extra", "{}"))
    except (yaml.YAMLError, ValueError, TypeError) as err:
        raise ModelError(f"model metadata is damaged ({err})", path) from None
    if len(tile_shape) != 3:
        raise ModelError("model metadata is damaged (tile shape)", path)
    return weights, config, tile_shape, extra
