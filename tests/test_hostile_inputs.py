"""What a hostile (or careless) user found on the landed main (issue 23 §6): each case is refused
early, in one line, before memory or disk can run out."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from safetensors.torch import save_file
from tiny_model import synthetic_unit, write_wav

from gaia_audio.bounds import MAX_LATTICE_SOUNDS, check_values
from gaia_audio.cli.main import main
from gaia_audio.config import load_config, safe_load
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


def test_resynth_never_replaces_its_input(tmp_path):
    wav = write_wav(tmp_path / "rec.wav", synthetic_unit(0), 44100)
    before = wav.read_bytes()
    _one_line_error(_invoke("resynth", wav, tmp_path / "." / "rec.wav"), "OUT is IN")
    assert wav.read_bytes() == before


def test_a_fifo_or_a_symlink_loop_is_one_line_and_never_blocks(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    wav = write_wav(tmp_path / "a.wav", synthetic_unit(0), 44100)
    for bad, needle in ((fifo, "not a regular file"), (loop, "loops")):
        for args in (["morph", bad, wav, "--steps", 3, "-o", tmp_path / "out"],
                     ["spectrogram", bad, tmp_path / "s.png"]):
            start = time.perf_counter()
            _one_line_error(_invoke(*args), str(bad), needle)
            assert time.perf_counter() - start < 60
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.png").exists()


def test_a_dollar_in_a_name_or_title_is_drawn_as_it_is(tmp_path):
    wav = write_wav(tmp_path / "price$5.wav", synthetic_unit(0), 44100)
    res = _invoke("spectrogram", wav, tmp_path / "s.png", "--title", "cost $x")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_a_constant_input_is_refused_as_no_sound(tmp_path):
    dc = write_wav(tmp_path / "dc.wav", np.full(8000, 0.25, np.float32), 44100)
    _one_line_error(_invoke("spectrogram", dc, tmp_path / "s.png"), "dc.wav", "constant input")


@pytest.mark.parametrize("extra, key", [({"d_error_real": [1, 2]}, "d_error_real"),
                                        ({"max_unit_frames": "lots"}, "max_unit_frames"),
                                        ({"step": -1}, "step"),
                                        ({"code_stats": {"mean": "x", "std": [1.0]}}, "code_stats"),
                                        ({"code_stats": {"mean": [1.0, 2.0], "std": [1.0]}}, "code_stats")])
def test_bad_values_in_a_models_metadata_are_refused_on_load(tmp_path, extra, key):
    import json

    from gaia_audio.models.export import check_extra

    with pytest.raises(ModelError, match=f"'{key}'"):
        check_extra(extra, tmp_path / "model.safetensors")
    with pytest.raises(ModelError, match="not a mapping"):
        check_extra(json.loads("[1, 2]"), tmp_path / "model.safetensors")
    check_extra({"step": 5, "d_error_real": 0.1, "max_unit_frames": 200,
                 "code_stats": {"mean": [0.0, 1.0], "std": [1.0, 2.0]}}, tmp_path / "model.safetensors")


def test_attribute_labels_near_the_float_limit_and_string_vectors_are_refused(tmp_path):
    import json

    from gaia_audio.analysis.attributes import fit_attribute_vectors
    from gaia_audio.errors import DataError
    from gaia_audio.morph.model import load_attribute

    codes = np.random.default_rng(0).normal(size=(6, 4))
    with pytest.raises(DataError, match="too large"):
        fit_attribute_vectors(codes, {"size": [str(v) for v in (1e308, -1e308, 1e308, -1e308, 5e307, 0.0)]})
    path = tmp_path / "attributes.json"
    for vector in (["1", "2", "3", "4"], [1.0, "x", 3.0, 4.0], [1e300, 0, 0, 0], None):
        path.write_text(json.dumps({"code_dim": 4, "attributes": {"age": {"vector": vector}}}))
        with pytest.raises(ModelError, match="age"):
            load_attribute(path, "age", 4)
    path.write_text(json.dumps({"attributes": ["age"]}))
    with pytest.raises(ModelError, match="not an attributes file"):
        load_attribute(path, "age", 4)


@pytest.mark.parametrize("out, existing, needle", [("results.txt", None, "cannot draw the embedding as '.txt'"),
                                                   ("fig.png", "fig.csv", "fig.csv: exists; give --overwrite"),
                                                   ("fig.png", "fig.png", "fig.png: exists; give --overwrite")])
def test_embed_checks_every_file_it_would_write_first(tmp_path, monkeypatch, out, existing, needle):
    monkeypatch.chdir(tmp_path)
    if existing:
        (tmp_path / existing).write_text("keep me")
    _one_line_error(_invoke("embed", tmp_path / "no-run", "--out", out), needle)
    if existing:
        assert (tmp_path / existing).read_text() == "keep me"
    assert not (tmp_path / "results.csv").exists()


def test_training_on_units_whose_rate_cannot_hold_the_band_is_refused(tmp_path):
    from gaia_audio.data.cache import build_tile_cache
    from gaia_audio.errors import DataError
    from gaia_audio.spectral.presets import make_frontend

    (tmp_path / "units").mkdir()
    write_wav(tmp_path / "units" / "u.wav", synthetic_unit(0, sr=8000), 8000)
    (tmp_path / "manifest.csv").write_text("path,source,onset,offset,sr,duration,label\n"
                                           "units/u.wav,s.wav,0,0.1,8000,0.1,\n")
    with pytest.raises(DataError, match=r"manifest\.csv: unit units/u\.wav \(row 2\) is at 8000 Hz.*up to 8000 Hz"):
        build_tile_cache(tmp_path, make_frontend("speech_16k"), "manifest.csv", tmp_path / "cache", False)
    assert not (tmp_path / "cache").exists()


def test_an_input_longer_than_a_morph_takes_is_refused_from_its_header(tmp_path, monkeypatch):
    from gaia_audio.bounds import MAX_MORPH_SECONDS
    from gaia_audio.io import audio

    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(int(22050 * (MAX_MORPH_SECONDS + 1)), np.int16), 22050, subtype="PCM_16")
    wav = write_wav(tmp_path / "a.wav", synthetic_unit(0), 44100)

    def never(*args, **kwargs):
        raise AssertionError("the long file's samples were read")

    monkeypatch.setattr(audio, "_read", never)
    _one_line_error(_invoke("morph", long, wav, "--steps", 3, "-o", tmp_path / "out"), "long.wav",
                    f"more than the {MAX_MORPH_SECONDS:g} s a morph takes")
    assert not (tmp_path / "out").exists()


def test_the_api_refuses_a_long_input_too():
    from gaia_audio import load_model
    from gaia_audio.bounds import MAX_MORPH_SECONDS
    from gaia_audio.errors import AudioError
    from gaia_audio.morph.model import make_endpoint

    with pytest.raises(AudioError, match="a morph takes"):
        make_endpoint(load_model("birdsong"), np.zeros(int(22050 * (MAX_MORPH_SECONDS + 5)), np.float32), 22050)
