"""What a hostile (or careless) user found on the landed main (issue 23 §6): each case is refused
early, in one line, before memory or disk can run out."""
from __future__ import annotations

import time

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file
from tiny_model import synthetic_unit, write_wav

from gaia_audio.cli.main import main
from gaia_audio.config import MAX_LATTICE_SOUNDS, check_values, load_config, safe_load
from gaia_audio.errors import ConfigError, ModelError
from gaia_audio.models.export import read_exported

#: 453 bytes of YAML that expand to 9^9 strings (a "billion laughs")
ALIAS_BOMB = "\n".join(["a: &a [x,x,x,x,x,x,x,x,x]"] + [
    f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ",".join([f"*{chr(ord('a') + i - 1)}"] * 9) + "]"
    for i in range(1, 9)])


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res, *needles):
    assert res.exit_code == 1, res.output
    line = res.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    for needle in needles:
        assert needle in line, line
    return line


def test_yaml_aliases_are_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(Exception, match="aliases"):
        safe_load(ALIAS_BOMB)
    assert safe_load("a: [1, 2]\nb: {c: 3}") == {"a": [1, 2], "b": {"c": 3}}
    assert time.perf_counter() - start < 5  # (a generous bound: expanding it takes minutes and gigabytes)


def test_an_alias_bomb_in_a_recipe_is_one_error_naming_the_file(tmp_path):
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text("include: base.yaml\nname: run\n" + ALIAS_BOMB + "\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml.*aliases"):
        load_config(recipe)
    res = _invoke("train", recipe)
    _one_line_error(res, "bomb.yaml", "not valid YAML", "aliases")


def test_an_alias_in_a_set_override_is_never_expanded():
    bomb = "{a: &a [x,x,x,x,x,x,x,x,x], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], c: [*b,*b,*b,*b,*b,*b,*b,*b,*b]}"
    with pytest.raises(ConfigError, match="data.holdout"):  # kept as the text it is: not a number
        load_config("zebra_finch", ["data.holdout=" + bomb])


def test_an_alias_bomb_in_a_models_stored_config_is_refused_as_damaged(tmp_path):
    model = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(1)}, str(model), metadata={"format": "gaia-audio", "config": ALIAS_BOMB,
                                                          "tile_shape": "[1, 8, 8]", "extra": "{}"})
    with pytest.raises(ModelError, match="metadata is damaged.*aliases"):
        read_exported(model)


@pytest.mark.parametrize("override, key", [("train.batch_size=1000000000", "train.batch_size"),
                                           ("train.threads=100000", "train.threads"),
                                           ("train.steps=100000000000", "train.steps")])
def test_training_sizes_have_upper_bounds(override, key):
    with pytest.raises(ConfigError, match=key):
        check_values(load_config("zebra_finch", [override]))


def test_a_grid_of_too_many_sounds_is_refused_before_any_work(tmp_path):
    wav = write_wav(tmp_path / "a.wav", synthetic_unit(0), 44100)
    res = _invoke("continuum", "--grid", wav, wav, wav, wav, "--steps", 10_000, "-o", tmp_path / "grid")
    _one_line_error(res, "--steps", f"more than {MAX_LATTICE_SOUNDS}")
    assert not (tmp_path / "grid").exists()


@pytest.mark.parametrize("args, needle", [
    (["trials", ".", "--design", "ax", "--repeats", 1_000_000], "--repeats"),
    (["trials", ".", "--design", "ax", "--seed", -1], "--seed"),
    (["morph", "a.wav", "b.wav", "--seed", 2 ** 64], "--seed"),
    (["morph", "a.wav", "--attribute", "age", "--extent", "nan", "1"], "--extent"),
    (["morph", "a.wav", "--attribute", "age", "--extent", "-inf", "1"], "--extent"),
    (["evaluate", ".", "--pairs", 10 ** 9], "--pairs"),
    (["evaluate", ".", "--critic-steps", 10 ** 9], "--critic-steps"),
    (["embed", ".", "--out", "e.png", "--seed", 2 ** 70], "--seed"),
])
def test_options_without_an_upper_bound_now_have_one(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    _one_line_error(_invoke(*args), needle)
    assert list(tmp_path.iterdir()) == []
