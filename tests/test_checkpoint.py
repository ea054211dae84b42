import errno
import pickle

import pytest
import torch

from gaia_audio.config import Config
from gaia_audio.errors import ModelError, TrainingError
from gaia_audio.models import export
from gaia_audio.training import checkpoint as ckpt


def _state(step):
    return {"step": step, "model": {"w": torch.full((3,), float(step))}, "rng": torch.get_rng_state()}


def test_save_keeps_last_k_and_lists_in_order(tmp_path):
    for step in (10, 20, 30, 40):
        ckpt.save_checkpoint(tmp_path, step, _state(step), keep_last=2)
    found = ckpt.list_checkpoints(tmp_path)
    assert [p.name for p in found] == ["step_0000030.pt", "step_0000040.pt"]
    assert ckpt.load_checkpoint(found[-1])["model"]["w"][0] == 40
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, 10, _state(10))

    def full_disk(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(TrainingError, match="disk full") as err:
        ckpt.save_checkpoint(tmp_path, 20, _state(20))
    assert "\n" not in str(err.value)
    monkeypatch.undo()
    found = ckpt.list_checkpoints(tmp_path)
    assert [p.name for p in found] == ["step_0000010.pt"]
    assert ckpt.load_checkpoint(found[0])["step"] == 10
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "checkpoints" / "step_0000001.pt"
    evil.parent.mkdir()
    torch.save({"step": 1, "x": _Payload(str(marker))}, evil)
    assert not marker.exists()
    with pytest.raises(ModelError, match="not a usable"):
        ckpt.load_checkpoint(evil)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ModelError):
        ckpt.load_checkpoint(raw)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_damaged_checkpoint_is_one_line_error(tmp_path, content):
    path = tmp_path / "step_0000001.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        ckpt.load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_export_and_read_back(tmp_path):
    model = torch.nn.Linear(3, 2)
    config = Config(name="x")
    path = export.export_model(tmp_path, model, config, (1, 8, 4), {"step": 5})
    weights, config2, shape, extra = export.read_exported(tmp_path)
    assert path == tmp_path / "model.safetensors" and (tmp_path / "config.yaml").is_file()
    assert torch.equal(weights["weight"], model.weight.detach())
    assert config2 == config and shape == (1, 8, 4) and extra == {"step": 5}


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "])
def test_read_exported_rejects_non_models(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a gaia-audio model"):
        export.read_exported(path)


def test_read_exported_rejects_foreign_safetensors(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelError, match="without gaia-audio metadata"):
        export.read_exported(path)


def test_missing_model_paths(tmp_path):
    with pytest.raises(ModelError, match="no such model"):
        export.resolve_model_path(tmp_path / "nope.safetensors")
    with pytest.raises(ModelError, match="no exported model"):
        export.resolve_model_path(tmp_path)
