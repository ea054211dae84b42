"""Files and folders that the commands write follow the user's umask, as any program's do.

Under umask 022 a file must be 0644 and a folder 0755; under 027, 0640 and 0750 (0666 and 0777
less the umask). Each test runs a real command (train, morph, resynth, spectrogram, prepare)
through click's CliRunner with the umask set, then checks the mode of every path it created.
Before the fix, model.safetensors came out 0600 (safetensors writes its file 0600) and the
download folder of `prepare zebra_finch` was a 0700 ``tempfile.mkdtemp``.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_prepare import song_folder
from tiny_model import REPO, synthetic_unit, train_tiny_model, write_tiny_dataset, write_wav

from gaia_audio.cli.main import main
from gaia_audio.io import files

UMASKS = [pytest.param(0o022, id="umask022"), pytest.param(0o027, id="umask027")]


@contextlib.contextmanager
def umask(value: int):
    """Set the process umask for the block, then put the old one back."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def tree(root: Path) -> set[Path]:
    """Every file and folder under ``root`` (root excluded)."""
    return set(root.rglob("*"))


def assert_modes(paths: set[Path], mask: int) -> None:
    """Each file is 0666 & ~mask, each folder 0777 & ~mask."""
    assert paths, "the command wrote nothing"
    wrong = {}
    for path in sorted(paths):
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = (0o777 if path.is_dir() else 0o666) & ~mask
        if mode != want:
            wrong[str(path)] = f"{mode:o} (want {want:o})"
    assert not wrong, wrong


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny trained model (at the default umask) and two inputs for morph, resynth and spectrogram."""
    root = tmp_path_factory.mktemp("perm_model")
    run = train_tiny_model(root)
    a = write_wav(root / "a.wav", synthetic_unit(0, 0), 44100)
    b = write_wav(root / "b.wav", synthetic_unit(1, 1), 44100)
    return run, a, b


@pytest.mark.parametrize("mask", UMASKS)
def test_train_run_follows_the_umask(tmp_path, mask):
    import torch

    data = write_tiny_dataset(tmp_path / "data")
    before = tree(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with umask(mask):
            invoke("train", REPO / "recipes" / "zebra_finch.yaml", "--quiet", "--run-dir", tmp_path / "run",
                   *[arg for kv in (f"data.root={data}", "data.prepare=null", "train.steps=4", "train.batch_size=4",
                                    "model.width=4", "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8",
                                    "model.latent_dim=8", "train.sample_every=2", "train.checkpoint_every=2",
                                    "inversion.n_iter=4") for arg in ("--set", kv)])
    finally:
        torch.set_num_threads(threads)
    written = tree(tmp_path) - before
    run = tmp_path / "run"
    for name in ("model.safetensors", "config.yaml", "metrics.jsonl", "checkpoints", "samples"):
        assert (run / name).exists(), name
    assert list((run / "checkpoints").glob("step_*.pt"))
    assert list((run / "samples").glob("*.png")) and list((run / "samples").glob("*.wav"))
    assert any(p.parent.name == "cache" for p in written)  # the tile cache beside the data
    assert_modes(written, mask)


@pytest.mark.parametrize("mask", UMASKS)
def test_morph_output_follows_the_umask(model, tmp_path, mask):
    run, a, b = model
    with umask(mask):
        invoke("morph", a, b, "--steps", 3, "-m", run, "-o", tmp_path / "deep" / "ab")
    written = tree(tmp_path)
    assert {"manifest.csv", "provenance.json", "continuum.png", "step_00.wav"} <= {p.name for p in written}
    assert not [p for p in written if p.name.startswith(".")]  # no temporary folder or file left
    assert_modes(written, mask)


@pytest.mark.parametrize("mask", UMASKS)
def test_resynth_and_spectrogram_follow_the_umask(model, tmp_path, mask):
    _, a, _ = model
    with umask(mask):
        invoke("resynth", a, tmp_path / "sub" / "a.wav")
        invoke("spectrogram", a, tmp_path / "figs" / "a.png")
    written = tree(tmp_path)
    assert {p.name for p in written} == {"sub", "a.wav", "figs", "a.png"}
    assert_modes(written, mask)


@pytest.mark.parametrize("mask", UMASKS)
def test_prepare_follows_the_umask(tmp_path, mask):
    song_folder(tmp_path / "rec", n=2)
    with umask(mask):
        invoke("prepare", "zebra_finch", "--source", tmp_path / "rec", "--out", tmp_path / "data")
    written = tree(tmp_path / "data") | {tmp_path / "data"}
    assert (tmp_path / "data" / "manifest.csv").is_file() and list((tmp_path / "data" / "units").glob("*.wav"))
    assert_modes(written, mask)


@pytest.mark.parametrize("mask", [0o002, 0o022, 0o027, 0o077], ids=lambda m: f"umask{m:03o}")
def test_atomic_write_sets_the_umask_mode_whatever_the_writer_did(tmp_path, mask):
    path = tmp_path / "out.bin"
    stale = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    stale.write_bytes(b"left by a killed run")
    stale.chmod(0o600)
    with umask(mask):
        with files.atomic_write(path) as tmp:
            tmp.write_bytes(b"new")
            tmp.chmod(0o600)  # what safetensors does to its file
        files.write_text(tmp_path / "t.txt", "x")
    assert path.read_bytes() == b"new" and not stale.exists()
    assert_modes({path, tmp_path / "t.txt"}, mask)


def test_writes_in_threads_never_change_the_process_umask(tmp_path):
    """Reading the umask with os.umask(0) and back would let a file made meanwhile get mode 0666."""
    from concurrent.futures import ThreadPoolExecutor

    def write(k: int) -> None:
        for i in range(30):
            files.write_text(tmp_path / "atomic" / f"{k}_{i}.txt", "x")

    def plain(k: int) -> None:
        for i in range(30):
            (tmp_path / "plain" / f"{k}_{i}.txt").write_text("x")

    (tmp_path / "plain").mkdir()
    (tmp_path / "atomic").mkdir()
    with umask(0o027), ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: job[0](job[1]), [(write, k) for k in range(4)] + [(plain, k) for k in range(4)]))
    assert_modes(tree(tmp_path / "plain") | tree(tmp_path / "atomic"), 0o027)
