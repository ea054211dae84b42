"""The shipped models: found by name, loaded, faithful to their cards; a path always wins over a name."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from tiny_model import train_tiny_model

from gaia_audio import load_model, pretrained
from gaia_audio.errors import ModelError
from gaia_audio.io import audio
from gaia_audio.models.export import resolve_model_path
from gaia_audio.morph.model import make_endpoint
from gaia_audio.morph.series import morph_pair
from gaia_audio.morph.tune import TuneSettings
from gaia_audio.spectral.metrics import fidelity_db

SHIPPED = ("birdsong", "speech")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return train_tiny_model(tmp_path_factory.mktemp("pack"))


def test_the_birdsong_and_speech_models_ship_with_cards_and_examples():
    assert set(SHIPPED) <= set(pretrained.names())
    assert pretrained.DEFAULT_MODEL in pretrained.names()
    for name in SHIPPED:
        folder = pretrained.model_dir(name)
        card = pretrained.card(name)
        for key in ("a", "b"):
            assert (folder / card["example"][key]).is_file()
        text = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
        for needed in ("gaia-audio train", "steps", "hardware", "WORLD", "cross-fade"):
            assert needed.lower() in text.lower(), (name, needed)
        assert (folder / "config.yaml").is_file()


@pytest.mark.parametrize("name", SHIPPED)
def test_weights_are_half_precision_and_load_as_float32(name):
    file = pretrained.model_dir(name) / pretrained.MODEL_FILE
    with safe_open(str(file), framework="pt") as fh:
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes  # half of the bytes on disk
    vm = load_model(name)
    assert all(p.dtype == torch.float32 for p in vm.model.parameters())
    assert vm.name == name and "step" in vm.extra


def test_load_model_defaults_to_the_birdsong_model():
    assert load_model().name == pretrained.DEFAULT_MODEL == "birdsong"


def test_a_path_that_exists_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model_path("speech").parent == pretrained.PRETRAINED_DIR / "speech"
    (tmp_path / "speech").mkdir()  # a run folder of the user's that happens to be called speech
    with pytest.raises(ModelError, match="no exported model.safetensors"):
        resolve_model_path("speech")


def test_an_unknown_name_lists_the_shipped_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="nor a shipped model .*birdsong.*speech"):
        resolve_model_path("nightingale")
    with pytest.raises(ModelError, match="no shipped model 'nightingale'"):
        pretrained.model_dir("nightingale")
    assert pretrained.find("../speech") is None and pretrained.find("") is None


def test_pack_halves_a_run_and_keeps_its_recipe(tiny_run, tmp_path):
    out = pretrained.pack(tiny_run, "mine", root=tmp_path)
    assert out == tmp_path / "mine" / "model.safetensors"
    assert (tmp_path / "mine" / "config.yaml").read_text() == (tiny_run / "config.yaml").read_text()
    with safe_open(str(out), framework="pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} <= {torch.float16, torch.int64}
        assert json.loads(fh.metadata()["tile_shape"])
    vm = load_model(out)
    ref = load_model(tiny_run)
    for p, q in zip(vm.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(p, q, atol=2e-3, rtol=2e-3)  # float16 rounding only
    with pytest.raises(ModelError):
        pretrained.pack(tiny_run, "../escape", root=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_the_card_figure_of_its_example_pair_is_reproduced_within_1_db(name):
    torch.manual_seed(0)
    vm = load_model(name)
    example = pretrained.card(name)["example"]
    folder = pretrained.model_dir(name)
    ends = []
    for key in ("a", "b"):
        y, sr = audio.load(folder / example[key])
        ends.append(make_endpoint(vm, y, sr, key))
    result = morph_pair(vm, *ends, steps=example["steps"], tune_steps=example["tune_steps"], tune=TuneSettings())
    first = fidelity_db(vm.frontend, ends[0].y, result.waveforms[0])
    last = fidelity_db(vm.frontend, ends[1].y, result.waveforms[-1])
    assert first == pytest.approx(example["fidelity_db"][0], abs=1.0)
    assert last == pytest.approx(example["fidelity_db"][1], abs=1.0)
