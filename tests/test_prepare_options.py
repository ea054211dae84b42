"""Tests for the preparations' --preset, --plot and --annot-format: a Bengalese-finch-like song keeps
its syllables with --preset bengalese_finch (and loses some with the zebra finch defaults), the cut
is drawn with the reasons pieces were dropped, and speech reads every annotation format beside
its recordings."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from bengalese_song import make_bengalese_song
from conftest import make_synthetic_song

from gaia_audio.data import segment
from gaia_audio.errors import ConfigError, DataError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests


def edge_errors(rows: list[dict], truth: dict[str, list]) -> tuple[list[float], int]:
    """Per true syllable, the worst edge error (s) of the unit overlapping it most closely (inf if
    none), and how many units overlap no syllable."""
    errors, stray = [], 0
    for source, units in truth.items():
        got = [(r["onset"], r["offset"]) for r in rows if r["source"] == source]
        for a, b in units:
            errors.append(min((max(abs(on - a), abs(off - b)) for on, off in got if on < b and off > a),
                              default=np.inf))
        stray += sum(not any(on < b and off > a for a, b in units) for on, off in got)
    return errors, stray


def test_bengalese_song_keeps_its_syllables_with_its_preset(tmp_path, zebra_finch, capsys):
    truth = {}
    for seed in range(3):  # 60 syllables of 35-85 ms, 20-60 ms apart, peaks over 28 dB
        y, sr, units = make_bengalese_song(seed=seed)
        audio.save(tmp_path / "rec" / f"bf{seed}.wav", y, sr)
        truth[f"bf{seed}.wav"] = units
    run = ["--out", str(tmp_path / "out"), "--source", str(tmp_path / "rec")]
    assert zebra_finch.main(run + ["--preset", "bengalese_finch"]) == 0
    rows = manifests.read_manifest(tmp_path / "out" / "manifest.csv", check_files=True)
    errors, stray = edge_errors(rows, truth)
    assert len(rows) == 60 and stray == 0
    assert max(errors) < 0.010 and np.median(errors) < 0.005  # every edge within 10 ms, half within 5 ms
    assert zebra_finch.main(run) == 0  # the zebra finch defaults: -25 dB, 30 ms, no low-pass
    rows = manifests.read_manifest(tmp_path / "out" / "manifest.csv")
    errors, _ = edge_errors(rows, truth)
    assert len(rows) <= 55 and sum(e < 0.010 for e in errors) <= 54  # the soft syllables are lost
    assert zebra_finch.main(run + ["--preset", "bengalese_finch", "--threshold-db", "-25"]) == 0  # overrides win
    assert len(manifests.read_manifest(tmp_path / "out" / "manifest.csv")) < 60
    capsys.readouterr()


def test_plot_draws_the_cut_and_why_pieces_were_dropped(tmp_path, zebra_finch, monkeypatch, capsys):
    y, sr, _ = make_bengalese_song(seed=5, n_syllables=6)
    t = np.arange(int(0.5 * sr)) / sr
    call = 0.3 * np.sin(2 * np.pi * 3000 * t) * (0.6 + 0.4 * np.cos(2 * np.pi * 6 * t))  # 0.5 s: too long, split
    click = np.zeros(int(0.1 * sr))
    click[1600:1760] = 0.4 * np.sin(2 * np.pi * 4000 * np.arange(160) / sr)  # 5 ms: too short
    song = np.concatenate([y, np.zeros(int(0.1 * sr)), call, np.zeros(int(0.1 * sr)), click]).astype(np.float32)
    audio.save(tmp_path / "rec" / "a.wav", song, sr)
    audio.save(tmp_path / "rec" / "b.wav", y, sr)
    drawn = []
    plot = zebra_finch.figures.plot_segmentation
    monkeypatch.setattr(zebra_finch.figures, "plot_segmentation",
                        lambda rows, path, **kw: drawn.append(rows) or plot(rows, path, **kw))
    png = tmp_path / "cut.png"
    assert zebra_finch.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path / "rec"),
                             "--preset", "bengalese_finch", "--plot", str(png), "--plot-first", "1"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"cut drawn in {png}" in capsys.readouterr().out
    (name, record), = drawn[0]  # only the first recording
    assert name == "a.wav" and len(record.units) >= 6 + 3  # the syllables, and the call in pieces
    call_start = len(y) / sr + 0.1
    assert record.splits and all(call_start < s < call_start + 0.5 for s in record.splits)
    assert [reason for *_, reason in record.dropped] == [segment.TOO_SHORT]  # the click, nothing else
    assert record.dropped[0][0] == pytest.approx(len(song) / sr - 0.05, abs=0.004)
    assert zebra_finch.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path / "rec"),
                             "--plot", str(tmp_path / "cut.jpg2")]) == 1
    assert "cannot draw the cut as '.jpg2'" in capsys.readouterr().err


def test_preset_and_option_errors(tmp_path, zebra_finch, speech, capsys):
    with pytest.raises(ConfigError, match="unknown segmentation preset 'canary'"):
        zebra_finch.prepare(tmp_path / "out", source=tmp_path, preset="canary")
    with pytest.raises(SystemExit):
        zebra_finch.main(["--out", str(tmp_path / "out"), "--preset", "canary"])
    assert "invalid choice: 'canary'" in capsys.readouterr().err
    with pytest.raises(DataError, match="unknown annotation format 'elan'"):
        speech.prepare(tmp_path / "out", tmp_path, annot_format="elan")


def test_speech_reads_every_format_beside_its_recordings(tmp_path, speech):
    rec = tmp_path / "rec"
    spans = {}
    for i, name in enumerate(["grid", "notmat", "raven", "audacity", "simple", "plain"]):
        y, sr, units = make_synthetic_song(sr=16000, seed=50 + i, f0_range=(110.0, 220.0), gap=0.15, n_units=3)
        audio.save(rec / f"{name}.wav", y, sr)
        spans[name] = units
    (a, b), (c, d) = spans["grid"][:2]
    (rec / "grid.TextGrid").write_text(f'File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n{d + 0.1}\n'
                                       f'<exists>\n1\n"IntervalTier"\n"words"\n0\n{d + 0.1}\n2\n'
                                       f'{a}\n{b}\n"one"\n{c}\n{d}\n"two"\n')
    on, off = np.array(spans["notmat"]).T * 1000
    scipy.io.savemat(rec / "notmat.wav.not.mat", {"fname": "notmat.wav", "Fs": 16000.0, "labels": "abc",
                                                  "onsets": on, "offsets": off, "min_dur": 20.0, "min_int": 5.0})
    (rec / "raven.Table.1.selections.txt").write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n"
        + "".join(f"{k + 1}\tSpectrogram 1\t1\t{a}\t{b}\t100.0\t4000.0\tr{k}\n"
                  for k, (a, b) in enumerate(spans["raven"])))
    (rec / "audacity.txt").write_text("".join(f"{a:.6f}\t{b:.6f}\tsyl{k}\n"
                                              for k, (a, b) in enumerate(spans["audacity"])))
    (rec / "simple.csv").write_text("onset_s,offset_s,label\n" + "".join(f"{a},{b},s{k}\n"
                                                                       for k, (a, b) in enumerate(spans["simple"])))
    rows = manifests.read_manifest(speech.prepare(tmp_path / "out", rec))
    labels = {name: [r["label"] for r in rows if r["source"] == f"{name}.wav"] for name in spans}
    assert labels == {"grid": ["one", "two"], "notmat": list("abc"), "raven": ["r0", "r1", "r2"],
                      "audacity": ["syl0", "syl1", "syl2"], "simple": ["s0", "s1", "s2"], "plain": ["", "", ""]}
    for name in ("notmat", "raven", "audacity", "simple"):  # the annotated times, to the sample
        got = [(r["onset"], r["offset"]) for r in rows if r["source"] == f"{name}.wav"]
        assert np.max(np.abs(np.array(got) - np.array(spans[name]))) < 1.5 / 16000


def test_speech_annot_format_and_plot(tmp_path, speech, capsys):
    rec = tmp_path / "rec"
    y, sr, units = make_synthetic_song(sr=16000, seed=60, f0_range=(110.0, 220.0), gap=0.15, n_units=3)
    for name in ("a", "b"):
        audio.save(rec / f"{name}.wav", y, sr)
    (rec / "a.csv").write_text("label,onset_s,offset_s,notated_path,annot_path,sequence,annotation\n"
                               f"x,{units[0][0]},{units[0][1]},a.wav,a.csv,0,0\n")
    run = ["--out", str(tmp_path / "out"), "--source", str(rec)]
    assert speech.main(run + ["--annot-format", "generic-seq", "--plot", str(tmp_path / "cut.png")]) == 0
    assert "1 labelled" in capsys.readouterr().out  # a.wav from its generic-seq row, b.wav by energy
    assert (tmp_path / "cut.png").is_file()
    rows = manifests.read_manifest(tmp_path / "out" / "manifest.csv")
    assert [r["label"] for r in rows if r["source"] == "a.wav"] == ["x"] and len(rows) == 1 + len(units)
    assert speech.main(run) == 0  # by its name a.csv is simple-seq, whose columns it also has
    assert "1 labelled" in capsys.readouterr().out
    assert speech.main(run + ["--annot-format", "raven"]) == 0  # no Raven tables: all by energy
    assert "0 labelled" in capsys.readouterr().out
