"""Tests for gaia_audio.audio: load/save round trips, resampling, levels, ramps and every bad input."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf

from gaia_audio.errors import AudioError
from gaia_audio.io import audio

SR = 22050


def sine(freq: float = 440.0, sr: int = SR, dur: float = 0.5, amp: float = 0.5) -> np.ndarray:
    """A sine tone, float32 (n,)."""
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(dur * sr)) / sr)).astype(np.float32)


def dominant_freq(y: np.ndarray, sr: int) -> float:
    """Frequency of the largest FFT bin, Hz."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


# ------------------------------------------------------------------ round trips

@pytest.mark.parametrize("subtype, tol", [("PCM_16", 2 ** -15), ("PCM_24", 2 ** -23), ("FLOAT", 0.0)])
def test_save_load_round_trip(tmp_path, subtype, tol):
    y = np.random.default_rng(0).uniform(-0.9, 0.9, 4000).astype(np.float32)
    path = audio.save(tmp_path / "x.wav", y, SR, subtype=subtype)
    assert sf.info(path).subtype == subtype
    z, sr = audio.load(path)
    assert sr == SR and z.dtype == np.float32 and z.shape == y.shape
    assert np.max(np.abs(z - y)) <= tol
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]  # no temporary file left


@pytest.mark.parametrize("subtype, tol", [("PCM_U8", 2 ** -7), ("PCM_16", 2 ** -15), ("PCM_24", 2 ** -23),
                                          ("PCM_32", 2 ** -30), ("FLOAT", 1e-7), ("DOUBLE", 1e-7)])
def test_load_any_bit_depth(tmp_path, subtype, tol):
    y = sine()
    sf.write(tmp_path / "x.wav", y, SR, subtype=subtype)
    z, sr = audio.load(tmp_path / "x.wav")
    assert sr == SR and z.dtype == np.float32 and z.shape == y.shape
    assert np.max(np.abs(z - y)) <= tol


@pytest.mark.parametrize("ext, subtype, tol",
                         [(".flac", "PCM_16", 2 ** -15), (".flac", "PCM_24", 2 ** -23), (".ogg", "PCM_16", 0.05)])
def test_flac_ogg_round_trip(tmp_path, ext, subtype, tol):
    y = sine()
    audio.save(tmp_path / f"x{ext}", y, SR, subtype=subtype)
    z, sr = audio.load(tmp_path / f"x{ext}")
    assert sr == SR and z.shape == y.shape
    assert np.max(np.abs(z - y)) <= tol


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3")
def test_load_mp3(tmp_path):
    y = sine(dur=1.0)
    sf.write(tmp_path / "x.mp3", y, SR)
    z, sr = audio.load(tmp_path / "x.mp3")
    assert sr == SR and abs(len(z) - len(y)) < 2048
    assert dominant_freq(z, sr) == pytest.approx(440, abs=5)


def test_save_clips_integer_subtypes_but_not_float(tmp_path):
    y = np.array([-2.0, -0.5, 0.5, 2.0], np.float32)
    z, _ = audio.load(audio.save(tmp_path / "i.wav", y, SR, subtype="PCM_24"))
    assert np.allclose(z, [-1.0, -0.5, 0.5, 1.0], atol=1e-6)
    z, _ = audio.load(audio.save(tmp_path / "f.wav", y, SR, subtype="FLOAT"))
    assert np.array_equal(z, y)


def test_save_overwrites_atomically_and_creates_folder(tmp_path):
    path = tmp_path / "deep" / "x.wav"
    audio.save(path, sine(), SR)
    audio.save(path, sine(880), SR)
    assert dominant_freq(audio.load(path)[0], SR) == pytest.approx(880, abs=5)
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]


# ------------------------------------------------------------------ channels and resampling

def test_stereo_mono_mix_and_channel_choice(tmp_path):
    left, right = sine(440), sine(1000, amp=0.25)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    mono, _ = audio.load(tmp_path / "st.wav")
    assert mono.shape == left.shape and np.allclose(mono, (left + right) / 2, atol=1e-7)
    both, _ = audio.load(tmp_path / "st.wav", mono=False)
    assert both.shape == (2, len(left)) and np.allclose(both[1], right)
    ch1, _ = audio.load(tmp_path / "st.wav", channel=1)
    assert ch1.shape == right.shape and np.allclose(ch1, right)
    one, _ = audio.load(tmp_path / "st.wav", mono=False, channel=0)
    assert one.shape == (1, len(left))


@pytest.mark.parametrize("orig_sr, target_sr", [(44100, 16000), (16000, 44100), (48000, 22050)])
def test_resample_keeps_length_and_frequency(tmp_path, orig_sr, target_sr):
    y = sine(1234.0, sr=orig_sr, dur=0.5)
    z = audio.resample(y, orig_sr, target_sr)
    assert z.dtype == np.float32 and len(z) == int(np.ceil(len(y) * target_sr / orig_sr))
    assert dominant_freq(z, target_sr) == pytest.approx(1234.0, abs=target_sr / len(z))
    sf.write(tmp_path / "x.wav", y, orig_sr)
    w, sr = audio.load(tmp_path / "x.wav", sr=target_sr)
    assert sr == target_sr and len(w) == len(z)


def test_resample_multichannel_and_identity():
    y = np.stack([sine(), sine(880)])
    assert audio.resample(y, SR, SR // 2).shape == (2, int(np.ceil(len(y[0]) / 2)))
    assert np.array_equal(audio.resample(y[0], SR, SR), y[0])


@pytest.mark.parametrize("shape, orig_sr, target_sr", [((4411,), 8000, 44100), ((2, 4411), 44100, 16000),
                                                      ((3, 999), 48000, 22050), ((1,), 44100, 16000)])
def test_resample_equals_librosa_soxr_hq(shape, orig_sr, target_sr):
    """Calling soxr directly gives librosa.resample's soxr_hq output exactly, its length fix included."""
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(0).normal(0, 0.3, shape).astype(np.float32)
    expected = librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq", axis=-1)
    assert np.array_equal(audio.resample(y, orig_sr, target_sr), expected)


def test_resample_refuses_nan():
    with pytest.raises(AudioError, match="NaN"):
        audio.resample(np.array([0.0, np.nan, 0.1], dtype=np.float32), 44100, 22050)


# ------------------------------------------------------------------ levels, ramps, padding

def test_levels_of_a_full_scale_sine():
    y = sine(amp=1.0, dur=1.0)
    assert audio.rms_db(y) == pytest.approx(-3.0103, abs=0.01)
    assert audio.peak_db(y) == pytest.approx(0.0, abs=0.01)
    assert audio.rms_db(np.zeros(10)) == -np.inf


def test_ramps_are_raised_cosine_and_keep_the_middle():
    y = np.ones(1000, np.float32)
    z = audio.apply_ramps(y, sr=1000, ramp_ms=100)  # 100-sample ramps
    assert z[0] == 0 and z[-1] == 0 and np.array_equal(z[100:900], y[100:900])
    assert np.all(np.diff(z[:100]) > 0) and np.allclose(z[:100], z[::-1][:100])
    assert z[50] == pytest.approx(0.5, abs=1e-6)
    assert np.array_equal(audio.apply_ramps(y, 1000, 0.0), y)
    assert audio.apply_ramps(np.ones((2, 10)), 1000, 100).shape == (2, 10)  # capped at half the signal


def test_pad_silence():
    y = sine()
    z = audio.pad_silence(y, SR, before_ms=10, after_ms=20)
    assert len(z) == len(y) + round(0.01 * SR) + round(0.02 * SR)
    assert not z[:220].any() and not z[-441:].any()
    assert np.array_equal(z[220:220 + len(y)], y)
    assert audio.pad_silence(np.ones((2, 5)), 1000, 2, 3).shape == (2, 10)


def test_lufs_without_pyloudnorm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyloudnorm", None)  # import now fails
    with pytest.raises(AudioError, match="pyloudnorm"):
        audio.pyloudnorm_module()


def test_to_mono_mixes_down_or_picks_a_channel():
    y = np.stack([np.ones(8, np.float32), -np.ones(8, np.float32) * 3])
    mixed, note = audio.to_mono(y)
    assert np.allclose(mixed, -1.0) and "2 channels mixed down" in note
    picked, note = audio.to_mono(y, channel=-1)
    assert np.allclose(picked, -3.0) and note == "channel 1 of 2 used"
    assert audio.to_mono(np.ones(5))[1] is None  # already mono: nothing to say
    with pytest.raises(AudioError, match="channel 2 out of range"):
        audio.to_mono(y, channel=2, name="x.wav")


# ------------------------------------------------------------------ bad inputs

def _bad_files(tmp_path):
    """Yield (path, expected message fragment, load kwargs) for every bad input."""
    good = tmp_path / "good.wav"
    sf.write(good, sine(), SR, subtype="PCM_16")
    raw = good.read_bytes()
    cases = {
        "missing.wav": (None, "not found"),
        "empty.wav": (b"", "empty"),
        "header_only.wav": (raw[:44], "truncated"),
        "cut_header.wav": (raw[:30], "unreadable or truncated"),
        "cut_data.wav": (raw[:2000], "truncated"),
        "garbage.wav": (os.urandom(3000), "corrupt"),
        "garbage.flac": (b"fLaC" + os.urandom(3000), "unreadable"),
        "notes.xyz": (b"just some text", "unsupported"),
    }
    for name, (data, match) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        yield tmp_path / name, match, {}
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), SR)
    yield tmp_path / "zero.wav", "no audio samples", {}
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2], np.float32), SR, subtype="FLOAT")
    yield tmp_path / "nan.wav", "NaN", {}
    sf.write(tmp_path / "inf.wav", np.array([0.1, np.inf, 0.2]), SR, subtype="DOUBLE")
    yield tmp_path / "inf.wav", "Inf", {}
    yield good, "channel 1 out of range", {"channel": 1}
    yield tmp_path, "folder", {}


def test_every_bad_input_raises_one_line_audio_error_naming_the_file(tmp_path):
    n = 0
    for path, match, kwargs in _bad_files(tmp_path):
        with pytest.raises(AudioError, match=match) as info:
            audio.load(path, **kwargs)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message
        n += 1
    assert n == 13


@pytest.mark.parametrize("y, subtype, name, match", [
    (np.array([0.0, np.nan]), "PCM_16", "x.wav", "NaN"),
    (np.array([0.0, np.inf]), "FLOAT", "x.wav", "Inf"),
    (np.zeros(0), "PCM_16", "x.wav", "shape"),
    (np.zeros(10), "PCM_8", "x.wav", "subtype"),
    (np.zeros(10), "FLOAT", "x.flac", "FLAC cannot"),
    (np.zeros(10), "PCM_16", "x.mp4", "cannot write"),
])
def test_save_rejects_bad_input_and_leaves_nothing(tmp_path, y, subtype, name, match):
    with pytest.raises(AudioError, match=match) as info:
        audio.save(tmp_path / name, y, SR, subtype=subtype)
    assert name in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
