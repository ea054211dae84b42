"""Crash safety: a real training process killed with SIGKILL at random moments, resumed each time.

Runs tests/crash_harness.py's trials: 10 kills (two of them during start-up), every listed
checkpoint loads after each kill, each resume continues from the last complete checkpoint, and
the finished run equals an uninterrupted one with the same seed, loss by loss and weight by weight.
After every third kill the newest checkpoint is cut short (to half, then to zero bytes): the next
resume says it skipped that file, goes on from the one before, and still ends on the same weights.
"""
from __future__ import annotations

import signal
import sys

import pytest
from crash_harness import check_checkpoints, crash_trials, step_records

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32", reason="needs SIGKILL"),
              pytest.mark.slow]  # real processes killed and resumed: make test runs it, make test-fast does not


def test_sigkill_and_truncated_checkpoints_then_resume_matches_an_uninterrupted_run(tmp_path):
    report = crash_trials(tmp_path, kills=10, steps=40, seed=1, log=lambda *_: None, truncate_every=3)
    assert report["kills"] == 10 and report["finished_early"] == 0
    assert report["resumes"] >= 8  # all but the kills that came before the first checkpoint
    progress = [s or 0 for s in report["checkpoints_after_kill"]]
    assert progress == sorted(progress) and progress[-1] >= 1  # never back to an older intact state
    assert len(report["damaged"]) >= 2  # cut to half and to zero bytes
    assert set(report["damaged"]) <= report["skipped"]  # each named by the resume that skipped it
    assert report["max_loss_rel_diff"] <= 1e-5
    assert report["max_weight_abs_diff"] <= 1e-6
    assert check_checkpoints(tmp_path / "crashed")[-1] == 40
    assert sorted(step_records(tmp_path / "crashed")) == list(range(1, 41))


def test_nonfinite_gradient_rolls_back_with_half_the_rate_then_finishes(tmp_path, monkeypatch):
    """A NaN in a gradient (the losses still finite) is caught like a NaN loss: roll back, halve, go on."""
    import json
    from pathlib import Path

    import torch
    from crash_harness import TINY, make_dataset

    from gaia_audio.config import load_config
    from gaia_audio.models import export
    from gaia_audio.training import checkpoint as ckpt
    from gaia_audio.training.loop import train

    data = make_dataset(tmp_path / "data")
    config = load_config(Path(__file__).resolve().parent.parent / "recipes" / "zebra_finch.yaml",
                         [*TINY, f"data.root={data}", "train.steps=5", "train.checkpoint_every=2",
                          "train.max_bad_steps=1", f"runs_dir={tmp_path}"])
    real_backward = torch.autograd.backward
    calls = {"n": 0}

    def poisoned(tensors, *args, inputs=None, **kwargs):
        calls["n"] += 1
        real_backward(tensors, *args, inputs=inputs, **kwargs)
        if calls["n"] == 5:  # step 3's first network (two backward passes per GAIA step)
            inputs[0].grad.mul_(float("nan"))

    monkeypatch.setattr(torch.autograd, "backward", poisoned)
    run = train(config, run_dir=tmp_path / "run", progress=False)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in lines if "event" in r]
    assert events == [{"event": "nonfinite", "step": 3, "lr_scale": 0.5}]
    steps = [r["step"] for r in lines if "event" not in r]
    assert steps == [1, 2, 3, 4, 5]  # step 3 redone from the step-2 state, logged once
    assert all(torch.isfinite(w).all() for w in export.read_exported(run)[0].values())
    assert ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])["lr_scale"] == 0.5
