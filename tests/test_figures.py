"""figures.Worker: figures drawn in a child process, with errors and a dead child handled here."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from gaia_audio.errors import GaiaError
from gaia_audio.render.figures import Worker, continuum_strip


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


def _drawn_rows(path) -> tuple[tuple[int, int], int, float]:
    """(width, height), the number of spectrogram panels stacked down the image (bands of rows that
    are mostly image), and the share of its pixels that are coloured (the magma image, not white or grey)."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"), np.float64) / 255
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    dark = rgb.max(axis=2) < 0.15  # magma's low end is near black
    drawn = (saturation > 0.15) | dark
    rows = drawn.mean(axis=1) > 0.5  # rows mostly image: text and tick rows are mostly white
    panels = int(np.sum(rows[1:] & ~rows[:-1]) + rows[0])
    return (rgb.shape[1], rgb.shape[0]), panels, float(drawn.mean())


@pytest.mark.parametrize("n_rows", [1, 2])
def test_worker_draws_a_continuum_strip(tmp_path, n_rows):
    strips = [(f"pair{r}", [np.random.default_rng(k).random((32, 20)) for k in range(3)], [0.0, 0.5, 1.0])
              for r in range(n_rows)]
    with Worker() as worker:
        path = worker.run(continuum_strip, strips, tmp_path / "c.png", 22050, hop_length=128,
                          freq_range=(500.0, 8000.0))
    assert path == tmp_path / "c.png"
    (width, height), panels, coloured = _drawn_rows(path)
    assert width >= 300 and height >= 150 * n_rows  # a readable size, growing with the rows
    assert panels == n_rows  # one strip of steps per continuum
    assert 0.2 < coloured < 0.95  # the spectrograms are drawn, and so are the margins and labels
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


def test_a_blank_strip_is_told_from_a_drawn_one(tmp_path):
    strips = [("ab", [np.ones((32, 20)) for _ in range(3)], [0.0, 0.5, 1.0])]  # all at the top of magma
    path = continuum_strip(strips, tmp_path / "c.png", 22050, hop_length=128, freq_range=(500.0, 8000.0))
    *_, coloured = _drawn_rows(path)
    strips = [("ab", [np.zeros((32, 20)) for _ in range(3)], [0.0, 0.5, 1.0])]  # the floor: black
    *_, dark = _drawn_rows(continuum_strip(strips, tmp_path / "d.png", 22050, hop_length=128))
    assert coloured > 0.2 and dark > 0.2  # both levels are drawn, neither is a white image


def test_worker_raises_the_childs_error_here():
    with Worker() as worker, pytest.raises(GaiaError, match=r"^figure.png: cannot draw$"):
        worker.run(_fail, "cannot draw")


def test_worker_draws_here_when_the_child_dies():
    with Worker() as worker:
        assert worker.run(_die_unless, os.getpid()) == "drawn here"
        assert worker.run(_pid) == os.getpid()  # the child is gone: later figures are drawn here too
