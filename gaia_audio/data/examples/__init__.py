"""The project's own example datasets, each a module with ``prepare(out, ...)`` and ``main(argv)``.

``zebra_finch`` and ``asterisk`` fetch published recordings; ``speech`` and ``celeba`` read a folder the user
names (``--source``). Only these modules are ever run: a recipe's ``data.prepare`` names one of
:data:`FETCHABLE`, never a path, so a recipe or a shared model cannot make gaia-audio run a file.
"""
from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path
from types import ModuleType

from gaia_audio.bounds import FETCHABLE_DATASETS as FETCHABLE
from gaia_audio.errors import DataError

#: every example dataset, by name (the module of the same name in this package)
NAMES = ("zebra_finch", "asterisk", "speech", "celeba")
#: FETCHABLE: those that can be prepared with no input from the user (``data.prepare`` may name them)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 1, as every other command's are:
    ``error: PROG: message (PROG --help)`` (argparse's own: a usage block and exit 2)."""

    def error(self, message: str):
        self.exit(1, f"error: {self.prog}: {' '.join(message.split())} ({self.prog} --help)\n")


def example_module(name: str) -> ModuleType:
    """The preparation module of example dataset ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise DataError(f"unknown example dataset {name!r} (one of {', '.join(NAMES)})")
    return importlib.import_module(f"{__name__}.{name}")


def prepare_example(name: str, root: str | os.PathLike) -> Path:
    """Fetch example dataset ``name`` (one of :data:`FETCHABLE`) into ``root``; returns its manifest."""
    if name not in FETCHABLE:
        raise DataError(f"the data folder is missing and '{name}' cannot be fetched: prepare it with "
                        f"'gaia-audio prepare {name} --source DIR --out {root}'", root)
    return example_module(name).prepare(Path(root))
