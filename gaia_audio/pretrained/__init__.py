"""The shipped models: trained weights inside the package, loaded by name as recipes are.

Each model is a folder here, ``pretrained/NAME/``, holding what a run folder's export holds and
what its users need to trust it:

* ``model.safetensors``: the exported model (EMA generator and discriminator), float tensors
  stored in half precision (:func:`pack`); the loader widens them to float32;
* ``config.yaml``: the merged recipe it was trained with (``gaia-audio train`` rebuilds it);
* ``MODEL_CARD.md``: data, recipe, the command that reproduces it, steps, hardware, wall time and
  its figures on held-out pairs beside WORLD and a cross-fade;
* ``card.json``: the card's figures for its example pair, which the tests reproduce;
* ``examples/``: that pair, two held-out recordings, so the model can be heard with no download.

``gaia-audio morph a.wav b.wav`` uses :data:`DEFAULT_MODEL`; ``--model NAME`` any other. A path
that exists always wins over a name, so a run folder called ``speech`` is still that folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from gaia_audio.errors import ModelError

#: where the shipped models live (inside the installed package)
PRETRAINED_DIR = Path(__file__).resolve().parent
#: the model ``gaia-audio morph`` and ``continuum`` use without ``--model``: birdsong, because the
#: brief's users are mostly songbird labs and per-pair tuning carries it to species it never saw
DEFAULT_MODEL = "birdsong"
MODEL_FILE = "model.safetensors"


def names() -> list[str]:
    """The shipped models' names (folders here holding a ``model.safetensors``), sorted."""
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / MODEL_FILE).is_file())


def find(name: str | os.PathLike) -> Path | None:
    """The folder of shipped model ``name``, or None if ``name`` is not one (or is a path that exists).

    Args:
        name: what the user gave as ``--model``: a shipped model's name, or a path.
    """
    text = os.fspath(name)
    if Path(text).exists() or not text or text in (".", "..") or "/" in text or os.sep in text:
        return None
    return PRETRAINED_DIR / text if text in names() else None


def model_dir(name: str) -> Path:
    """The folder of shipped model ``name``.

    Raises:
        ModelError: ``name`` is not a shipped model (the message lists them).
    """
    folder = find(name)
    if folder is None:
        raise ModelError(f"no shipped model '{name}' (shipped: {', '.join(names()) or 'none'})")
    return folder


def card(name: str) -> dict:
    """The machine-readable figures of shipped model ``name`` (its ``card.json``).

    Returns:
        dict with at least ``example``: {"a", "b" (paths relative to the model folder), "steps",
        "tune_steps", "fidelity_db": [first, last]}.
    """
    return json.loads((model_dir(name) / "card.json").read_text(encoding="utf-8"))


def pack(run_dir: str | os.PathLike, name: str, root: str | os.PathLike = PRETRAINED_DIR,
         data_root: str | None = None) -> Path:
    """Copy a run's exported model into ``root/name/`` as a shipped model: half-precision floats, its recipe.

    Only what inference and tuning read is kept (the exported model has no optimizer state); the
    header's metadata is kept as it is. Run it on a finished run, then write the card by hand
    from ``benchmarks/continuum_quality.py``'s figures.

    Args:
        run_dir: the run folder (or its model.safetensors).
        name: the shipped model's name (a folder name: letters, digits, ``_``).
        root: where the model folders live (the package's own folder by default).
        data_root: write this ``data.root`` into the stored recipe (the recipe's own relative
            folder, where the run was trained on a copy elsewhere); None keeps the run's.
    Returns:
        Path of the written ``model.safetensors``.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from gaia_audio.io.files import atomic_write, write_text

    if not name.replace("_", "").isalnum():
        raise ModelError(f"a shipped model's name is letters, digits and '_', got {name!r}")
    source = Path(run_dir)
    source = source / MODEL_FILE if source.is_dir() else source
    if not source.is_file():
        raise ModelError("no exported model here (training not finished?)", source)
    weights = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in load_file(str(source)).items()}
    with safe_open(str(source), framework="pt") as fh:
        metadata = dict(fh.metadata() or {})
    if data_root is not None:
        import yaml

        from gaia_audio.config import safe_load

        config = safe_load(metadata["config"])
        config["data"]["root"] = data_root
        metadata["config"] = yaml.safe_dump(config, sort_keys=False)
    out = Path(root) / name
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / MODEL_FILE, error=ModelError) as tmp:
        save_file(weights, str(tmp), metadata=metadata)
    write_text(out / "config.yaml", metadata.get("config", ""))
    return out / MODEL_FILE
