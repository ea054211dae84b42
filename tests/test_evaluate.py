"""Evaluation metrics: ROC AUC, the independent critic, fidelity and path metrics, whole runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaia_audio.analysis import evaluate
from gaia_audio.errors import DataError

sys.path.insert(0, str(Path(__file__).resolve().parent))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_roc_auc_known_values():
    assert evaluate.roc_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert evaluate.roc_auc([0, 1], [2, 3]) == 0.0
    assert evaluate.roc_auc([1, 1], [1, 1]) == 0.5
    assert evaluate.roc_auc([2, 0], [1]) == 0.5
    with pytest.raises(DataError):
        evaluate.roc_auc([], [1])


def test_critic_separates_different_sets_and_not_identical_ones():
    rng = np.random.default_rng(0)
    real = rng.uniform(0, 1, (64, 1, 16, 16)).astype(np.float32)
    smooth = np.repeat(np.repeat(rng.uniform(0, 1, (64, 1, 4, 4)), 4, axis=2), 4, axis=3).astype(np.float32)
    assert evaluate.critic_auc(real, smooth, steps=100) > 0.9
    same = rng.uniform(0, 1, (64, 1, 16, 16)).astype(np.float32)
    assert 0.2 < evaluate.critic_auc(real, same, steps=100) < 0.8
    with pytest.raises(DataError):
        evaluate.critic_auc(real[:3], same)


def test_spectral_convergence_per_tile():
    x = np.ones((2, 1, 4, 4))
    assert np.all(evaluate.spectral_convergence_per_tile(x, x) < -200)
    np.testing.assert_allclose(evaluate.spectral_convergence_per_tile(x, 0.9 * x), -20.0, atol=1e-6)


class Flat(torch.nn.Module):
    """Exact autoencoder: the code is the tile, so G(x) = x and latent paths are pixel cross-fades."""

    def __init__(self, shape=(1, 8, 8)):
        super().__init__()
        self.shape, self.p = shape, torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return x.flatten(1)

    def decode(self, z):
        return z.reshape(-1, *self.shape)


def test_evaluate_model_on_an_exact_autoencoder():
    rng = np.random.default_rng(1)
    tiles = rng.uniform(0, 1, (20, 1, 8, 8)).astype(np.float32)
    result = evaluate.evaluate_model(Flat(), tiles, n_pairs=32, critic_steps=20)
    assert result["l1"] == 0 and result["spectral_convergence_db"] < -200
    assert result["step_cv"] < 1e-5  # equal pixel steps along a straight line
    # a straight pixel path: ‖Δ‖² / ε² is the mean squared difference of the endpoints
    expected = np.mean([np.mean((tiles[a] - tiles[b]) ** 2) for a in range(20) for b in range(20) if a != b])
    assert 0.5 * expected < result["smoothness_ppl"] < 1.5 * expected
    for key in ("critic_auc_midpoints", "critic_auc_reconstructions"):
        assert 0 <= result[key] <= 1
    assert result["n_tiles"] == 20 and result["n_pairs"] == 32
    with pytest.raises(DataError):
        evaluate.evaluate_model(Flat(), tiles[:3])


def test_markdown_table_lists_every_model_and_metric():
    row = {k: 0.5 for k in evaluate.METRIC_LABELS} | {"n_tiles": 7}
    text = evaluate.markdown_table({"gaia": row, "ae": row})
    assert text.splitlines()[0] == "| metric | gaia | ae |"
    assert all(label in text for label in evaluate.METRIC_LABELS.values())


def test_evaluate_run_writes_json_and_markdown(tmp_path):
    from tiny_model import train_tiny_model

    run = train_tiny_model(tmp_path, "gaia")
    result = evaluate.evaluate_run(run, n_pairs=8, critic_steps=5)
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["model"] == "gaia" and saved["held_out"] is False  # 12 units: too few held out
    assert np.isfinite(saved["spectral_convergence_db"]) and saved == json.loads(json.dumps(result))
    assert "| metric | gaia |" in (run / "evaluation.md").read_text()
    assert not list(run.glob(".*.tmp"))
