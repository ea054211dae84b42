"""The data sources: one class per data.kind, asked instead of switching on the kind's name."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gaia_audio.config import Config, DataConfig, load_config, to_dict
from gaia_audio.data.lines import LinesSampler
from gaia_audio.data.sampler import BatchSampler
from gaia_audio.data.sources import (
    SOURCES,
    AudioSource,
    ImageSource,
    LinesSource,
    load_data,
    source_for,
    source_for_kind,
)
from gaia_audio.errors import DataError
from gaia_audio.training import checkpoint as ckpt


def _config(kind: str, **data) -> Config:
    return dataclasses.replace(load_config("base"), data=DataConfig(kind=kind, **data))


def test_the_registry_holds_one_source_per_kind():
    assert set(SOURCES) == {"audio", "images", "lines"}
    assert {type(s) for s in SOURCES.values()} == {AudioSource, ImageSource, LinesSource}
    assert all(source.kind == kind for kind, source in SOURCES.items())
    assert type(source_for(load_config("base"))) is AudioSource
    assert type(source_for(load_config("lines"))) is LinesSource
    assert type(source_for(load_config("celeba"))) is ImageSource


@pytest.mark.parametrize("kind", ["video", "Audio", ""])
def test_an_unknown_kind_is_one_line_naming_the_known_ones(kind):
    for ask in (lambda: source_for_kind(kind), lambda: source_for(_config(kind)), lambda: load_data(_config(kind))):
        with pytest.raises(DataError) as err:
            ask()
        message = str(err.value)
        assert message == f"data.kind must be one of audio, images, lines, got {kind!r}" and "\n" not in message


@pytest.mark.parametrize("kind, has_sound, fresh, has_frontend", [("audio", True, False, True),
                                                                  ("images", False, False, False),
                                                                  ("lines", False, True, False)])
def test_each_source_says_what_it_is(kind, has_sound, fresh, has_frontend):
    source = SOURCES[kind]
    assert (source.has_sound, source.fresh_each_step) == (has_sound, fresh)
    assert (source.frontend(_config(kind)) is not None) == has_frontend


def test_audio_builds_the_recipes_front_end_and_augments_within_its_range():
    config = load_config("base", ["frontend.preset=speech_16k", "frontend.n_frames=32"])
    frontend = AudioSource().frontend(config)
    assert (frontend.sr, frontend.n_frames) == (16000, 32)
    args = AudioSource().augment_args(config, frontend)
    assert args["db_range"] == frontend.ref_db - frontend.min_db and args["max_shift_frames"] == 4
    off = dataclasses.replace(config, data=dataclasses.replace(config.data, augment=False))
    assert AudioSource().augment_args(off, frontend) is None
    assert ImageSource().augment_args(config, None) is None


def test_lines_draw_fresh_batches_and_the_others_draw_from_the_tiles():
    config = _config("lines", image_size=8)
    frontend, tiles = load_data(config, progress=False)
    assert frontend is None and tiles.tiles.shape[1:] == (1, 8, 8)
    index = np.arange(len(tiles.tiles))
    assert isinstance(LinesSource().sampler(config, None, tiles.tiles, index), LinesSampler)
    assert isinstance(ImageSource().sampler(config, None, tiles.tiles, index), BatchSampler)


def test_lines_fetch_and_read_nothing(tmp_path):
    config = _config("lines", root=str(tmp_path / "none"), prepare="zebra_finch", image_size=8)
    load_data(config, progress=False)
    assert not (tmp_path / "none").exists()


def test_resume_compares_the_front_end_for_audio_and_the_image_size_otherwise():
    audio = {"frontend": {"preset": "zebra_finch", "sr": 22050}, "data": {"kind": "audio"}}
    assert AudioSource().resume_keys(audio) == [("frontend", "preset"), ("frontend", "sr")]
    assert ImageSource().resume_keys(audio) == LinesSource().resume_keys(audio) == [("data", "image_size")]


def test_an_old_run_that_stored_nulls_resumes_under_its_resolved_recipe():
    """Runs stored n_mels null (a linear front end has no mel bands) and, for images and lines, every
    front-end value null; the recipe read back now states the presets' values."""
    for recipe in ("lines", "celeba", "zebra_finch"):  # zebra_finch last: its old mapping is used below
        new = to_dict(load_config(recipe))
        old = to_dict(load_config(recipe))
        old["frontend"] = {k: (v if k == "preset" or recipe == "zebra_finch" and k != "n_mels" else None)
                           for k, v in old["frontend"].items()}
        if recipe == "zebra_finch":  # (model sizes were always stored resolved; a null still means the size's)
            old["model"]["latent_dim"] = None
        assert ckpt.resume_conflicts(new, old) == [], recipe
    new = to_dict(load_config("zebra_finch", ["frontend.n_mels=64"]))
    assert [c[:2] for c in ckpt.resume_conflicts(new, old)] == [("frontend.n_mels", 48)]  # null = the preset's 48
