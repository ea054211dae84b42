"""Shared fixtures: real zebra finch songs (fetched once from the vocalpy wheel) and synthetic
bird-like signals that need no network."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

SONGS = ("bells.wav", "flashcam.wav", "samba.wav", "simple.wav")
CACHE = Path(os.environ.get("GAIA_TEST_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "test-data"))


def fetch_vocalpy_songs(dest: Path) -> list[Path]:
    """Download the vocalpy 0.10.3 wheel with pip and unzip its zebra finch example songs.

    Returns: paths of the four songs (44.1 kHz mono WAV).
    """
    dest.mkdir(parents=True, exist_ok=True)
    paths = [dest / name for name in SONGS]
    if all(p.is_file() for p in paths):
        return paths
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "vocalpy==0.10.3", "-d", str(dest)],
        check=True, capture_output=True,
    )
    wheel = next(dest.glob("vocalpy-0.10.3-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        for name in SONGS:
            (dest / name).write_bytes(zf.read(f"vocalpy/examples/{name}"))
    return paths


@pytest.fixture(scope="session")
def real_songs() -> list[Path]:
    """The four real zebra finch songs from Sound Analysis Pro, as shipped in the vocalpy wheel."""
    try:
        return fetch_vocalpy_songs(CACHE / "vocalpy")
    except Exception as err:  # no network and no cache: the real-data tests cannot run
        pytest.skip(f"real zebra finch songs unavailable: {err}")


def make_synthetic_song(sr: int = 44100, n_units: int = 4, seed: int = 0,
                        f0_range: tuple[float, float] = (600.0, 1200.0), gap: float = 0.08) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """A bird-like song: harmonic stacks with frequency sweeps and smooth envelopes, separated by silence.

    Returns: (y (n,) float32 in [-1, 1], sr, [(onset_s, offset_s), ...] of each unit).
    """
    rng = np.random.default_rng(seed)
    pieces, units, t0 = [np.zeros(int(gap * sr), np.float32)], [], gap
    for _ in range(n_units):
        dur = rng.uniform(0.06, 0.18)
        t = np.arange(int(dur * sr)) / sr
        f0 = rng.uniform(*f0_range)
        sweep = rng.uniform(-0.4, 0.4) * f0
        phase = 2 * np.pi * np.cumsum(f0 + sweep * t / dur) / sr
        unit = sum(np.sin(k * phase) / k for k in range(1, 6))
        env = np.sin(np.pi * t / dur) ** 2
        pieces += [(0.4 * env * unit / np.abs(unit).max()).astype(np.float32), np.zeros(int(gap * sr), np.float32)]
        units.append((t0, t0 + dur))
        t0 += dur + gap
    y = np.concatenate(pieces) + rng.normal(0, 1e-4, sum(len(p) for p in pieces)).astype(np.float32)
    return y.astype(np.float32), sr, units


@pytest.fixture
def synthetic_song() -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """(y, sr, unit boundaries) of a synthetic 4-unit bird-like song at 44.1 kHz."""
    return make_synthetic_song()


@pytest.fixture
def one_torch_thread():
    """Tiny networks on one torch thread: on a busy 2-core machine a second thread only slows them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
