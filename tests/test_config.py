from pathlib import Path

import pytest
import yaml

from gaia_audio.config import Config, builtin_recipes, from_dict, load_config, to_dict
from gaia_audio.errors import ConfigError

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@pytest.mark.parametrize("name", builtin_recipes())
def test_every_built_in_recipe_loads_by_name_and_holds_what_its_file_says(name):
    config = load_config(name)
    assert config == load_config(RECIPES / f"{name}.yaml")  # the name and the checkout's file are one recipe
    stated = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
    stated.pop("include", None)
    for section, values in stated.items():
        for key, value in (values.items() if isinstance(values, dict) else [(None, values)]):
            got = getattr(config, section) if key is None else getattr(getattr(config, section), key)
            assert got == (pytest.approx(value) if isinstance(value, float) else value), f"{section}.{key}"


def test_a_recipe_name_that_is_neither_file_nor_built_in_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^zebra: no such recipe file, nor a built-in recipe \(built-in: base, "):
        load_config("zebra")
    with pytest.raises(ConfigError, match="no such recipe file"):
        load_config(tmp_path / "zebra_finch.yaml")  # a path is never taken for a name


def test_dataset_recipe_overrides_base():
    config = load_config(RECIPES / "zebra_finch.yaml")
    assert config.name == "zebra_finch"
    assert config.frontend.preset == "zebra_finch"
    assert config.train.distance_weight == pytest.approx(5e-5)  # from base.yaml


def test_set_overrides_parse_values():
    config = load_config(RECIPES / "zebra_finch.yaml", ["train.steps=7", "model.kind=ae", "data.augment=false",
                                                       "train.lr_max=2e-4", "frontend.fmax=null"])
    assert config.train.steps == 7 and config.model.kind == "ae" and config.data.augment is False
    assert config.train.lr_max == pytest.approx(2e-4) and config.frontend.fmax is None


def test_unknown_key_names_key_and_file(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("include: " + str(RECIPES / "base.yaml") + "\ntrain:\n  stepz: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(recipe)
    msg = str(err.value)
    assert "train.stepz" in msg and str(recipe) in msg and "\n" not in msg


def test_unknown_override_key_is_refused():
    with pytest.raises(ConfigError, match="model.wdth"):
        load_config(None, ["model.wdth=3"])


@pytest.mark.parametrize("text, key", [("train:\n  steps: many\n", "train.steps"),
                                       ("train:\n  steps: true\n", "train.steps"),
                                       ("model: 3\n", "model"),
                                       ("train:\n  seed: null\n", "train.seed")])
def test_wrong_types_are_refused(tmp_path, text, key):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(recipe)


def test_yaml_is_safe_loaded(tmp_path):
    marker = tmp_path / "pwned"
    recipe = tmp_path / "evil.yaml"
    recipe.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(recipe)
    assert not marker.exists()


@pytest.mark.parametrize("text", ["- a\n- b\n", "a: [unclosed\n", "\x00\x01binary"])
def test_malformed_recipes_give_one_line(tmp_path, text):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(recipe)
    assert str(recipe) in str(err.value) and "\n" not in str(err.value)


def test_missing_recipe_and_self_include(tmp_path):
    with pytest.raises(ConfigError, match="no such recipe"):
        load_config(tmp_path / "nope.yaml")
    loop = tmp_path / "loop.yaml"
    loop.write_text("include: loop.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(loop)


def test_round_trip_through_dict():
    config = load_config(RECIPES / "zebra_finch.yaml", ["model.width=8"])
    assert from_dict(Config, to_dict(config)) == config


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["train.steps"])
