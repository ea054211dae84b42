"""figures.Worker: figures drawn in a child process, with errors and a dead child handled here."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from gaia_audio.errors import GaiaError
from gaia_audio.io.figures import Worker, continuum_strip


def _pid() -> int:
    return os.getpid()


def _matplotlib_loaded() -> bool:
    return "matplotlib.figure" in sys.modules


def _fail(message: str) -> None:
    raise GaiaError(message, "figure.png")


def _die_unless(pid: int) -> str:
    """Kills the process it runs in, unless that is process ``pid``."""
    if os.getpid() != pid:
        os._exit(3)
    return "drawn here"


def test_worker_runs_in_a_child_that_has_matplotlib_loaded():
    with Worker() as worker:
        assert worker.run(_pid) != os.getpid()
        assert worker.run(_matplotlib_loaded)  # imported at the child's start, not on demand


def test_worker_draws_a_continuum_strip(tmp_path):
    strips = [("ab", [np.random.default_rng(k).random((32, 20)) for k in range(3)], [0.0, 0.5, 1.0])]
    with Worker() as worker:
        path = worker.run(continuum_strip, strips, tmp_path / "c.png", 22050, hop_length=128,
                          freq_range=(500.0, 8000.0))
    assert path == tmp_path / "c.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


def test_worker_raises_the_childs_error_here():
    with Worker() as worker, pytest.raises(GaiaError, match=r"^figure.png: cannot draw$"):
        worker.run(_fail, "cannot draw")


def test_worker_draws_here_when_the_child_dies():
    with Worker() as worker:
        assert worker.run(_die_unless, os.getpid()) == "drawn here"
        assert worker.run(_pid) == os.getpid()  # the child is gone: later figures are drawn here too
