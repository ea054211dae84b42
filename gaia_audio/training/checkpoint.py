"""Training checkpoints, written atomically and opened without running code.

A checkpoint is one file ``RUN/checkpoints/step_XXXXXXX.pt`` holding only tensors, numbers,
strings and plain containers (read back with ``torch.load(weights_only=True)``, which refuses
pickled code), written through :func:`gaia_audio.io.files.atomic_write`: a crash or a full disk
leaves the previous checkpoint intact. The exported model is :mod:`gaia_audio.models.export`'s.

Resuming (:func:`find_resume_checkpoint`) skips a checkpoint that cannot be read (cut off by a
quota or a copy that died) for the newest intact one, saying which; refuses a recipe whose front
end, network shape or data kind contradicts the checkpoint (:func:`check_resume_config`); and can
continue a run in another folder, copying it forward without touching the original
(:func:`copy_run_forward`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from gaia_audio.config import Config, from_dict, resolve_presets, to_dict
from gaia_audio.data.sources import source_for_kind
from gaia_audio.errors import ConfigError, ModelError, TrainingError
from gaia_audio.io.checks import print_note
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
    # Checkpoints past this step (a damaged one skipped on resume) are left to be written over.
    done = [p for p in list_checkpoints(run_dir) if checkpoint_step(p) <= step]
    for old in done[:-keep_last] if keep_last > 0 else []:
        old.unlink(missing_ok=True)
    return path


def checkpoint_step(path: str | os.PathLike) -> int:
    """The step in a checkpoint's name (``step_0000040.pt`` → 40)."""
    return int(CHECKPOINT_RE.match(Path(path).name).group(1))


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


#: what a training checkpoint holds besides optional extras (such as "ema")
STATE_KEYS = ("step", "lr_scale", "n_bad", "config", "tile_shape", "model", "optimizers", "sampler", "noise", "rng")


def read_training_state(path: str | os.PathLike) -> dict:
    """:func:`load_checkpoint`, then check that it holds a whole training state (:data:`STATE_KEYS`).

    Raises:
        ModelError: naming ``path``: missing, unreadable (truncated, corrupt, empty) or incomplete.
    """
    state = load_checkpoint(path)
    missing = [k for k in STATE_KEYS if k not in state] if isinstance(state, dict) else list(STATE_KEYS)
    if missing:
        raise ModelError(f"not a gaia-audio training checkpoint (it lacks {', '.join(missing)})", path)
    return state


def find_resume_checkpoint(resume: str | os.PathLike,
                           on_note: Callable[[str], None] = print_note) -> tuple[Path, dict]:
    """The checkpoint to resume from and its state: the newest intact one of a run folder.

    A checkpoint that cannot be read is skipped, and ``on_note`` gets one line naming it and
    the one used instead. A checkpoint file named directly is used or refused, never replaced.

    Args:
        resume: a run folder, or one checkpoint file.
        on_note: receives each skipped checkpoint's line.
    Returns:
        (checkpoint path, its state).
    Raises:
        ModelError: no checkpoint, or none intact (the message names the files to remove).
    """
    resume = Path(resume)
    if resume.is_file():
        return resume, read_training_state(resume)
    found = list_checkpoints(resume)
    if not found:
        raise ModelError("nothing to resume: the run has no complete checkpoint" if resume.is_dir()
                         else "nothing to resume: no such run folder", resume)
    damaged: list[ModelError] = []
    for path in reversed(found):
        try:
            state = read_training_state(path)
        except ModelError as err:
            damaged.append(err)
            continue
        for err in damaged:
            on_note(f"{err}; skipped, resuming from {path.name} (step {int(state['step'])})")
        return path, state
    raise ModelError(f"no checkpoint of this run can be read ({damaged[0].problem}); remove "
                     f"{' '.join(str(p) for p in found)} and train the run again from the start", resume)


#: the model settings that fix the network's shape (and so what its weights mean)
MODEL_SHAPE_KEYS = ("kind", "size", "width", "n_down", "n_res", "style_n_down", "style_dim", "mlp_dim", "latent_dim")
_WHY = {"frontend": "the tile shape and scale", "model": "the network's shape", "data": "the data the weights model"}


def _with_presets(mapping: dict) -> dict:
    """A config mapping with its null front-end and model-size values taken from its presets (runs
    from before presets were resolved on loading stored nulls); as it is where it cannot be read."""
    try:
        return to_dict(resolve_presets(from_dict(Config, mapping)))
    except (ConfigError, TypeError):
        return mapping


def resume_conflicts(new: dict, saved: dict) -> list[tuple[str, object, object]]:
    """The settings a resumed run may not change, where ``new`` differs from the checkpoint's.

    The network's shape, the data kind, and what the data source says changes its tiles
    (``DataSource.resume_keys``: every front-end field for audio, the image size for images and
    lines). Steps, checkpoint and sample intervals, learning rate and the like may change. A null
    value means its preset's, so a run that stored nulls resumes under the resolved recipe.

    Args:
        new: the resumed recipe with its preset values written out (``to_dict`` of
            ``config.resolve_presets``'s result).
        saved: the checkpoint's ``config``.
    Returns:
        (key, checkpoint's value, new value) for each contradiction, in recipe order.
    """
    kind = new["data"]["kind"]
    keys = [("data", "kind")] + [("model", k) for k in MODEL_SHAPE_KEYS]
    if saved.get("data", {}).get("kind", "audio") == kind:
        keys += source_for_kind(kind).resume_keys(new)
    else:  # data.kind already differs
        keys += [("data", "image_size")]
    full_new, full_saved = _with_presets(new), _with_presets(saved)
    missing = object()
    out = []
    for section, key in keys:
        old = saved.get(section, {}).get(key, missing)
        if old is missing or (old is None and new[section][key] is None):  # both the preset's
            continue
        old, value = full_saved[section].get(key, old), full_new[section].get(key, new[section][key])
        if old != value:
            out.append((f"{section}.{key}", old, value))
    return out


def check_resume_config(new: dict, saved: dict, path: str | os.PathLike) -> None:
    """Refuse a resumed recipe that contradicts the checkpoint at ``path`` (:func:`resume_conflicts`).

    Raises:
        ModelError: naming the checkpoint and every changed key with both values.
    """
    conflicts = resume_conflicts(new, saved)
    if conflicts:
        changes = ", ".join(f"{key} ({old!r} -> {value!r})" for key, old, value in conflicts)
        why = " and ".join(dict.fromkeys(_WHY[key.split(".")[0]] for key, _, _ in conflicts))
        raise ModelError(f"--resume cannot change {changes}: that changes {why} the checkpoint was trained on; "
                         "start a new run (another --run-dir) for new settings", path)


def holds_run(run_dir: str | os.PathLike) -> bool:
    """Whether a folder already holds a training run (a checkpoint or an exported model)."""
    return bool(list_checkpoints(run_dir)) or (Path(run_dir) / "model.safetensors").exists()


_SAMPLE_RE = re.compile(r"^step_(\d{7,})\.\w+$")


def copy_run_forward(source_run: str | os.PathLike | None, checkpoint: str | os.PathLike, step: int,
                     run_dir: str | os.PathLike) -> None:
    """Start ``run_dir`` as ``source_run`` was at ``checkpoint``, to go on there; the source is only read.

    Copies the metrics and sample previews up to ``step`` and the checkpoint itself (last, so
    ``run_dir`` holds a run only once the copy is whole), each file atomically. The metrics gain
    an event line saying where the run came from.

    Args:
        source_run: the run folder resumed from (None for a checkpoint file outside any run).
        checkpoint: the checkpoint resumed from.
        step: its step.
        run_dir: the new run folder (created if missing; it must not hold a run).
    Raises:
        TrainingError: ``run_dir`` already holds a run, or a file cannot be written.
    """
    run_dir = Path(run_dir)
    if holds_run(run_dir):
        raise TrainingError("run folder already holds a run; continue it with --resume, or choose another folder",
                            run_dir)
    source_run = Path(source_run) if source_run is not None else None
    lines = []
    metrics = source_run / "metrics.jsonl" if source_run is not None else None
    for line in metrics.read_text(encoding="utf-8").splitlines() if metrics and metrics.is_file() else []:
        try:
            record_step = json.loads(line).get("step", 0)
        except (ValueError, AttributeError):  # a line cut off by a crash
            continue
        if isinstance(record_step, int) and record_step <= step:
            lines.append(line)
    lines.append(json.dumps({"event": "copied_from", "checkpoint": str(checkpoint), "step": step}))
    with atomic_write(run_dir / "metrics.jsonl", error=TrainingError) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    samples = source_run / "samples" if source_run is not None else None
    for path in sorted(samples.iterdir()) if samples and samples.is_dir() else []:
        if (m := _SAMPLE_RE.match(path.name)) and int(m.group(1)) <= step and path.is_file():
            with atomic_write(run_dir / "samples" / path.name, error=TrainingError) as tmp:
                shutil.copyfile(path, tmp)
    with atomic_write(run_dir / "checkpoints" / f"step_{step:07d}.pt", error=TrainingError) as tmp:
        shutil.copyfile(checkpoint, tmp)
