"""VocalModel and the Python API (morph/model.py): load_model, encode, decode, continuum, realism, bad inputs."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import make_synthetic_song
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tiny_model import synthetic_unit, train_tiny_model

from gaia_audio import continuum, load_model
from gaia_audio.errors import AudioError, ModelError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_tiny_model(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def vm(run):
    return load_model(run)


def test_import_gaia_audio_stays_light_and_load_model_is_lazy():
    code = ("import sys, gaia_audio; assert 'torch' not in sys.modules, 'torch imported'; "
            "f = gaia_audio.load_model; assert 'torch' in sys.modules; print(f.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "gaia_audio.morph.model"


def test_load_model_by_folder_or_file(run, vm):
    by_file = load_model(run / "model.safetensors")
    assert vm.sr == by_file.sr == 22050 and vm.kind == "gaia"
    assert vm.checksum() == hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    assert vm.d_error_real > 0
    x = torch.rand(2, 1, vm.n_freq, vm.n_frames)
    torch.testing.assert_close(vm.decode_codes(vm.encode_tiles(x)), by_file.decode_codes(by_file.encode_tiles(x)))


def test_encode_decode(vm):
    y = synthetic_unit(0)
    z = vm.encode(y, 44100)
    assert z.shape == (vm.model.code_dim,) and np.all(np.isfinite(z))
    np.testing.assert_array_equal(z, vm.encode(y, 44100))
    assert not np.allclose(z, vm.encode(synthetic_unit(1), 44100))
    y_hat = vm.decode(z, duration=0.1)
    assert y_hat.shape == (round(0.1 * vm.sr),) and y_hat.dtype == np.float32 and np.all(np.isfinite(y_hat))
    assert len(vm.decode(z)) == vm.n_frames * vm.hop_length  # default: one tile's duration


def test_morph_steps_rows_and_durations(vm):
    y_a, y_b = synthetic_unit(0, 0), synthetic_unit(1, 2)
    result = continuum(vm, y_a, y_b, 44100, steps=5, spacing="uniform")
    assert result.sr == vm.sr and len(result.waveforms) == len(result.rows) == len(result.spectrograms) == 5
    n_a, n_b = round(len(y_a) / 2), round(len(y_b) / 2)  # 44.1 kHz -> 22.05 kHz
    for k, (row, y) in enumerate(zip(result.rows, result.waveforms)):
        assert row["step"] == k and row["alpha"] == pytest.approx(k / 4)
        assert len(y) == pytest.approx(n_a + k / 4 * (n_b - n_a), abs=2)  # duration linear in alpha
        assert row["duration_s"] == pytest.approx(len(y) / vm.sr)
        assert np.isfinite(row["level_db"]) and 0 < row["realism"] < 100
        assert (row["distance_prev"] is None) == (k == 0)
        assert (row["fidelity_db"] is not None) == (k in (0, 4))
    assert any("resampled from 44100 Hz" in n for n in result.notes)


def test_realism_is_relative_to_real_training_tiles(vm, run):
    """Real units score about 1.0: the scale the manifest's realism column uses."""
    from gaia_audio.io.manifest import read_manifest

    data = run.parent.parent / "data"
    rows = read_manifest(data / "manifest.csv")
    tiles = []
    for row in rows:
        import soundfile as sf

        y, _ = sf.read(data / row["path"], dtype="float32")
        tiles.append(vm.to_tile(vm.spectrogram(y)))
    ratio = vm.realism(torch.stack(tiles)).mean()
    assert 0.8 < ratio < 1.25


@pytest.mark.slow
def test_long_inputs_are_aligned_and_morphed_by_windows(vm):
    song_a, sr, _ = make_synthetic_song(sr=22050, seed=4)
    song_b = make_synthetic_song(sr=22050, seed=5, n_units=5)[0]
    result = continuum(vm, song_a, song_b, sr, steps=3, spacing="uniform")
    assert any("aligned by DTW" in n for n in result.notes)
    lengths = [len(y) for y in result.waveforms]
    assert lengths[0] == len(song_a) and lengths[-1] == len(song_b)
    assert lengths[1] == pytest.approx((len(song_a) + len(song_b)) / 2, abs=1)


def test_stereo_input_is_mixed_down_with_a_note(vm):
    y = synthetic_unit(2)
    result = continuum(vm, np.stack([y, 0.5 * y]), synthetic_unit(3), 44100, steps=2)
    assert any("2 channels mixed down" in n for n in result.notes)


def test_ae_model_has_no_realism(tmp_path):
    vm = load_model(train_tiny_model(tmp_path, kind="ae"))
    result = continuum(vm, synthetic_unit(0), synthetic_unit(1), 44100, steps=2)
    assert all(row["realism"] is None for row in result.rows)


@pytest.mark.parametrize("make, match", [
    (lambda: np.zeros(4000, np.float32), "silent"),
    (lambda: 1e-6 * synthetic_unit(0), "too quiet"),
    (lambda: np.full(4000, np.nan, np.float32), "NaN"),
    (lambda: np.zeros(0, np.float32), "empty"),
    (lambda: synthetic_unit(0)[:50], "too short"),
])
def test_bad_inputs_are_one_line_errors(vm, make, match):
    with pytest.raises(AudioError, match=match) as err:
        continuum(vm, make(), synthetic_unit(1), 44100, steps=2)
    assert "\n" not in str(err.value)


def test_not_a_model_is_a_model_error(tmp_path, run):
    with pytest.raises(ModelError, match="no such model"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelError, match="no exported model"):
        load_model(tmp_path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a gaia-audio model"):
        load_model(junk)
    # a real safetensors file with gaia-audio metadata whose weights do not fit the recipe
    src = run / "model.safetensors"
    with safe_open(str(src), framework="pt") as fh:
        metadata = fh.metadata()
    weights = load_file(str(src))
    weights.pop(sorted(weights)[0])
    broken = tmp_path / "broken.safetensors"
    save_file(weights, str(broken), metadata=metadata)
    with pytest.raises(ModelError, match="do not fit"):
        load_model(broken)
    # a foreign safetensors file
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(ModelError, match="not a gaia-audio model"):
        load_model(foreign)
    assert json.loads(metadata["tile_shape"])[0] == 1


@pytest.mark.slow
def test_real_zebra_finch_syllables_and_motifs(vm, real_songs):
    """Two real syllables morph as units; two real song excerpts are aligned and morphed by windows."""
    from gaia_audio.data.segment import detect_units
    from gaia_audio.io import audio

    songs = [audio.load(p) for p in real_songs[:2]]
    (y_a, sr), (y_b, _) = songs
    units = [detect_units(y, sr, threshold_db=-25.0, min_duration=0.03, max_duration=0.3) for y, _ in songs]
    (a0, a1), (b0, b1) = units[0][1], units[1][1]
    result = continuum(vm, y_a[int(a0 * sr):int(a1 * sr)], y_b[int(b0 * sr):int(b1 * sr)], sr, steps=3)
    assert not any("aligned by DTW" in n for n in result.notes)
    assert all(np.all(np.isfinite(y)) and np.abs(y).max() > 0 for y in result.waveforms)
    assert result.rows[0]["fidelity_db"] is not None and result.rows[2]["fidelity_db"] is not None
    excerpt_a, excerpt_b = y_a[:int(1.2 * sr)], y_b[:int(1.5 * sr)]
    result = continuum(vm, excerpt_a, excerpt_b, sr, steps=3)
    assert any("aligned by DTW" in n for n in result.notes)
    assert len(result.waveforms[0]) == round(len(excerpt_a) * vm.sr / sr)
    assert len(result.waveforms[2]) == round(len(excerpt_b) * vm.sr / sr)
