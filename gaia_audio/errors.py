"""The project's own error: one line for the user, naming the file and the problem."""
from __future__ import annotations

import os
import re


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


class BandError(AudioError):
    """A recording's sample rate cannot hold a front end's band: the model, not the file, must change."""


class ConfigError(GaiaError):
    """A recipe, override or config value is wrong."""


class DataError(GaiaError):
    """A dataset folder, manifest or cache is missing or unusable."""


class ModelError(GaiaError):
    """A model or checkpoint file is missing, not a model, unsafe, or does not fit."""


class TrainingError(GaiaError):
    """Training cannot go on (a NaN/Inf loss, a full disk)."""


#: gaia-audio's own temporary names: ``.NAME.tmp-PID`` / ``.NAME.old-PID`` (a folder being written or
#: replaced, :mod:`gaia_audio.stimuli.export`) and ``.NAME.PID.tmp…`` (a file being written,
#: :func:`gaia_audio.io.files.atomic_write`). An error shows NAME: the user never named the temporary.
_TEMPORARY_NAME = re.compile(r"^\.(?P<name>.+?)(?:\.(?:tmp|old)-\d+|\.\d+\.tmp(?:\.[^.]*)?)$")


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as the user knows it: each temporary component of gaia-audio's replaced by the name it becomes.

    Args:
        path: a path as an error holds it, e.g. ``out/.morph.tmp-123/step_00.wav``.
    Returns:
        e.g. ``out/morph/step_00.wav``; any other path unchanged (relative stays relative).
    """
    parts = os.fspath(path).split(os.sep)
    return os.sep.join(m.group("name") if (m := _TEMPORARY_NAME.match(p)) else p for p in parts)


def one_line(err: BaseException) -> str:
    """The one line ``PATH: problem`` (or ``problem``) that the CLI prints after ``error: `` for ``err``.

    A :class:`GaiaError` gives its path and problem; an ``OSError`` (a read-only folder, a full
    disk, a permission) its file name and the system's reason, so no failure needs a traceback.
    Paths are shown as the user gave them, with gaia-audio's temporary names undone
    (:func:`shown_path`).
    """
    if isinstance(err, GaiaError):
        path, problem = err.path, err.problem
    elif isinstance(err, OSError):
        problem = err.strerror or str(err) or type(err).__name__  # "Read-only file system", "No space left ..."
        path = err.filename if err.filename is not None else err.filename2
    else:
        path, problem = None, str(err) or type(err).__name__
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):  # a file descriptor, or none
        path = None
    problem = " ".join(str(problem).split())
    return f"{shown_path(path)}: {problem}" if path else problem
