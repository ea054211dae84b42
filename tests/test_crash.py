"""Crash safety: a real training process killed with SIGKILL at random moments, resumed each time.

Runs tests/crash_harness.py's trials: 10 kills (two of them during start-up), every listed
checkpoint loads after each kill, each resume continues from the last complete checkpoint, and
the finished run equals an uninterrupted one with the same seed, loss by loss and weight by weight.
"""
from __future__ import annotations

import signal
import sys

import pytest

from crash_harness import check_checkpoints, crash_trials, step_records

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32", reason="needs SIGKILL")


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    report = crash_trials(tmp_path, kills=10, steps=20, seed=1, log=lambda *_: None)
    assert report["kills"] == 10 and report["finished_early"] == 0
    assert report["resumes"] >= 8  # all but the kills that came before the first checkpoint
    progress = [s or 0 for s in report["checkpoints_after_kill"]]
    assert progress == sorted(progress) and progress[-1] >= 1  # never back to an older state
    assert report["max_loss_rel_diff"] <= 1e-5
    assert report["max_weight_abs_diff"] <= 1e-6
    assert check_checkpoints(tmp_path / "crashed")[-1] == 20
    assert sorted(step_records(tmp_path / "crashed")) == list(range(1, 21))
