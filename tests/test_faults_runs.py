"""Training runs under faults: one writer per run folder, resume into another folder, damaged
checkpoints, contradicting --set on resume, and SIGINT / SIGTERM sent to a real `train` process."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from crash_harness import REPO, TINY, _env, step_records, train_command
from tiny_model import write_tiny_dataset

from gaia_audio.cli.main import main
from gaia_audio.config import Config
from gaia_audio.errors import TrainingError
from gaia_audio.models import export
from gaia_audio.training import checkpoint as ckpt
from gaia_audio.training import loop
from gaia_audio.training.distributed import Group
from gaia_audio.training.lock import LOCK_NAME, run_lock

pytestmark = pytest.mark.slow  # end to end: make test runs it, make test-fast does not

RECIPE = str(REPO / "recipes" / "zebra_finch.yaml")
needs_posix_signals = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals and flock")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def cli(*args: str):
    """Run ``gaia-audio ARGS`` in this process."""
    return CliRunner().invoke(main, [str(a) for a in args])


def sets(data: Path, *extra: str) -> list[str]:
    """``--set`` options for the tiny recipe on ``data``."""
    out = []
    for item in [*TINY, f"data.root={data}", *extra]:
        out += ["--set", item]
    return out


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """A 3-step run with a checkpoint at every step and a preview at step 2 (read only: tests copy it)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    result = cli("train", RECIPE, "--quiet", "--run-dir", run,
                 *sets(tiny_data, "train.steps=3", "train.keep_last=3", "train.sample_every=2"))
    assert result.exit_code == 0, result.output
    return run


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---- one writer per run folder ----------------------------------------------------------------

@needs_posix_signals
def test_a_second_train_on_a_held_run_folder_is_one_line_naming_the_holder(tiny_data, trained, tmp_path):
    run = tmp_path / "run"
    with run_lock(run):
        line = one_error_line(cli("train", RECIPE, "--quiet", "--run-dir", run, *sets(tiny_data, "train.steps=2")))
        assert line.startswith(f"error: {run}: another train is writing this run folder (pid {os.getpid()} on host "
                               f"{socket.gethostname()} since ")
        assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing written beside the lock
        shutil.copytree(trained, tmp_path / "resumed")
        with run_lock(tmp_path / "resumed"):
            before = fingerprint(tmp_path / "resumed")
            line = one_error_line(cli("train", "--resume", tmp_path / "resumed", "--quiet", "--set", "train.steps=4"))
            assert "another train is writing this run folder" in line
            assert fingerprint(tmp_path / "resumed") == before
    with run_lock(run):  # released when the holder's block ends
        pass
    assert (run / LOCK_NAME).read_bytes() == b""  # no stale holder named


@needs_posix_signals
def test_a_killed_holder_leaves_no_stuck_lock(tmp_path):
    run = tmp_path / "run"
    code = ("import sys, time\nfrom gaia_audio.training.lock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TrainingError, match=f"pid {holder.pid} on host"):
            with run_lock(run):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no finally-block runs in the holder
        holder.wait()
        holder.stdout.close()
    assert str(holder.pid) in (run / LOCK_NAME).read_text()  # its name is still there, but not its lock
    with run_lock(run) as path:
        assert str(os.getpid()) in path.read_text()


def test_a_run_that_fails_to_start_leaves_no_folder(tmp_path):
    run = tmp_path / "runs" / "new"
    result = cli("train", RECIPE, "--quiet", "--run-dir", run, *sets(tmp_path / "no_data", "train.steps=1"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not run.exists()


@pytest.mark.parametrize("rank", [0, 1])
def test_under_torchrun_rank_0_alone_locks(tmp_path, monkeypatch, rank):
    """Every rank writes to the same folder's view, so only the writer (rank 0) may take its lock."""
    locked = []
    monkeypatch.setattr(loop.distributed, "setup", lambda device, batch: (Group(rank, 2), "cpu"))
    monkeypatch.setattr(loop.distributed, "teardown", lambda group, wait=True: None)
    monkeypatch.setattr(loop, "run_lock", lambda run_dir: locked.append(run_dir) or run_lock(run_dir))
    monkeypatch.setattr(loop, "_train", lambda config, group, device, run_dir, state, progress: run_dir)
    assert loop.train(Config(), run_dir=tmp_path / "run", progress=False) == tmp_path / "run"
    assert locked == ([tmp_path / "run"] if rank == 0 else [])


# ---- resume: into another folder, damaged checkpoints, contradicting --set ----------------------

def test_resume_into_another_run_dir_copies_forward_and_never_touches_the_original(tiny_data, trained, tmp_path):
    run_a, run_b, run_c = tmp_path / "run_a", tmp_path / "run_b", tmp_path / "run_c"
    shutil.copytree(trained, run_a)
    shutil.copytree(trained, run_c)
    before = fingerprint(run_a)
    result = cli("train", "--resume", run_a, "--run-dir", run_b, "--quiet", "--set", "train.steps=5")
    assert result.exit_code == 0, result.output
    assert fingerprint(run_a) == before  # not one byte of the resumed run changed, nothing added
    assert export.read_exported(run_b)[3]["step"] == 5 and (run_b / "config.yaml").is_file()
    assert sorted(step_records(run_b)) == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in (run_b / "samples").iterdir()) == [  # 2 and 3 copied, 4 and 5 new
        f"step_{s:07d}.{ext}" for s in (2, 3, 4, 5) for ext in ("png", "wav")]
    # the same as going on in place (here as the README's SLURM loop does: recipe, --resume and --run-dir alike)
    result = cli("train", RECIPE, "--resume", run_c, "--run-dir", run_c, "--quiet",
                 *sets(tiny_data, "train.steps=5"))
    assert result.exit_code == 0, result.output
    wb, wc = export.read_exported(run_b)[0], export.read_exported(run_c)[0]
    assert wb.keys() == wc.keys() and all(torch.equal(wb[k], wc[k]) for k in wb)
    # a folder that already holds a run is never written over
    before_b = fingerprint(run_b)
    line = one_error_line(cli("train", "--resume", run_a, "--run-dir", run_b, "--quiet", "--set", "train.steps=6"))
    assert line == (f"error: {run_b}: run folder already holds a run; continue it with --resume, "
                    "or choose another folder")
    assert fingerprint(run_b) == before_b and fingerprint(run_a) == before


@pytest.mark.parametrize("override, named", [
    ("frontend.preset=speech_16k", "frontend.preset ('zebra_finch' -> 'speech_16k')"),
    ("frontend.n_frames=32", "frontend.n_frames (64 -> 32)"),
    ("model.width=8", "model.width (4 -> 8)"),
    ("data.kind=lines", "data.kind ('audio' -> 'lines')"),
])
def test_resume_with_a_contradicting_set_is_refused_by_key(trained, override, named):
    before = fingerprint(trained)
    line = one_error_line(cli("train", "--resume", trained, "--quiet", "--set", override, "--set", "train.steps=4"))
    assert line.startswith(f"error: {trained / 'checkpoints' / 'step_0000003.pt'}: --resume cannot change {named}")
    assert fingerprint(trained) == before


def test_resume_skips_a_truncated_checkpoint_and_says_so(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    newest = run / "checkpoints" / "step_0000003.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    result = cli("train", "--resume", run, "--quiet", "--set", "train.steps=4")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and notes[0].startswith(f"note: {newest}: not a usable gaia-audio checkpoint")
    assert notes[0].endswith("skipped, resuming from step_0000002.pt (step 2)")
    assert export.read_exported(run)[3]["step"] == 4
    assert [ckpt.read_training_state(p)["step"] for p in ckpt.list_checkpoints(run)] == [2, 3, 4]  # 3 rewritten


def test_a_loose_checkpoint_needs_a_run_dir_to_go_on_in(tiny_data, trained, tmp_path):
    loose = tmp_path / "kept" / "good.pt"
    loose.parent.mkdir()
    shutil.copyfile(trained / "checkpoints" / "step_0000003.pt", loose)
    line = one_error_line(cli("train", RECIPE, "--resume", loose, "--quiet", *sets(tiny_data, "train.steps=4")))
    assert line.startswith(f"error: {loose}: this checkpoint is not inside a run's checkpoints/ folder: give --run-dir")
    assert sorted(p.name for p in loose.parent.iterdir()) == ["good.pt"]


def test_resume_with_no_intact_checkpoint_is_one_line_naming_the_files(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for path in ckpt.list_checkpoints(run):
        path.write_bytes(b"")
    line = one_error_line(cli("train", "--resume", run, "--quiet", "--set", "train.steps=4"))
    assert line.startswith(f"error: {run}: no checkpoint of this run can be read")
    assert all(str(p) in line for p in ckpt.list_checkpoints(run)) and "remove" in line


# ---- signals to a real training process ---------------------------------------------------------

@needs_posix_signals
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_train_is_one_line_and_leaves_no_temp_file_nor_lock(tiny_data, tmp_path, sig, code):
    run = tmp_path / "run"
    proc = subprocess.Popen(train_command(tiny_data, run, steps=100000, resume=False), cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(step_records(run)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # training, writing a checkpoint every step
        assert proc.poll() is None, proc.communicate()
        if sig == signal.SIGTERM:  # meanwhile, a second train on the same folder is refused, naming this one
            line = one_error_line(cli("train", RECIPE, "--quiet", "--run-dir", run, *sets(tiny_data)))
            assert f"another train is writing this run folder (pid {proc.pid} on host" in line
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert [p.name for p in run.rglob(".*")] == [LOCK_NAME]  # no temporary file anywhere in the run
    assert ckpt.list_checkpoints(run) and all(ckpt.read_training_state(p) for p in ckpt.list_checkpoints(run))
    with run_lock(run):  # released
        pass
