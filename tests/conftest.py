"""Shared fixtures: real zebra finch songs (fetched once from the vocalpy wheel) and synthetic
bird-like signals that need no network."""
from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

# The fault tests send SIGINT to real child processes. A test run started in the background
# (`cmd &`, nohup) inherits SIGINT ignored, and so would every child it starts (gaia-audio, like
# Python itself, leaves an ignored SIGINT ignored); give this process a handler, so that children
# start with the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
                        f0_range: tuple[float, float] = (600.0, 1200.0),
                        gap: float = 0.08) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
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


# ------------------------------------------------------------------ a package index on 127.0.0.1

class _IndexHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records each requested path."""

    requests: list[str] = []

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


def fake_vocalpy_index(root: Path) -> dict[str, bytes]:
    """A PyPI 'simple' index under root holding a fake vocalpy-0.10.3 wheel with synthetic songs."""
    songs = {}
    for i, name in enumerate(SONGS):
        y, sr, _ = make_synthetic_song(seed=20 + i)
        from gaia_audio.io import audio

        audio.save(root / name, y, sr)
        songs[name] = (root / name).read_bytes()
    wheel = root / "files" / "vocalpy-0.10.3-py3-none-any.whl"
    wheel.parent.mkdir()
    info = "vocalpy-0.10.3.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("vocalpy/__init__.py", "")
        for name, data in songs.items():
            zf.writestr(f"vocalpy/examples/{name}", data)
        zf.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: vocalpy\nVersion: 0.10.3\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (root / "simple" / "vocalpy").mkdir(parents=True)
    (root / "simple" / "vocalpy" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>')
    return songs


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """(index URL, songs in the wheel, request log) of a package index served from 127.0.0.1."""
    root = tmp_path / "index"
    root.mkdir()
    songs = fake_vocalpy_index(root)
    handler = type("Handler", (_IndexHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # only this index: no pip config files, extra indexes, find-links, cache or proxy
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield f"http://127.0.0.1:{server.server_address[1]}/simple", songs, handler.requests
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------ the example preparations, as scripts

def load_script(name: str):
    """Import datasets/<name>/prepare.py as a user's script would be loaded (importlib, from the checkout)."""
    script = Path(__file__).resolve().parent.parent / "datasets" / name / "prepare.py"
    spec = importlib.util.spec_from_file_location(f"prepare_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def zebra_finch():
    return load_script("zebra_finch")


@pytest.fixture(scope="module")
def speech():
    return load_script("speech")
