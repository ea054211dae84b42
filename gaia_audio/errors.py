"""The project's own error: one line for the user, naming the file and the problem."""
from __future__ import annotations

import os


class GaiaError(Exception):
    """A user-facing error. ``str(err)`` is one line; the CLI prints it without a traceback.

    Args:
        message: what went wrong, in one line.
        path: the file or folder concerned, if any; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = " ".join(str(message).split())  # force a single line
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


class AudioError(GaiaError):
    """An audio file is missing, empty, unreadable, or holds unusable samples."""


class ConfigError(GaiaError):
    """A recipe, override or config value is wrong."""


class DataError(GaiaError):
    """A dataset folder, manifest or cache is missing or unusable."""


class ModelError(GaiaError):
    """A model or checkpoint file is missing, not a model, unsafe, or does not fit."""


class TrainingError(GaiaError):
    """Training cannot go on (a NaN/Inf loss, a full disk)."""
