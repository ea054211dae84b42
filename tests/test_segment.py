"""Tests for gaia_audio.data.segment: unit detection, its per-preset settings and its record, unit files and
manifests (annotation files: tests/test_annotations.py)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import make_synthetic_song

from gaia_audio.data import segment
from gaia_audio.errors import ConfigError, DataError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests

# ------------------------------------------------------------------ detect_units


def test_detect_units_recovers_synthetic_song(synthetic_song):
    y, sr, truth = synthetic_song
    units = segment.detect_units(y, sr)
    assert len(units) == len(truth)
    assert np.max(np.abs(np.array(units) - np.array(truth))) < 0.010


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sr", [22050, 44100])
def test_detect_units_other_songs_and_rates(seed, sr):
    y, sr, truth = make_synthetic_song(sr=sr, n_units=5, seed=seed)
    units = segment.detect_units(y, sr)
    assert len(units) == len(truth)
    assert np.max(np.abs(np.array(units) - np.array(truth))) < 0.010


def test_detect_units_ignores_level_and_low_rumble(synthetic_song):
    y, sr, truth = synthetic_song
    rumble = 0.3 * np.sin(2 * np.pi * 60 * np.arange(len(y)) / sr)  # below fmin: filtered out
    units = segment.detect_units(0.05 * y + rumble.astype(np.float32), sr)
    assert len(units) == len(truth)
    assert np.max(np.abs(np.array(units) - np.array(truth))) < 0.010


def test_min_silence_merges_and_min_duration_drops():
    sr = 16000
    y = np.zeros(sr, np.float32)
    y[1600:3200] = y[3360:4800] = 0.5   # two bursts 10 ms apart
    y[8000:8160] = 0.5                  # a 10 ms click
    burst = lambda a, b: np.sin(2 * np.pi * 1000 * np.arange(b - a) / sr)  # noqa: E731
    for a, b in [(1600, 3200), (3360, 4800), (8000, 8160)]:
        y[a:b] = 0.5 * burst(a, b)
    assert len(segment.detect_units(y, sr, min_silence=0.005, min_duration=0.005)) == 3
    merged = segment.detect_units(y, sr, min_silence=0.03, min_duration=0.005)
    assert (len(merged) == 2 and merged[0][0] == pytest.approx(0.1, abs=0.008)
            and merged[0][1] == pytest.approx(0.3, abs=0.008))
    assert len(segment.detect_units(y, sr, min_silence=0.03, min_duration=0.03)) == 1


def test_long_units_are_split_not_dropped():
    sr = 16000
    t = np.arange(sr) / sr
    y = (0.5 * np.sin(2 * np.pi * 1000 * t) * (0.55 + 0.45 * np.cos(2 * np.pi * 2 * t))).astype(np.float32)
    whole = segment.detect_units(y, sr, max_duration=2.0)
    assert len(whole) == 1
    pieces = segment.detect_units(y, sr, max_duration=0.3)
    assert len(pieces) > 1 and all(b - a <= 0.3 + 1e-9 for a, b in pieces)
    assert pieces[0][0] == pytest.approx(0.0, abs=0.002) and pieces[-1][1] == pytest.approx(1.0, abs=0.002)
    assert pieces[1][0] == pytest.approx(0.25, abs=0.03)  # cut at the envelope's dip


def test_units_of_a_few_frames_split_down_to_single_frames():
    # frames of 1 s (sr=1): a 3-frame unit with max_duration 1 s leaves a 2-frame piece with no
    # inner frame to cut at, which is split at its middle
    assert segment.detect_units(np.ones(3), 1, max_duration=1.0, min_duration=0.5, fmin=0.0) == [
        (0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    with pytest.raises(Exception, match="shorter than one envelope frame"):
        segment.detect_units(np.ones(3), 1, max_duration=0.5, min_duration=0.1, fmin=0.0)


def test_detect_units_silence_and_bad_input():
    assert segment.detect_units(np.zeros(8000, np.float32), 8000) == []
    with pytest.raises(Exception, match="mono"):
        segment.detect_units(np.zeros((2, 100)), 8000)
    with pytest.raises(Exception, match="NaN"):
        segment.detect_units(np.array([0.0, np.nan]), 8000)


def _bursts(sr: int, spans: list[tuple[float, float]], f: float = 1000.0) -> np.ndarray:
    """Silence (1 s, or 50 ms past the last burst) with tone bursts at [(start_s, stop_s), ...]."""
    y = np.zeros(int(max(1.0, spans[-1][1] + 0.05) * sr), np.float32)
    for a, b in spans:
        i, j = int(a * sr), int(b * sr)
        y[i:j] = 0.5 * np.sin(2 * np.pi * f * np.arange(j - i) / sr)
    return y


def test_record_tells_what_was_bridged_and_dropped():
    sr = 16000
    y = _bursts(sr, [(0.1, 0.2), (0.21, 0.3), (0.5, 0.51)])  # two bursts 10 ms apart, a 10 ms click
    settings = dict(min_silence=0.03, min_duration=0.03)
    record = segment.detect_units_record(y, sr, **settings)
    assert record.units == segment.detect_units(y, sr, **settings)
    assert len(record.units) == 1 and record.units[0][0] == pytest.approx(0.1, abs=0.008)
    assert len(record.bridged) == 1 and record.bridged[0] == pytest.approx((0.2, 0.21), abs=0.004)
    assert [reason for *_, reason in record.dropped] == [segment.TOO_SHORT]
    assert record.dropped[0][:2] == pytest.approx((0.5, 0.51), abs=0.004)
    assert record.splits == [] and record.threshold_db == -30.0
    assert record.times.shape == record.env_db.shape and record.times[1] == pytest.approx(0.001)


def test_record_tells_what_a_split_left_too_short():
    sr = 16000
    t = np.arange(sr) / sr
    y = _bursts(sr, [(0.1, 0.42)]) * np.where(np.abs(t - 0.14) < 0.004, 0.1, 1.0).astype(np.float32)  # dip at 140 ms
    record = segment.detect_units_record(y, sr, max_duration=0.3, min_duration=0.05, min_silence=0.02)
    assert record.splits == [pytest.approx(0.14, abs=0.005)]  # cut at the dip, leaving 40 ms before it
    assert [reason for *_, reason in record.dropped] == [segment.TOO_SHORT_AFTER_SPLIT]
    assert len(record.units) == 1 and record.units[0][1] == pytest.approx(0.42, abs=0.008)
    assert record.units == segment.detect_units(y, sr, max_duration=0.3, min_duration=0.05, min_silence=0.02)


@pytest.mark.parametrize("seed", range(4))
def test_record_units_equal_detect_units(seed):
    rng = np.random.default_rng(seed)
    y = (rng.normal(0, 1, 8000) * (rng.uniform(size=8000) > 0.7)).astype(np.float32)
    settings = dict(threshold_db=-20.0, min_duration=0.005, max_duration=0.05, min_silence=0.002)
    assert segment.detect_units_record(y, 8000, **settings).units == segment.detect_units(y, 8000, **settings)


def test_segmentation_presets_follow_the_frontend_presets():
    from gaia_audio.spectral.presets import PRESETS

    assert set(segment.SEGMENTATION_PRESETS) == set(PRESETS)
    for name, settings in segment.SEGMENTATION_PRESETS.items():
        assert settings["fmin"] >= PRESETS[name]["fmin"]  # the band counted lies within the front end's
        assert settings["fmax"] is None or settings["fmax"] <= PRESETS[name]["fmax"]
    params = segment.segmentation_params("bengalese_finch", threshold_db=-20.0, fmax=None)
    assert params == {**segment.SEGMENTATION_PRESETS["bengalese_finch"], "threshold_db": -20.0}  # None keeps
    with pytest.raises(ConfigError, match="unknown segmentation preset 'canary'"):
        segment.segmentation_params("canary")
    with pytest.raises(ConfigError, match="unknown segmentation option.*treshold_db"):
        segment.segmentation_params("zebra_finch", treshold_db=-20.0)


@pytest.mark.parametrize("preset", sorted(segment.SEGMENTATION_PRESETS))
def test_each_preset_finds_units_in_its_band(preset):
    """Whistles in the middle of each preset's band, of durations and gaps its settings allow, at the
    front end's rate, are all found within a few ms."""
    from gaia_audio.spectral.presets import PRESETS

    s, sr = segment.SEGMENTATION_PRESETS[preset], PRESETS[preset]["sr"]
    f = (s["fmin"] + (s["fmax"] or sr / 2)) / 2 if preset != "speech_16k" else 300.0
    duration = min(2.5 * s["min_duration"], s["max_duration"]) + 0.02
    gap = max(3 * s["min_silence"], 0.03)
    spans = [(0.05 + k * (duration + gap), 0.05 + k * (duration + gap) + duration) for k in range(5)]
    y = _bursts(sr, spans, f)
    units = segment.detect_units(y, sr, **s)
    assert len(units) == 5 and np.max(np.abs(np.array(units) - np.array(spans))) < 0.008


def test_real_songs_give_plausible_syllables(real_songs):
    total, durations = 0, []
    for path in real_songs:
        y, sr = audio.load(path)
        units = segment.detect_units(y, sr, threshold_db=-25.0, max_duration=0.3)
        assert 4 <= len(units) <= 20, path.name
        onsets = np.array(units).ravel()
        assert np.all(np.diff(onsets) >= 0) and onsets[-1] <= len(y) / sr
        durations += [b - a for a, b in units]
        total += len(units)
    assert 25 <= total <= 60
    assert min(durations) >= 0.03 and max(durations) <= 0.3 + 1e-9
    assert 0.05 < np.median(durations) < 0.25


# ------------------------------------------------------------------ unit files and manifest

def test_write_units_and_manifest_round_trip(tmp_path, synthetic_song):
    y, sr, truth = synthetic_song
    rows = segment.write_units(y, sr, truth, tmp_path / "units", "birds/b1 song.wav", labels=list("abcd"))
    assert [r["label"] for r in rows] == list("abcd")
    for row, (onset, offset) in zip(rows, truth):
        assert row["path"].startswith("units/") and " " not in row["path"] and "/" not in row["path"][6:]
        assert row["source"] == "birds/b1 song.wav" and row["sr"] == sr
        assert row["onset"] == pytest.approx(onset, abs=1 / sr) and row["offset"] == pytest.approx(offset, abs=1 / sr)
        z, zsr = audio.load(tmp_path / row["path"])
        assert zsr == sr and len(z) / sr == pytest.approx(row["duration"], abs=1e-6)
        assert np.allclose(z, y[round(onset * sr):round(offset * sr)], atol=2 ** -15)
    manifest = manifests.write_manifest(rows, tmp_path / "manifest.csv")
    back = manifests.read_manifest(manifest, check_files=True)
    assert [{k: r[k] for k in manifests.MANIFEST_COLUMNS} for r in back] == rows
    assert list(tmp_path.glob(".*")) == []  # no temporary files left


def test_write_units_names_are_safe_and_distinct(tmp_path):
    y, sr = np.ones(1000, np.float32) * 0.1, 1000
    a = segment.write_units(y, sr, [(0.0, 0.5)], tmp_path / "u", "../../etc/passwd")
    b = segment.write_units(y, sr, [(0.0, 0.5)], tmp_path / "u", "etc/passwd")
    c = segment.write_units(y, sr, [(0.1, 0.2, "lab")], tmp_path / "u", "etc_passwd")
    names = {r["path"] for r in a + b + c}
    assert len(names) == 3 and all(n.startswith("u/") and ".." not in n for n in names)
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == sorted(n[2:] for n in names)
    assert c[0]["label"] == "lab"


def test_write_units_clips_offset_and_rejects_units_outside(tmp_path):
    y, sr = np.ones(1000, np.float32) * 0.1, 1000
    rows = segment.write_units(y, sr, [(0.9, 1.5)], tmp_path / "u", "s")
    assert rows[0]["offset"] == 1.0 and rows[0]["duration"] == pytest.approx(0.1)
    with pytest.raises(DataError, match="outside the recording"):
        segment.write_units(y, sr, [(1.2, 1.5)], tmp_path / "u", "s")
    with pytest.raises(DataError, match="labels for"):
        segment.write_units(y, sr, [(0.1, 0.2)], tmp_path / "u", "s", labels=["a", "b"])


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


GOOD = ["units/a.wav", "a.wav", "0.1", "0.2", "44100", "0.1", "x"]


@pytest.mark.parametrize("header, rows, match", [
    (manifests.MANIFEST_COLUMNS, [], "empty manifest"),
    (manifests.MANIFEST_COLUMNS[:-2], [GOOD[:-2]], "lacks column.*duration, label"),
    (manifests.MANIFEST_COLUMNS, [["../outside.wav"] + GOOD[1:]], "must not use '..'"),
    (manifests.MANIFEST_COLUMNS, [["units/../../x.wav"] + GOOD[1:]], "must not use '..'"),
    (manifests.MANIFEST_COLUMNS, [["/abs/a.wav"] + GOOD[1:]], "relative"),
    (manifests.MANIFEST_COLUMNS, [["C:\\a.wav"] + GOOD[1:]], "relative"),
    (manifests.MANIFEST_COLUMNS, [GOOD, GOOD[:2] + ["zero"] + GOOD[3:]], "line 3: onset, offset"),
    (manifests.MANIFEST_COLUMNS, [GOOD[:2] + ["0.3"] + GOOD[3:]], "bad times"),
    (manifests.MANIFEST_COLUMNS, [GOOD[:2] + ["nan"] + GOOD[3:]], "bad times"),
    (manifests.MANIFEST_COLUMNS, [GOOD[:4] + ["-8000"] + GOOD[5:]], "sr must be"),
    (manifests.MANIFEST_COLUMNS, [GOOD[:3]], "wrong number of fields"),
])
def test_read_manifest_rejects_bad_files(tmp_path, header, rows, match):
    path = _write_csv(tmp_path / "manifest.csv", header, rows)
    with pytest.raises(DataError, match=match) as info:
        manifests.read_manifest(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_read_manifest_missing_file_and_missing_units(tmp_path):
    with pytest.raises(DataError, match="not found"):
        manifests.read_manifest(tmp_path / "none.csv")
    path = _write_csv(tmp_path / "manifest.csv", manifests.MANIFEST_COLUMNS, [GOOD])
    assert manifests.read_manifest(path)[0]["sr"] == 44100
    with pytest.raises(DataError, match="does not exist"):
        manifests.read_manifest(path, check_files=True)


def test_write_manifest_rejects_escaping_paths_and_keeps_old_file(tmp_path):
    path = _write_csv(tmp_path / "manifest.csv", manifests.MANIFEST_COLUMNS, [GOOD])
    row = dict(zip(manifests.MANIFEST_COLUMNS, GOOD), path="../x.wav")
    with pytest.raises(DataError, match="'..'"):
        manifests.write_manifest([row], path)
    with pytest.raises(DataError, match="no units"):
        manifests.write_manifest([], path)
    assert manifests.read_manifest(path)[0]["path"] == "units/a.wav"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv"]
