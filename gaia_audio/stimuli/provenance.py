"""``provenance.json``: what made a continuum folder, so a lab can say exactly how its stimuli were made.

Built here, not by the command line, so a continuum written from Python records the same things
as one written by ``gaia-audio morph`` (the command line adds the command it ran).
"""
from __future__ import annotations

import os
import sys

from gaia_audio.config import to_dict
from gaia_audio.io.files import file_sha256


def build_provenance(form: str, vm, results: list, inputs: list[str | os.PathLike], morph: dict, seed: int = 0,
                     command: str | None = None, argv: list[str] | None = None) -> dict:
    """The provenance of a continuum folder (``stimuli.export.export`` adds the files and versions).

    Args:
        form: what was made: "pair", "pairs", "grid", "barycentric" or "attribute"
            (``stimuli.continua.FORMS``).
        vm: the model the continua were made with (``morph.model.VocalModel``); its hash is the
            one taken when it was loaded, not the file's now.
        results: the ``MorphResult`` of each continuum (their notes and tuning reports are kept).
        inputs: the sound files read.
        morph: the series' settings: steps, alpha_range, path, spacing.
        seed: torch's seed.
        command: the command that ran, re-runnable as it is (None from Python).
        argv: the process's arguments (None: ``sys.argv``).
    Returns:
        a JSON-able dict.
    """
    return {
        "form": form, "command": command, "argv": list(sys.argv if argv is None else argv), "seed": seed,
        "model": {"path": str(vm.path), "sha256": vm.checksum(), "kind": vm.kind, "extra": vm.extra},
        "recipe": to_dict(vm.config),
        "morph": dict(morph),
        "tuning": {r.name: r.tuning for r in results if getattr(r, "tuning", None)},
        "inputs": [{"path": str(p), "sha256": file_sha256(p)} for p in inputs],
        "notes": list(dict.fromkeys(n for r in results for n in r.notes)),
    }
