import errno
import json
import pickle

import pytest
import torch

from gaia_audio.config import Config, resolve_presets
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
    assert config2 == resolve_presets(config) and shape == (1, 8, 4) and extra == {"step": 5}  # values stated


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


def _training_state(step):
    """A checkpoint with every key a resume reads (values are placeholders)."""
    return {**_state(step), "lr_scale": 1.0, "n_bad": 0, "config": {}, "tile_shape": [1, 8, 4], "optimizers": {},
            "sampler": {}, "noise": torch.zeros(1), "rng": {}}


DAMAGES = {"truncated": lambda raw: raw[: len(raw) // 2], "empty": lambda raw: b"", "garbage": lambda raw: b"\x00" * 64}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_resume_skips_a_damaged_newest_checkpoint_saying_which(tmp_path, damage):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, _training_state(step), keep_last=0)
    newest = ckpt.list_checkpoints(tmp_path)[-1]
    newest.write_bytes(DAMAGES[damage](newest.read_bytes()))
    notes = []
    path, state = ckpt.find_resume_checkpoint(tmp_path, notes.append)
    assert path.name == "step_0000002.pt" and state["step"] == 2
    assert len(notes) == 1 and "\n" not in notes[0]
    assert notes[0].startswith(f"{newest}: ") and "resuming from step_0000002.pt" in notes[0]
    assert newest.exists()  # reported, never deleted: the user's file


def test_resume_skips_an_incomplete_state_and_every_damaged_one(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, _training_state(1), keep_last=0)
    ckpt.save_checkpoint(tmp_path, 2, _training_state(2), keep_last=0)
    ckpt.save_checkpoint(tmp_path, 3, _state(3), keep_last=0)  # loads, but is no training state
    (tmp_path / "checkpoints" / "step_0000004.pt").write_bytes(b"")
    notes = []
    path, _ = ckpt.find_resume_checkpoint(tmp_path, notes.append)
    assert path.name == "step_0000002.pt"
    assert [n.split(":")[0] for n in notes] == [str(tmp_path / "checkpoints" / f"step_000000{s}.pt") for s in (4, 3)]
    assert "lacks lr_scale" in notes[1]


def test_resume_with_no_intact_checkpoint_names_the_files_to_remove(tmp_path):
    for step in (1, 2):
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / f"step_000000{step}.pt").write_bytes(b"PK\x03\x04cut")
    with pytest.raises(ModelError) as err:
        ckpt.find_resume_checkpoint(tmp_path, lambda note: pytest.fail(f"noted {note}"))
    message = str(err.value)
    assert message.startswith(f"{tmp_path}: no checkpoint of this run can be read") and "\n" not in message
    assert all(str(p) in message for p in ckpt.list_checkpoints(tmp_path)) and "remove" in message


def test_resume_from_a_named_damaged_file_is_refused_not_replaced(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, _training_state(1))
    ckpt.save_checkpoint(tmp_path, 2, _training_state(2))
    named = ckpt.list_checkpoints(tmp_path)[-1]
    named.write_bytes(named.read_bytes()[:100])
    with pytest.raises(ModelError, match="not a usable"):
        ckpt.find_resume_checkpoint(named)
    with pytest.raises(ModelError, match="no such run folder"):
        ckpt.find_resume_checkpoint(tmp_path / "nope")


def test_save_after_resuming_from_an_older_checkpoint_keeps_the_intact_ones(tmp_path):
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, _training_state(step), keep_last=2)
    assert [ckpt.checkpoint_step(p) for p in ckpt.list_checkpoints(tmp_path)] == [2, 3]
    (tmp_path / "checkpoints" / "step_0000003.pt").write_bytes(b"")  # damaged; the run goes on from step 2
    ckpt.save_checkpoint(tmp_path, 3, _training_state(3), keep_last=2)  # written over
    assert [ckpt.read_training_state(p)["step"] for p in ckpt.list_checkpoints(tmp_path)] == [2, 3]
    (tmp_path / "checkpoints" / "step_0000003.pt").write_bytes(b"")
    ckpt.save_checkpoint(tmp_path, 2, _training_state(2), keep_last=1)  # redoing step 2: step 3 not pruned
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_0000002.pt", "step_0000003.pt"]


def _resolved(**changes):
    """A resolved recipe mapping (what a checkpoint stores), with dotted-key changes."""
    from gaia_audio.config import to_dict

    config = to_dict(Config())
    config["frontend"].update(sr=44100, n_fft=512, hop_length=128, win_length=512, fmin=500.0, fmax=10000.0,
                              preemphasis=0.0, ref_db=20.0, min_db=-80.0, n_frames=64, kind="linear")
    config["model"].update(width=16, n_down=2, n_res=2, style_n_down=3, style_dim=64, mlp_dim=64, latent_dim=128)
    for key, value in changes.items():
        section, name = key.split("__")
        config[section][name] = value
    return config


@pytest.mark.parametrize("key, value", [("frontend__preset", "speech_16k"), ("frontend__n_frames", 32),
                                        ("frontend__fmin", 300.0), ("frontend__kind", "mel"),
                                        ("model__width", 8), ("model__kind", "vae"), ("model__latent_dim", 0),
                                        ("data__kind", "images")])
def test_resume_refuses_changes_that_change_tiles_or_weights(key, value):
    saved = _resolved()
    with pytest.raises(ModelError) as err:
        ckpt.check_resume_config(_resolved(**{key: value}), saved, "run/checkpoints/step_0000002.pt")
    dotted = key.replace("__", ".")
    message = str(err.value)
    assert message.startswith("run/checkpoints/step_0000002.pt: --resume cannot change ") and "\n" not in message
    assert f"{dotted} ({saved[key.split('__')[0]][key.split('__')[1]]!r} -> {value!r})" in message


@pytest.mark.parametrize("key, value", [("train__steps", 9000), ("train__checkpoint_every", 7),
                                        ("train__sample_every", 0), ("train__lr_max", 5e-5),
                                        ("train__batch_size", 32), ("data__root", "elsewhere"),
                                        ("model__vae_beta", 0.5), ("inversion__n_iter", 4)])
def test_resume_allows_changes_that_keep_tiles_and_weights(key, value):
    ckpt.check_resume_config(_resolved(**{key: value}), _resolved(), "x.pt")


def test_resume_conflicts_lists_every_key_and_images_compare_their_size():
    conflicts = ckpt.resume_conflicts(_resolved(frontend__preset="speech_16k", frontend__sr=16000, model__width=8),
                                      _resolved())
    assert [c[0] for c in conflicts] == ["model.width", "frontend.preset", "frontend.sr"]
    images = _resolved(data__kind="images")
    assert ckpt.resume_conflicts({**images, "frontend": {}}, images) == []  # no front end for images
    assert [c[0] for c in ckpt.resume_conflicts(_resolved(data__kind="images", data__image_size=32), images)] == [
        "data.image_size"]


def test_copy_run_forward_copies_up_to_the_step_and_reads_the_source_only(tmp_path):
    source, dest = tmp_path / "a", tmp_path / "b"
    for step in (2, 4):
        ckpt.save_checkpoint(source, step, _training_state(step))
        (source / "samples").mkdir(exist_ok=True)
        (source / "samples" / f"step_{step:07d}.png").write_bytes(b"png%d" % step)
    lines = [{"step": s, "Lr": 0.1 * s} for s in (1, 2, 3, 4)] + [{"event": "nonfinite", "step": 3}]
    (source / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n{\"step\": 5, \"Lr")
    before = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    ckpt.copy_run_forward(source, source / "checkpoints" / "step_0000002.pt", 2, dest)
    assert {p: p.read_bytes() for p in source.rglob("*") if p.is_file()} == before
    assert [p.name for p in ckpt.list_checkpoints(dest)] == ["step_0000002.pt"]
    assert ckpt.read_training_state(ckpt.list_checkpoints(dest)[0])["step"] == 2
    assert sorted(p.name for p in (dest / "samples").iterdir()) == ["step_0000002.png"]
    copied = [json.loads(line) for line in (dest / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in copied] == [1, 2, 2] and copied[-1]["event"] == "copied_from"
    assert not [p for p in dest.rglob(".*")]  # no temporary file left
    with pytest.raises(TrainingError, match="already holds a run"):
        ckpt.copy_run_forward(source, source / "checkpoints" / "step_0000004.pt", 4, dest)
    assert [p.name for p in ckpt.list_checkpoints(dest)] == ["step_0000002.pt"]
