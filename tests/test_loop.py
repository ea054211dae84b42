"""Training: runs end to end, repeats exactly, resumes exactly, and fails cleanly."""
import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tiny_model import write_tiny_dataset

from gaia_audio.cli.main import main
from gaia_audio.config import load_config
from gaia_audio.errors import DataError, ModelError, TrainingError
from gaia_audio.models import export
from gaia_audio.training import checkpoint as ckpt
from gaia_audio.training.loop import train

REPO = Path(__file__).resolve().parent.parent
TINY = ["model.width=4", "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8", "model.latent_dim=8",
        "train.batch_size=4", "train.log_every=1", "inversion.n_iter=2", "data.prepare=null"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A dataset folder of 12 synthetic units with a manifest."""
    return write_tiny_dataset(tmp_path_factory.mktemp("data"))


def config_for(data: Path, tmp: Path, *extra: str):
    return load_config(REPO / "recipes" / "zebra_finch.yaml", [*TINY, f"data.root={data}", f"runs_dir={tmp}", *extra])


def losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if '"Lr"' in line or '"loss"' in line]


@pytest.mark.parametrize("kind", ["gaia", "ae", "vae"])
def test_train_writes_a_complete_run(tiny_data, tmp_path, kind):
    run = train(config_for(tiny_data, tmp_path, f"model.kind={kind}", "train.steps=4", "train.checkpoint_every=2",
                           "train.keep_last=1", "train.sample_every=4"), progress=False)
    assert (run / "model.safetensors").is_file() and (run / "config.yaml").is_file()
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step_0000004.pt"]
    assert {p.suffix for p in (run / "samples").iterdir()} == {".png", ".wav"}
    rows = losses(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(v) for r in rows for v in r.values())
    _, config, shape, extra = export.read_exported(run)
    assert config.model.kind == kind and shape[0] == 1 and extra["step"] == 4
    assert ("d_error_real" in extra) == (kind == "gaia")


def test_same_seed_same_run_and_exact_resume(tiny_data, tmp_path):
    straight = train(config_for(tiny_data, tmp_path, "train.steps=6", "train.sample_every=0"),
                     run_dir=tmp_path / "straight", progress=False)
    half = train(config_for(tiny_data, tmp_path, "train.steps=3", "train.sample_every=0"),
                 run_dir=tmp_path / "resumed", progress=False)
    resumed = train(config_for(tiny_data, tmp_path, "train.steps=6", "train.sample_every=0"), resume=half,
                    progress=False)
    assert resumed == half
    a, b = losses(straight), losses(resumed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b):
        assert ra["L_G"] == pytest.approx(rb["L_G"], rel=1e-5) and ra["Lr"] == pytest.approx(rb["Lr"], rel=1e-5)
    wa, wb = export.read_exported(straight)[0], export.read_exported(resumed)[0]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_resume_with_other_tile_shape_is_refused(tiny_data, tmp_path):
    run = train(config_for(tiny_data, tmp_path, "train.steps=2", "train.sample_every=0"), progress=False)
    with pytest.raises(TrainingError, match="already holds a run"):  # never mix two runs' checkpoints
        train(config_for(tiny_data, tmp_path, "train.steps=2"), run_dir=run, progress=False)
    with pytest.raises(ModelError, match="tile shape"):
        train(config_for(tiny_data, tmp_path, "train.steps=4", "frontend.n_frames=32"), resume=run, progress=False)


def test_nan_loss_stops_naming_the_step_and_keeps_checkpoint(tiny_data, tmp_path, monkeypatch):
    import gaia_audio.training.objectives as train_module

    real = train_module.balance_terms
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        terms = real(*args, **kwargs)
        if calls["n"] >= 3:
            terms["Lr"] = terms["Lr"] * float("nan")
        return terms

    monkeypatch.setattr(train_module, "balance_terms", poisoned)
    config = config_for(tiny_data, tmp_path, "train.steps=6", "train.checkpoint_every=2", "train.max_bad_steps=1",
                        "train.sample_every=0")
    with pytest.raises(TrainingError, match="at step 3") as err:
        train(config, run_dir=tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    found = ckpt.list_checkpoints(tmp_path / "run")
    assert [p.name for p in found] == ["step_0000002.pt"]
    assert ckpt.load_checkpoint(found[0])["step"] == 2
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if "event" in line]
    assert [e["lr_scale"] for e in events] == [0.5, 0.25]  # one roll-back with half the rate, then the stop


def test_disk_full_while_checkpointing(tiny_data, tmp_path, monkeypatch):
    config = config_for(tiny_data, tmp_path, "train.steps=4", "train.checkpoint_every=2", "train.sample_every=0")
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(TrainingError, match="disk full"):
        train(config, run_dir=tmp_path / "run", progress=False)
    found = ckpt.list_checkpoints(tmp_path / "run")
    assert [p.name for p in found] == ["step_0000002.pt"]
    assert ckpt.load_checkpoint(found[0])["step"] == 2


def test_missing_data_folder_and_empty_manifest(tiny_data, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        train(config_for(tmp_path / "nothing", tmp_path, "train.steps=1"), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.csv").write_text("path,source,onset,offset,sr,duration,label\n")
    with pytest.raises(DataError, match="no units|empty"):
        train(config_for(empty, tmp_path, "train.steps=1"), progress=False)


def test_cli_train_and_resume(tiny_data, tmp_path):
    runner = CliRunner()
    args = ["train", str(REPO / "recipes" / "zebra_finch.yaml"), "--quiet", "--run-dir", str(tmp_path / "run")]
    for s in [*TINY, f"data.root={tiny_data}", "train.steps=2", "train.sample_every=0"]:
        args += ["--set", s]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["train", "--resume", str(tmp_path / "run"), "--quiet", "--set", "train.steps=3"])
    assert result.exit_code == 0, result.output
    assert export.read_exported(tmp_path / "run")[3]["step"] == 3


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("include: " + str(REPO / "recipes" / "base.yaml") + "\nmodel:\n  widht: 3\n")
    result = runner.invoke(main, ["train", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {bad}: unknown key 'model.widht'"
    result = runner.invoke(main, ["train", str(REPO / "recipes" / "zebra_finch.yaml"), "--set",
                                  f"data.root={tmp_path / 'none'}", "--set", "data.prepare=null"])
    assert (result.exit_code == 1 and result.output.startswith("error: ")
            and len(result.output.strip().splitlines()) == 1)
