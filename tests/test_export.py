"""Continuum export: files, loudness matching, ramps, silence, manifest, provenance, atomic output."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from gaia_audio.errors import AudioError, DataError
from gaia_audio.io import audio
from gaia_audio.morph.series import MorphResult
from gaia_audio.stimuli import export as continuum
from gaia_audio.stimuli.export import ExportSettings, export, match_levels
from gaia_audio.stimuli.manifest import read_pairs

SR = 22050


def _tone(freq: float, dur: float, amp: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t) * np.hanning(len(t)) ** 0.2).astype(np.float32)


def _result(name: str = "a_to_b", n: int = 4, seed: int = 0) -> MorphResult:
    """A stand-in continuum: tones of different loudness and length."""
    rng = np.random.default_rng(seed)
    waves = [_tone(800 + 200 * k, 0.08 + 0.02 * k, float(rng.uniform(0.02, 0.6))) for k in range(n)]
    rows = [{"step": k, "alpha": k / (n - 1), "realism": 1.0 + 0.1 * k, "distance_prev": None if k == 0 else 0.1,
             "fidelity_db": -12.0 if k in (0, n - 1) else None} for k in range(n)]
    specs = [rng.random((16, 10 + k)) for k in range(n)]
    for row in rows:
        row["pair"] = name
    return MorphResult(waves, SR, rows, specs, ["a: resampled from 44100 Hz"], name)


def _read(path):
    y, sr = sf.read(path, dtype="float32")
    return y, sr


def _manifest(folder):
    with open(folder / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_continuum_writes_steps_manifest_and_provenance(tmp_path):
    out = export([_result()], tmp_path / "out", ExportSettings(), {"seed": 3, "command": "gaia-audio morph"},
                 plot=False)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "manifest.csv", "provenance.json", "step_00.wav",
                                                     "step_01.wav", "step_02.wav", "step_03.wav"]
    rows = _manifest(out)
    assert [r["file"] for r in rows] == [f"step_{k:02d}.wav" for k in range(4)]
    # every column is a Python identifier: PsychoPy accepts the file as a conditions file
    assert all(c.isidentifier() for c in rows[0])
    for col in ("file", "pair", "step", "alpha", "duration_s", "level_db", "realism", "distance_prev", "fidelity_db"):
        assert col in rows[0]
    assert rows[0]["fidelity_db"] == "-12" and rows[1]["fidelity_db"] == "" and rows[0]["distance_prev"] == ""
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 3 and prov["command"] == "gaia-audio morph"
    assert prov["export"]["subtype"] == "PCM_16" and "torch" in prov["versions"] and "numpy" in prov["versions"]
    assert "a: resampled from 44100 Hz" not in prov["notes"]  # morph notes come with the provenance given
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize("subtype, sr", [("PCM_16", SR), ("PCM_24", 44100), ("FLOAT", 16000)])
def test_rms_levels_match_at_the_chosen_format(tmp_path, subtype, sr):
    out = export([_result()], tmp_path / "out", ExportSettings(sr=sr, subtype=subtype, level=-24.0), plot=False)
    rows = _manifest(out)
    for row in rows:
        info = sf.info(out / row["file"])
        assert info.samplerate == sr and info.subtype == subtype
        y, _ = _read(out / row["file"])
        assert audio.rms_db(y) == pytest.approx(-24.0, abs=0.05)
        assert float(row["level_db"]) == pytest.approx(-24.0, abs=0.01)
        assert float(row["duration_s"]) == pytest.approx(len(y) / sr, abs=1e-6)
    if sr != SR:
        assert any("resampled" in n for n in json.loads((out / "provenance.json").read_text())["notes"])


def test_lufs_levels_match_even_for_sounds_shorter_than_400_ms(tmp_path):
    pytest.importorskip("pyloudnorm")
    out = export([_result()], tmp_path / "out", ExportSettings(loudness="lufs", level=-30.0), plot=False)
    rows = _manifest(out)
    lufs = [float(r["loudness_lufs"]) for r in rows]
    np.testing.assert_allclose(lufs, -30.0, atol=0.1)
    # the tones differ in pitch, so equal loudness is not equal RMS: LUFS really was applied
    levels = [float(r["level_db"]) for r in rows]
    assert max(levels) - min(levels) > 0.1
    assert any("blocks" in n for n in json.loads((out / "provenance.json").read_text())["notes"])


def test_ramps_and_silence(tmp_path):
    settings = ExportSettings(ramp_ms=10.0, silence_before_ms=50.0, silence_after_ms=20.0)
    out = export([_result()], tmp_path / "out", settings, plot=False)
    for row in _manifest(out):
        y, _ = _read(out / row["file"])
        lead, tail = round(0.05 * SR), round(0.02 * SR)
        assert np.all(y[:lead] == 0) and np.all(y[-tail:] == 0)
        sound = y[lead:len(y) - tail]
        assert len(sound) == round(float(row["duration_s"]) * SR)
        assert float(row["file_duration_s"]) == pytest.approx(len(y) / SR)
        n_ramp = round(0.01 * SR)
        assert np.abs(sound[:n_ramp // 4]).max() < 0.2 * np.abs(sound).max()  # starts quietly
        assert np.abs(sound[-n_ramp // 4:]).max() < 0.2 * np.abs(sound).max()


def test_a_level_that_would_clip_turns_every_step_down_together():
    waves = [_tone(500, 0.1, 0.5), np.r_[np.zeros(2000, np.float32), [0.9], np.zeros(2000, np.float32)]]
    scaled, notes = match_levels(waves, SR, ExportSettings(level=-6.0, peak_db=-1.0))
    assert max(audio.peak_db(y) for y in scaled) == pytest.approx(-1.0, abs=1e-4)
    levels = [audio.rms_db(y) for y in scaled]
    assert levels[0] == pytest.approx(levels[1], abs=1e-4) and levels[0] < -6.0
    assert notes and "turned down" in notes[0]


def test_silent_step_and_unknown_mode_are_errors():
    with pytest.raises(AudioError, match="silent"):
        match_levels([np.zeros(100, np.float32)], SR, ExportSettings())
    with pytest.raises(AudioError, match="unknown loudness"):
        match_levels([_tone(500, 0.1, 0.5)], SR, ExportSettings(loudness="peak"))


def test_several_continua_get_one_folder_each_and_one_manifest(tmp_path):
    out = export([_result("ab"), _result("cd", n=3, seed=1)], tmp_path / "out", plot=False)
    rows = _manifest(out)
    assert [r["file"] for r in rows] == ([f"ab/step_{k:02d}.wav" for k in range(4)]
                                         + [f"cd/step_{k:02d}.wav" for k in range(3)])
    assert all((out / r["file"]).is_file() for r in rows)
    with pytest.raises(DataError, match="share a name"):
        export([_result("ab"), _result("ab")], tmp_path / "dup", plot=False)
    assert not (tmp_path / "dup").exists()


def test_weight_columns_follow_the_position_columns(tmp_path):
    result = _result(n=3)
    for k, row in enumerate(result.rows):
        row.pop("alpha")
        row.update({"w0": k / 2, "w1": 1 - k / 2, "w10": 0.0, "w2": 0.0})
    out = export([result], tmp_path / "out", plot=False)
    header = list(_manifest(out)[0])
    assert header[:7] == ["file", "pair", "step", "w0", "w1", "w2", "w10"]


def test_existing_folder_is_refused_unless_overwrite(tmp_path):
    out = export([_result()], tmp_path / "out", plot=False)
    (out / "step_00.wav").write_bytes(b"edited")
    with pytest.raises(DataError, match="already exists"):
        export([_result()], out, plot=False)
    assert (out / "step_00.wav").read_bytes() == b"edited"
    export([_result()], out, overwrite=True, plot=False)  # a folder gaia-audio wrote: replaced
    assert (out / "step_00.wav").read_bytes()[:4] == b"RIFF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_half_way_leaves_nothing_behind(tmp_path, monkeypatch):
    real_save, calls = audio.save, []

    def failing_save(path, y, sr, subtype="PCM_16"):
        calls.append(path)
        if len(calls) == 3:
            raise AudioError("could not write audio (disk full)", path)
        return real_save(path, y, sr, subtype)

    monkeypatch.setattr(continuum.audio, "save", failing_save)
    with pytest.raises(AudioError, match="disk full"):
        export([_result()], tmp_path / "out", plot=False)
    assert list(tmp_path.iterdir()) == []
    # an old folder being overwritten survives a failed replacement intact
    monkeypatch.setattr(continuum.audio, "save", real_save)
    old = export([_result()], tmp_path / "old", plot=False)
    before = {p: p.read_bytes() for p in old.rglob("*") if p.is_file()}
    monkeypatch.setattr(continuum.audio, "save", failing_save)
    calls.clear()
    with pytest.raises(AudioError):
        export([_result(seed=1)], old, overwrite=True, plot=False)
    assert {p: p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_continuum_png_is_drawn(tmp_path):
    out = export([_result("ab"), _result("cd", n=3, seed=1)], tmp_path / "out")
    png = out / "continuum.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- pairs tables ---------------------------------------------------------------------------


def test_read_pairs_resolves_paths_and_names(tmp_path):
    (tmp_path / "pairs.csv").write_text("a,b,name\nx/one.wav,two.wav,first\nthree.wav,four.wav,\n")
    pairs = read_pairs(tmp_path / "pairs.csv")
    assert pairs[0] == {"a": str(tmp_path / "x/one.wav"), "b": str(tmp_path / "two.wav"), "name": "first"}
    assert pairs[1]["name"] == "three_to_four"


@pytest.mark.parametrize("text, match", [
    ("", "lists no pairs"),
    ("a,b\n", "lists no pairs"),
    ("first,second\nx.wav,y.wav\n", "lacks column"),
    ("a,b\nx.wav,\n", "empty a or b"),
    ("a,b,name\nx.wav,y.wav,n\nz.wav,w.wav,n\n", "used twice"),
    ("a,b,name\nx.wav,y.wav,../up\n", "folder name"),
])
def test_read_pairs_errors(tmp_path, text, match):
    (tmp_path / "pairs.csv").write_text(text)
    with pytest.raises(DataError, match=match):
        read_pairs(tmp_path / "pairs.csv")


def test_read_pairs_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such pairs file"):
        read_pairs(tmp_path / "nope.csv")


def test_package_versions_do_not_import_packages():
    import sys

    before = set(sys.modules)
    versions = continuum.package_versions(("numpy", "no-such-package-xyz"))
    assert "numpy" in versions and "no-such-package-xyz" not in versions and "python" in versions
    assert not {m.split(".")[0] for m in set(sys.modules) - before} - {"importlib", "email", "csv", "zipfile"}
