"""Data-parallel training: N processes under torchrun give one process's result at the same global batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import write_tiny_dataset

from gaia_audio.config import load_config
from gaia_audio.errors import TrainingError
from gaia_audio.models import export
from gaia_audio.training.distributed import Group, setup
from gaia_audio.training.loop import train

pytestmark = pytest.mark.slow  # end to end: make test runs it, make test-fast does not

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "zebra_finch.yaml"
# lr_max is small so that Adam's sign-like first steps cannot turn float32 rounding differences
# (summing over 2 slices instead of 1 batch) into visibly different weights; the gradients
# themselves are compared to float64 precision in test_gradients_equal_one_process_in_float64.
TINY = ["train.lr_max=1e-5", "model.width=4", "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8",
        "model.latent_dim=8", "train.batch_size=8", "train.log_every=1", "train.sample_every=0", "train.threads=1",
        "data.prepare=null"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def torchrun(n: int, *args: str, module: bool = True) -> subprocess.CompletedProcess:
    """``gaia-audio ARGS`` (or a script) as n gloo processes on this machine, as a user launches it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    target = ["-m", "gaia_audio"] if module else []
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                           *target, *args], capture_output=True, text=True, env=env, timeout=600)


def logged(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "event" not in line]


def assert_same_run(one: Path, two: Path) -> None:
    """Same losses at every step and the same exported weights, to float32 reduction-order tolerance."""
    a, b = logged(one), logged(two)
    assert [r["step"] for r in a] == [r["step"] for r in b] and a
    for ra, rb in zip(a, b):
        for key in ra.keys() - {"time"}:
            assert rb[key] == pytest.approx(ra[key], rel=1e-4, abs=1e-6), (ra["step"], key)
    wa, wb = export.read_exported(one)[0], export.read_exported(two)[0]
    assert wa.keys() == wb.keys()
    # Conv biases right before an InstanceNorm get gradients that are pure rounding noise (the
    # norm cancels them) and Adam moves them by up to lr_max a step either way: 4 steps ≤ 8e-5.
    for k in wa:
        assert torch.allclose(wa[k], wb[k], rtol=1e-4, atol=1e-4), k


@pytest.mark.parametrize("kind", ["gaia", "vae"])
def test_two_processes_match_one(tiny_data, tmp_path, kind):
    overrides = [*TINY, f"model.kind={kind}", "train.steps=4", "train.checkpoint_every=2", f"data.root={tiny_data}",
                 f"runs_dir={tmp_path}"]
    one = train(load_config(RECIPE, overrides), run_dir=tmp_path / "one", progress=False)
    sets = [arg for o in overrides for arg in ("--set", o)]
    result = torchrun(2, "train", str(RECIPE), *sets, "--run-dir", str(tmp_path / "two"), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("model written to") == 1  # rank 0 alone writes and reports
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one" / "checkpoints").iterdir())
    assert_same_run(one, tmp_path / "two")


def test_a_run_resumes_on_another_number_of_processes(tiny_data, tmp_path):
    """Checkpoints hold the global batch's sampler state, so 1 process can hand a run to 2."""
    overrides = [*TINY, "train.checkpoint_every=2", f"data.root={tiny_data}", f"runs_dir={tmp_path}"]
    straight = train(load_config(RECIPE, [*overrides, "train.steps=4"]), run_dir=tmp_path / "straight", progress=False)
    train(load_config(RECIPE, [*overrides, "train.steps=2"]), run_dir=tmp_path / "handed", progress=False)
    result = torchrun(2, "train", "--resume", str(tmp_path / "handed"), "--set", "train.steps=4", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_run(straight, tmp_path / "handed")


def test_a_batch_that_does_not_split_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(TrainingError, match="batch_size=8 does not split evenly over 3 processes"):
        setup("cpu", 8)


def test_one_process_group_is_the_identity():
    group, device = setup("cpu", 8)
    assert group == Group() and device == "cpu" and not group.distributed and group.is_main
    t = torch.arange(6.0).reshape(3, 2)
    assert group.local(t) is t and group.gather(t) is t and group.mean(t) is t and group.broadcast("x") == "x"


def test_slices_tile_the_global_batch():
    batch = torch.arange(8)
    parts = [Group(rank, 4, rank).local(batch) for rank in range(4)]
    assert torch.equal(torch.cat(parts), batch) and all(len(p) == 2 for p in parts)


def test_gradients_equal_one_process_in_float64(tmp_path):
    """Every network's gradient after one step, 2 processes against 1, at the same global batch."""
    for n in (1, 2):
        result = torchrun(n, str(REPO / "tests" / "ddp_harness.py"), str(tmp_path / f"{n}.npz"), module=False)
        assert result.returncode == 0, result.stderr[-3000:]
    one, two = np.load(tmp_path / "1.npz"), np.load(tmp_path / "2.npz")
    assert sorted(one.files) == sorted(two.files) == sorted(
        ["gaia/generator", "gaia/discriminator", "gaia/terms", "ae/model", "ae/terms", "vae/model", "vae/terms"])
    for key in one.files:
        scale = np.abs(one[key]).max()
        assert scale > 0 and np.abs(two[key] - one[key]).max() <= 1e-10 * scale, key
