"""Files from other labs are untrusted: models, checkpoints and recipes run no code, and names
read from manifests, pairs tables and CSVs never make the tool write outside its output folder.

Every payload here would create a marker file if it ran; each test checks the marker is absent.
"""
from __future__ import annotations

import pickle
import unicodedata
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_model import synthetic_unit, write_wav

from gaia_audio.cli.main import main
from gaia_audio.config import Config, load_config, to_dict
from gaia_audio.data import segment
from gaia_audio.errors import ConfigError, DataError, ModelError
from gaia_audio.io import manifest as manifests
from gaia_audio.models import export
from gaia_audio.stimuli.manifest import read_pairs


class _WritesFile:
    """Unpickling this object opens (creates) ``marker`` for writing."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _one_line(result) -> str:
    """The CLI's output, checked to be one 'error:' line and no traceback."""
    text = result.output.strip()
    assert result.exit_code == 1, text
    assert "Traceback" not in text and len(text.splitlines()) == 1 and text.startswith("error: "), text
    return text


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint that looks like ours (step, model, config) but carries a payload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 1, "config": to_dict(Config()), "model": {"w": torch.zeros(2)},
                "payload": _WritesFile(str(marker))}, path)
    return path


# ---------------------------------------------------------------- checkpoints and models


def test_checkpoint_payload_refused_by_train_resume(tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    export.write_config(run, Config(runs_dir=str(tmp_path)))
    _evil_checkpoint(run / "checkpoints" / "step_0000001.pt", marker)
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--quiet"])
    assert "not a usable gaia-audio checkpoint" in _one_line(result)
    assert not marker.exists()
    result = CliRunner().invoke(main, ["train", "--resume", str(run / "checkpoints" / "step_0000001.pt"), "--quiet"])
    assert "not a usable gaia-audio checkpoint" in _one_line(result)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["model.safetensors", "model.pt", "model.ckpt"])
@pytest.mark.parametrize("form", ["torch.save", "raw pickle"])
def test_pickled_model_refused_by_load_model_and_morph(tmp_path, name, form):
    from gaia_audio.morph.model import load_model

    marker = tmp_path / "pwned"
    evil = tmp_path / name
    if form == "torch.save":
        _evil_checkpoint(evil, marker)
    else:
        evil.write_bytes(pickle.dumps({"weights": _WritesFile(str(marker))}))
    with pytest.raises(ModelError, match="not a gaia-audio model"):
        load_model(evil)
    assert not marker.exists()
    a = write_wav(tmp_path / "a.wav", synthetic_unit(0, 0), 44100)
    b = write_wav(tmp_path / "b.wav", synthetic_unit(1, 1), 44100)
    result = CliRunner().invoke(main, ["morph", str(a), str(b), "--model", str(evil), "--out", str(tmp_path / "out")])
    assert "not a gaia-audio model" in _one_line(result)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_run_folder_whose_model_is_a_pickle_is_refused(tmp_path):
    from gaia_audio.morph.model import load_model

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    _evil_checkpoint(run / "model.safetensors", marker)
    with pytest.raises(ModelError):
        load_model(run)
    assert not marker.exists()


def test_model_metadata_with_python_yaml_tag_is_refused(tmp_path):
    """A real safetensors file whose recipe metadata tries to run code through a YAML tag."""
    from safetensors.torch import save_file

    from gaia_audio.morph.model import load_model

    marker = tmp_path / "pwned"
    config = f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(2)}, str(path),
              metadata={"format": "gaia-audio", "config": config, "tile_shape": "[1, 8, 8]", "extra": "{}"})
    with pytest.raises(ModelError, match="metadata is damaged"):
        load_model(path)
    assert not marker.exists()


# ---------------------------------------------------------------- recipes


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/module:os",
])
def test_recipe_python_tags_are_refused(tmp_path, tag):
    marker = tmp_path / "pwned"
    payload = tag.format(marker=marker)
    included = tmp_path / "inc.yaml"
    included.write_text(f"train:\n  steps: {payload}\n")
    top = tmp_path / "top.yaml"
    top.write_text("include: inc.yaml\nname: x\n")
    for recipe in (included, top):
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_config(recipe)
    result = CliRunner().invoke(main, ["train", str(top)])
    assert "not valid YAML" in _one_line(result)
    assert not marker.exists()


def test_python_tag_in_an_override_stays_a_string(tmp_path):
    marker = tmp_path / "pwned"
    config = load_config(None, [f"name=!!python/object/apply:os.system ['touch {marker}']"])
    assert isinstance(config.name, str) and not marker.exists()
    with pytest.raises(ConfigError, match="must be int"):
        load_config(None, [f"train.steps=!!python/object/apply:os.system ['touch {marker}']"])
    assert not marker.exists()


def test_resume_with_a_tampered_config_yaml_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--quiet"])
    assert "not valid YAML" in _one_line(result)
    assert not marker.exists()


# ---------------------------------------------------------------- names that could escape

ESCAPES = ["../x.wav", "../../../../tmp/x.wav", "/etc/passwd", "/tmp/x.wav", "..\\x.wav", "units/../../x.wav",
           "C:\\Windows\\x.wav", "C:x.wav", "\\x.wav", "\\Windows\\x.wav", "\\\\server\\share\\x.wav", "units/..",
           "./../x.wav", "units\\..\\..\\x"]


@pytest.mark.parametrize("unit_path", ESCAPES)
def test_manifest_paths_cannot_leave_the_dataset(tmp_path, unit_path):
    path = tmp_path / "manifest.csv"
    path.write_text("path,source,onset,offset,sr,duration,label\n"
                    f"\"{unit_path}\",s.wav,0,0.1,44100,0.1,x\n", encoding="utf-8")
    with pytest.raises(DataError, match="relative"):
        manifests.read_manifest(path)


# names built from any text: unicode letters, separators, dots, control characters
_NAME_TEXT = st.text(alphabet=st.one_of(st.sampled_from(list("./\\:~ \x00\n\t\u2024\u2215\uff0f\u202e\u200b")),
                                        st.characters(codec="utf-8")), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(unit_path=_NAME_TEXT)
def test_any_accepted_manifest_path_stays_inside_the_root(tmp_path, unit_path):
    """Whatever the path column holds, read_manifest either refuses it or it resolves inside the root."""
    import csv

    root = tmp_path / "data"
    root.mkdir(exist_ok=True)
    path = root / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([manifests.MANIFEST_COLUMNS, [unit_path, "s.wav", 0, 0.1, 44100, 0.1, "x"]])
    try:
        rows = manifests.read_manifest(path)
    except DataError as err:
        assert "\n" not in str(err)
        return
    for row in rows:
        assert "\x00" in row["path"] or _inside(root / row["path"], root)


def _inside(path: Path, root: Path) -> bool:
    """True if ``path`` resolves inside ``root``, on POSIX and read with Windows separators."""
    posix = path.resolve().is_relative_to(root.resolve())
    windows = PurePosixPath(str(path.relative_to(root)).replace("\\", "/"))
    return posix and ".." not in windows.parts and not windows.is_absolute()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=_NAME_TEXT)
def test_unit_files_land_in_the_unit_folder_whatever_the_source_name(tmp_path, source):
    out = tmp_path / "ds" / "units"
    rows = segment.write_units(np.full(100, 0.1, np.float32), 1000, [(0.0, 0.05)], out, source)
    written = out / PurePosixPath(rows[0]["path"]).name
    assert written.is_file() and written.parent == out
    assert rows[0]["path"].startswith("units/") and ".." not in PurePosixPath(rows[0]["path"]).parts
    assert {p.parent for p in tmp_path.rglob("*.wav")} == {out}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAME_TEXT, a=_NAME_TEXT)
def test_pairs_names_accepted_are_plain_folder_names(tmp_path, name, a):
    """A continuum name from pairs.csv (or the default built from file stems) is one plain folder name."""
    import csv

    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["a", "b", "name"], [a, "b.wav", name]])
    try:
        pairs = read_pairs(path)
    except DataError as err:
        assert "\n" not in str(err)
        return
    for row in pairs:
        folder = row["name"]
        assert folder not in ("", ".", "..") and "/" not in folder and "\\" not in folder
        assert len(folder.encode("utf-8")) <= 255
        assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in folder)
        assert (tmp_path / "out" / folder).parent == tmp_path / "out"


@pytest.mark.parametrize("name", ["../escape", "/abs/escape", "..", ".hidden", "a\\..\\b", "nul\x00byte",
                                  "x" * 300, "\u202eevil.wav", "bell\x07"])
def test_continuum_cli_refuses_bad_pair_names_in_one_line(tmp_path, name):
    a = write_wav(tmp_path / "a.wav", synthetic_unit(0, 0), 44100)
    b = write_wav(tmp_path / "b.wav", synthetic_unit(1, 1), 44100)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"a,b,name\n{a.name},{b.name},\"{name}\"\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["continuum", str(pairs), "--model", str(tmp_path / "no-model"),
                                       "--out", str(tmp_path / "out")])
    assert "cannot be a folder name" in _one_line(result)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()
    assert not Path("/abs/escape").exists()



# ---------------------------------------------------------------- data.prepare names no file to run


def _marker_prepare(folder: Path, marker: Path) -> Path:
    """A folder holding a prepare.py that would write ``marker`` if anything imported it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prepare.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                       "def prepare(out):\n    open(" + repr(str(marker)) + ", 'w').write('ran')\n")
    return folder


@pytest.mark.parametrize("value", ["ABSOLUTE", "../..", "zebra_finch/../../x", "speech"])
def test_a_recipe_cannot_name_a_file_to_run(tmp_path, value, monkeypatch):
    marker = tmp_path / "pwned"
    evil = _marker_prepare(tmp_path / "evil", marker)
    value = str(evil) if value == "ABSOLUTE" else value
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"include: {Path(__file__).resolve().parent.parent / 'recipes' / 'base.yaml'}\n"
                      f"data:\n  root: {tmp_path / 'missing'}\n  prepare: {value!r}\n")
    monkeypatch.chdir(tmp_path / "evil")  # nothing is looked up relative to the current folder either
    text = _one_line(CliRunner().invoke(main, ["train", str(recipe), "--quiet"]))
    assert f"error: {recipe}" in text and "'data.prepare' must be null or one of zebra_finch" in text
    assert not marker.exists()
    text = _one_line(CliRunner().invoke(main, ["train", "zebra_finch", "--quiet", "--set", f"data.prepare={value}"]))
    assert "'data.prepare' must be null or one of zebra_finch" in text and not marker.exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from tiny_model import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("tiny"))


def _with_stored_data(run: Path, dest: Path, **data) -> Path:
    """A copy of ``run``'s model whose stored recipe has these ``data`` settings."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = run / "model.safetensors"
    with safe_open(str(src), framework="pt") as fh:
        metadata = dict(fh.metadata())
    stored = yaml.safe_load(metadata["config"])
    stored["data"].update(data)
    metadata["config"] = yaml.safe_dump(stored)
    dest.mkdir(parents=True)
    save_file(load_file(str(src)), str(dest / "model.safetensors"), metadata=metadata)
    return dest


@pytest.mark.parametrize("command", ["evaluate", "embed"])
def test_a_shared_model_never_prepares_data_or_writes_a_cache(tiny_run, tmp_path, command):
    marker = tmp_path / "pwned"
    evil = _marker_prepare(tmp_path / "evil", marker)
    outside = tmp_path / "outside_cache"
    stored_root = yaml.safe_load((tiny_run / "config.yaml").read_text())["data"]["root"]
    # the stored data folder is missing: the model's prepare key must not run anything
    missing = _with_stored_data(tiny_run, tmp_path / "m1", prepare=str(evil), root=str(tmp_path / "nowhere"),
                                cache_dir=str(outside))
    args = {"evaluate": ["evaluate", str(missing), "--out", str(tmp_path / "o1"),
                         "--critic-steps", "2", "--pairs", "4"],
            "embed": ["embed", str(missing), "--out", str(tmp_path / "o1" / "embed.png")]}[command]
    text = _one_line(CliRunner().invoke(main, args))
    assert "data folder does not exist" in text and not marker.exists() and not outside.exists()
    if command == "embed":  # embed reads data as evaluate does (analysis.embed.load_run); UMAP is slow
        return
    # the data folder exists: tiles are made in memory, never in the stored cache_dir
    present = _with_stored_data(tiny_run, tmp_path / "m2", prepare=str(evil), root=stored_root,
                                cache_dir=str(outside))
    args = {"evaluate": ["evaluate", str(present), "--out", str(tmp_path / "o2"),
                         "--critic-steps", "2", "--pairs", "4"],
            "embed": ["embed", str(present), "--out", str(tmp_path / "o2" / "embed.png")]}[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert not marker.exists() and not outside.exists()
