"""Tests for datasets/*/prepare.py: own-folder preparation, the pip download path against a local
package index, annotations for speech, safe re-runs and user errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_synthetic_song

from gaia_audio.data import segment
from gaia_audio.errors import AudioError, ConfigError, DataError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests

ROOT = Path(__file__).resolve().parent.parent
SONGS = ("bells.wav", "flashcam.wav", "samba.wav", "simple.wav")


def song_folder(folder: Path, n: int = 3, sr: int = 44100, **kwargs) -> int:
    """Write n synthetic songs (one in a subfolder) plus junk that must be skipped; return the number of units."""
    total = 0
    for i in range(n):
        y, sr, units = make_synthetic_song(sr=sr, seed=10 + i, **kwargs)
        audio.save(folder / ("nested" if i == 0 else "") / f"song {i}.wav", y, sr)
        total += len(units)
    (folder / "notes.txt").write_text("not audio")
    (folder / "._song 1.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble junk")  # macOS metadata file
    return total


def check_dataset(manifest: Path, n_units: int, sr: int) -> list[dict]:
    """The manifest lists exactly the unit files on disk, at the given rate."""
    rows = manifests.read_manifest(manifest, check_files=True)
    assert len(rows) == n_units
    assert {r["path"] for r in rows} == {f"units/{p.name}" for p in (manifest.parent / "units").glob("*.wav")}
    assert all(r["sr"] == sr and audio.load(manifest.parent / r["path"])[1] == sr for r in rows)
    return rows


# ------------------------------------------------------------------ zebra finch, own folder

def test_zebra_finch_from_source_folder(tmp_path, zebra_finch):
    n_units = song_folder(tmp_path / "rec")
    manifest = zebra_finch.prepare(tmp_path / "out", source=tmp_path / "rec")
    assert manifest == tmp_path / "out" / "manifest.csv"
    rows = check_dataset(manifest, n_units, 44100)
    assert {r["source"] for r in rows} == {"nested/song 0.wav", "song 1.wav", "song 2.wav"}
    assert all(0.05 < r["duration"] < 0.2 for r in rows)


def test_zebra_finch_rerun_replaces_units_and_resamples(tmp_path, zebra_finch):
    n_units = song_folder(tmp_path / "rec")
    zebra_finch.prepare(tmp_path / "out", source=tmp_path / "rec")
    (tmp_path / "rec" / "song 2.wav").unlink()
    manifest = zebra_finch.prepare(tmp_path / "out", source=tmp_path / "rec", sr=22050, min_silence=0.02)
    rows = check_dataset(manifest, n_units - 4, 22050)  # no stale units of the deleted song remain
    assert "song 2.wav" not in {r["source"] for r in rows}


def test_zebra_finch_interrupted_run_leaves_no_manifest(tmp_path, zebra_finch, monkeypatch):
    song_folder(tmp_path / "rec")
    zebra_finch.prepare(tmp_path / "out", source=tmp_path / "rec")
    calls = []

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return segment.write_units(*args, **kwargs)

    monkeypatch.setattr(zebra_finch.segment, "write_units", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        zebra_finch.prepare(tmp_path / "out", source=tmp_path / "rec")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_zebra_finch_user_errors(tmp_path, zebra_finch, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .wav, .flac or .ogg"):
        zebra_finch.prepare(tmp_path / "out", source=tmp_path / "empty")
    with pytest.raises(ConfigError, match="treshold_db"):
        zebra_finch.prepare(tmp_path / "out", source=tmp_path / "empty", treshold_db=-20)
    audio.save(tmp_path / "quiet" / "silence.wav", np.zeros(4410, np.float32), 44100)
    with pytest.raises(AudioError, match="silence.wav: silent input"):  # refused before anything is written
        zebra_finch.prepare(tmp_path / "out", source=tmp_path / "quiet")
    click = np.zeros(4410, np.float32)
    click[2000:2200] = 0.5 * np.sin(np.arange(200) * 0.3)  # 4.5 ms: shorter than the shortest unit (30 ms)
    audio.save(tmp_path / "quiet" / "silence.wav", click, 44100)
    with pytest.raises(DataError, match="no vocal units"):
        zebra_finch.prepare(tmp_path / "out", source=tmp_path / "quiet")
    assert zebra_finch.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "source folder not found" in err and "Traceback" not in err


def test_zebra_finch_script_runs_from_the_command_line(tmp_path):
    n_units = song_folder(tmp_path / "rec", n=1)
    done = subprocess.run([sys.executable, str(ROOT / "datasets" / "zebra_finch" / "prepare.py"),
                           "--out", str(tmp_path / "out"), "--source", str(tmp_path / "rec"), "--threshold-db", "-28"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{n_units} units from 1 recording(s)")
    check_dataset(tmp_path / "out" / "manifest.csv", n_units, 44100)


# ------------------------------------------------------------------ zebra finch, download through pip

def test_zebra_finch_download_through_pip_from_local_index(tmp_path, zebra_finch, local_index):
    url, songs, requests = local_index
    manifest = zebra_finch.prepare(tmp_path / "out", index_url=url)
    assert "/simple/vocalpy/" in requests and "/files/vocalpy-0.10.3-py3-none-any.whl" in requests
    for name, data in songs.items():
        assert (tmp_path / "out" / "raw" / name).read_bytes() == data
    rows = check_dataset(manifest, 16, 44100)  # 4 synthetic songs of 4 units each
    assert {r["source"] for r in rows} == set(SONGS)
    # download folder removed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.csv", "manifest_heldout.csv",
                                                               "manifest_train.csv", "raw", "units"]
    n_requests = len(requests)
    zebra_finch.prepare(tmp_path / "out", index_url=url)
    assert len(requests) == n_requests  # songs already in raw/: no second download


def test_zebra_finch_download_failure_is_one_clear_line(tmp_path, zebra_finch, local_index):
    url, _, _ = local_index
    with pytest.raises(DataError, match="could not download vocalpy==0.10.3.*--source") as info:
        zebra_finch.prepare(tmp_path / "out", index_url=url.replace("/simple", "/nothing-here"))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "manifest.csv").exists()


# ------------------------------------------------------------------ speech

# short text format, with the blank line after the header that Praat writes (crowsetta needs it)
TEXTGRID = '''File type = "ooTextFile"
Object class = "TextGrid"

0
{end}
<exists>
1
"IntervalTier"
"words"
0
{end}
{n}
{intervals}
'''


def test_speech_energy_textgrid_and_audacity(tmp_path, speech):
    rec = tmp_path / "rec"
    truth = {}
    for i, name in enumerate(["plain", "grid", "labels"]):
        y, sr, units = make_synthetic_song(sr=22050, seed=30 + i, f0_range=(110.0, 220.0), gap=0.15)
        audio.save(rec / f"{name}.wav", y, sr)
        truth[name] = units
    grid_units = truth["grid"]
    intervals = "\n".join(f'{a}\n{b}\n"w{k}"\n{b}\n{grid_units[k + 1][0] if k + 1 < len(grid_units) else b + 0.01}\n""'
                          for k, (a, b) in enumerate(grid_units))
    (rec / "grid.TextGrid").write_text(TEXTGRID.format(end=grid_units[-1][1] + 0.01, n=2 * len(grid_units),
                                                       intervals=intervals))
    (rec / "labels.txt").write_text("".join(f"{a:.6f}\t{b:.6f}\tsyl{k}\n"
                                            for k, (a, b) in enumerate(truth["labels"][:2])))
    manifest = speech.prepare(tmp_path / "out", rec)
    rows = check_dataset(manifest, len(truth["plain"]) + len(grid_units) + 2, 16000)
    by_source = {name: [r for r in rows if r["source"] == f"{name}.wav"] for name in truth}
    assert [r["label"] for r in by_source["grid"]] == [f"w{k}" for k in range(len(grid_units))]
    assert [r["label"] for r in by_source["labels"]] == ["syl0", "syl1"]
    assert all(r["label"] == "" for r in by_source["plain"])
    for name in ("plain", "grid"):
        got = [(r["onset"], r["offset"]) for r in by_source[name]]
        assert np.max(np.abs(np.array(got) - np.array(truth[name]))) < 0.015
    energy_only = manifests.read_manifest(speech.prepare(tmp_path / "out2", rec, annotations=False))
    assert all(r["label"] == "" for r in energy_only) and len(energy_only) == sum(map(len, truth.values()))


def test_speech_bad_annotation_names_the_file(tmp_path, speech, capsys):
    y, sr, _ = make_synthetic_song(sr=16000, seed=40)
    audio.save(tmp_path / "rec" / "a.wav", y, sr)
    (tmp_path / "rec" / "a.txt").write_text("this is a transcript, not labels\n")
    assert speech.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path / "rec")]) == 1
    err = capsys.readouterr().err
    assert "a.txt: malformed Audacity label file" in err and err.count("\n") == 1  # crowsetta's reason follows
    assert speech.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path / "rec"), "--ignore-annotations"]) == 0
    assert "units (0 labelled) from 1 recording(s)" in capsys.readouterr().out
