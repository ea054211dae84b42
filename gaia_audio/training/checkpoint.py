"""Training checkpoints, written atomically and opened without running code.

A checkpoint is one file ``RUN/checkpoints/step_XXXXXXX.pt`` holding only tensors, numbers,
strings and plain containers (read back with ``torch.load(weights_only=True)``, which refuses
pickled code), written through :func:`gaia_audio.io.files.atomic_write`: a crash or a full disk
leaves the previous checkpoint intact. The exported model is :mod:`gaia_audio.models.export`'s.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from gaia_audio.errors import ModelError, TrainingError
from gaia_audio.io.files import atomic_write

CHECKPOINT_RE = re.compile(r"^step_(\d{7,})\.pt$")


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
    with atomic_write(path, error=TrainingError) as tmp:
        torch.save(state, tmp)
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
