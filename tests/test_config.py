import dataclasses
from pathlib import Path

import pytest
import yaml

from gaia_audio.config import (
    MODEL_SIZE_KEYS,
    Config,
    FrontendConfig,
    ModelConfig,
    builtin_recipes,
    from_dict,
    frontend_presets,
    load_config,
    model_sizes,
    read_presets,
    resolve_presets,
    to_dict,
)
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
    assert config.train.lr_max == pytest.approx(2e-4)
    assert config.frontend.fmax == 8000.0  # null means "the preset's": zebra_finch's band ends at 8 kHz


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


# ---- presets: the front end and network size a recipe names, resolved when it is read ---------------

FRONTEND_KEYS = tuple(f.name for f in dataclasses.fields(FrontendConfig) if f.name != "preset")


@pytest.mark.parametrize("name", builtin_recipes())
def test_a_loaded_recipe_states_every_front_end_and_model_value(name):
    config = load_config(name)
    assert None not in dataclasses.asdict(config.frontend).values()
    assert None not in dataclasses.asdict(config.model).values()
    assert resolve_presets(config) == config  # resolving twice changes nothing


def test_base_recipe_holds_no_null_for_presets_to_fill():
    base = yaml.safe_load((RECIPES / "base.yaml").read_text())
    assert base["frontend"] == {"preset": "zebra_finch"}
    assert set(base["model"]) == {"kind", "size", "vae_beta"}


def test_set_preset_gives_all_of_that_preset_and_no_leftovers():
    config = load_config("zebra_finch", ["frontend.preset=speech_16k"])
    assert config.frontend.sr == 16000
    assert {k: getattr(config.frontend, k) for k in FRONTEND_KEYS} == frontend_presets()["speech_16k"]
    config = load_config("base", ["model.size=paper"])
    assert {k: getattr(config.model, k) for k in MODEL_SIZE_KEYS} == model_sizes()["paper"]


def test_a_value_the_recipe_states_wins_over_its_preset(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"include: {RECIPES / 'base.yaml'}\nfrontend:\n  preset: speech_16k\n  fmax: 4000\n"
                      "model:\n  width: 8\n")
    config = load_config(recipe, ["frontend.n_frames=32"])
    assert (config.frontend.sr, config.frontend.fmax, config.frontend.n_frames) == (16000, 4000.0, 32)
    assert (config.model.width, config.model.latent_dim) == (8, model_sizes()["small"]["latent_dim"])
    assert load_config("lines").model.width == 8  # lines.yaml states it, over the small size's 16


def test_an_unresolved_stored_config_resolves_to_the_resolved_one():
    old = Config(model=ModelConfig(size="small"))  # nulls, as runs stored before presets were resolved
    resolved = resolve_presets(old)
    assert resolved.frontend.sr == 22050 and resolved.model.width == 16
    assert from_dict(Config, to_dict(resolve_presets(from_dict(Config, to_dict(old))))) == resolved
    assert resolve_presets(dataclasses.replace(old, frontend=FrontendConfig(preset=None))).frontend.preset == (
        "zebra_finch")


@pytest.mark.parametrize("override, key", [("frontend.preset=canary", "unknown frontend preset 'canary'"),
                                           ("model.size=huge", "unknown model size 'huge'")])
def test_an_unknown_preset_is_one_line(override, key):
    with pytest.raises(ConfigError) as err:
        load_config("zebra_finch", [override])
    assert key in str(err.value) and "(use one of " in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_presets_are_the_published_values():
    assert frontend_presets()["speech_16k"]["sr"] == 16000 and frontend_presets()["mouse_usv"]["fmin"] == 30000.0
    assert set(frontend_presets()) == {"zebra_finch", "bengalese_finch", "starling", "speech_16k", "mouse_usv"}
    assert model_sizes()["paper"] == {"width": 64, "n_down": 2, "n_res": 4, "style_n_down": 4, "style_dim": 512,
                                      "mlp_dim": 256, "latent_dim": 512}


@pytest.mark.parametrize("text, problem", [
    ("width: &w 16\nn_down: *w\nn_res: 2\nstyle_n_down: 3\nstyle_dim: 64\nmlp_dim: 64\nlatent_dim: 128\n",
     "aliases (*name) are not allowed"),
    ("width: 16\n", "a preset must state n_down"),
    ("width: 16\nn_down: 2\nn_res: 2\nstyle_n_down: 3\nstyle_dim: 64\nmlp_dim: 64\nlatent_dim: 128\nkind: ae\n",
     "a preset may not state kind"),
    ("widht: 16\n", "unknown key 'widht'"),
    ("width: wide\n", "'width' must be int"),
])
def test_a_bad_preset_file_is_refused_in_one_line(tmp_path, text, problem):
    (tmp_path / "huge.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        read_presets(tmp_path, ModelConfig, MODEL_SIZE_KEYS)
    message = str(err.value)
    assert problem in message and "huge.yaml" in message and "\n" not in message
