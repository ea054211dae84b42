"""The harmonic-stack family (audio counterpart of the lines benchmark): members, metrics, bench."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gaia_audio.bench import stacks
from gaia_audio.cli.main import main
from gaia_audio.errors import DataError
from gaia_audio.io.manifest import read_manifest


def test_members_have_the_intended_pitch():
    p = np.array([0.0, 0.5, 1.0])
    y = stacks.synthesize(p)
    assert y.shape == (3, int(round(stacks.DURATION * stacks.SR))) and np.allclose(np.abs(y).max(axis=1), 0.5)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.shape[1]), n=1 << 16, axis=1))
    f_peak = np.argmax(spectrum, axis=1) * stacks.SR / (1 << 16)
    expected = stacks.F_RANGE[0] * (stacks.F_RANGE[1] / stacks.F_RANGE[0]) ** p
    np.testing.assert_allclose(f_peak, expected, rtol=0.01)
    with pytest.raises(DataError):
        stacks.synthesize(np.array([1.5]))


def test_calibration_true_crossfade_switch():
    pairs = stacks.evaluation_pairs(40, seed=3)
    true = stacks.score_paths(stacks.true_paths(pairs))
    fade = stacks.score_paths(stacks.crossfade_paths(pairs))
    switch = stacks.score_paths(stacks.switch_paths(pairs))
    assert true["mean_distance"] < 1e-3 and true["smoothness"] < 0.05
    assert switch["mean_distance"] < 1e-3 and switch["smoothness"] > 0.85
    assert fade["mean_distance"] > 20 * true["mean_distance"] and fade["smoothness"] > 0.4
    with pytest.raises(DataError):
        stacks.score_paths(np.zeros((2, 16, 10, 10)))


def test_model_paths_of_an_exact_autoencoder_are_crossfades():
    class Flat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def encode(self, x):
            self.shape = x.shape[1:]
            return x.flatten(1)

        def decode(self, z):
            return z.reshape(-1, *self.shape)

    pairs = stacks.evaluation_pairs(3, seed=0)
    np.testing.assert_allclose(stacks.model_paths(Flat(), pairs), stacks.crossfade_paths(pairs), atol=1e-5)


def test_dataset_manifest_is_valid(tmp_path):
    manifest = stacks.write_dataset(tmp_path, n=5)
    rows = read_manifest(manifest, check_files=True)
    assert len(rows) == 5 and all(0 <= float(r["label"]) <= 1 for r in rows)


def test_bench_stacks_cli_tiny(tmp_path):
    args = ["bench", "stacks", "--steps", "1", "--pairs", "3", "--kinds", "ae", "--out", str(tmp_path / "b"),
            "--quiet", "--set", "model.width=4", "--set", "model.n_res=1", "--set", "train.batch_size=4",
            "--set", "train.sample_every=0", "--set", "train.threads=1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| AE | 1 |" in result.output and "spectrogram cross-fade" in result.output
