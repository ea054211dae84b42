"""`gaia-audio morph` and `gaia-audio continuum` end to end, and their one-line errors."""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from tiny_model import synthetic_unit, train_tiny_model, write_wav

from gaia_audio.cli.main import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny trained model and input files: two units at 44.1 kHz, a stereo one, and bad ones."""
    root = tmp_path_factory.mktemp("cli_morph")
    run = train_tiny_model(root)
    files = {
        "a": write_wav(root / "a.wav", synthetic_unit(0, 0), 44100),
        "b": write_wav(root / "b.wav", synthetic_unit(1, 1), 44100),
        "c": write_wav(root / "c.wav", synthetic_unit(2, 2), 22050 * 2),
        "d": write_wav(root / "d.wav", synthetic_unit(3, 3), 44100),
        "stereo": write_wav(root / "stereo.wav", np.stack([synthetic_unit(4), 0.5 * synthetic_unit(4)], 1), 44100),
        "silent": write_wav(root / "silent.wav", np.zeros(4000, np.float32), 44100),
        "quiet": write_wav(root / "quiet.wav", 1e-6 * synthetic_unit(0), 44100),
    }
    (root / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    files["bad"] = root / "bad.wav"
    (root / "notmodel.safetensors").write_bytes(b"this is not a model")
    files["notmodel"] = root / "notmodel.safetensors"
    return run, files


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _rows(folder):
    with open(folder / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_morph_writes_a_continuum(setup, tmp_path):
    run, f = setup
    out = tmp_path / "ab"
    res = _invoke("morph", f["a"], f["b"], "--steps", 4, "-m", run, "-o", out, "--sr", 44100, "--subtype", "PCM_24",
                  "--silence-ms", 10, 20, "--level", -26, "--seed", 7)
    assert res.exit_code == 0, res.output
    assert "4 sounds written" in res.stdout
    assert "note: a: resampled from 44100 Hz to the model's 22050 Hz" in res.stderr
    rows = _rows(out)
    assert [r["file"] for r in rows] == [f"step_{k:02d}.wav" for k in range(4)]
    for row in rows:
        y, sr = sf.read(out / row["file"])
        assert sr == 44100 and sf.info(out / row["file"]).subtype == "PCM_24"
        assert float(row["level_db"]) == pytest.approx(-26, abs=0.01)
        assert len(y) == pytest.approx((float(row["duration_s"]) + 0.03) * 44100, abs=2)
        assert float(row["realism"]) > 0
    assert rows[0]["fidelity_db"] and rows[-1]["fidelity_db"] and not rows[1]["fidelity_db"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["model"]["sha256"] == hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    assert prov["seed"] == 7 and "morph" in prov["command"] and "--steps 4" in prov["command"]
    assert prov["recipe"]["model"]["kind"] == "gaia" and prov["export"]["sr"] == 44100
    assert {i["path"] for i in prov["inputs"]} == {str(f["a"]), str(f["b"])}
    assert any("resampled" in n for n in prov["notes"]) and "torch" in prov["versions"]
    assert (out / "continuum.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert prov["tuning"]["a_to_b"]["settings"]["detail"] is True  # tuned with the ends' detail by default


def test_no_detail_keeps_the_tuned_decoder_alone(setup, tmp_path):
    run, f = setup
    fidelity = {}
    for flag in ("--detail", "--no-detail"):
        out = tmp_path / flag
        res = _invoke("morph", f["a"], f["b"], "--steps", 3, "-m", run, "-o", out, "--tune-steps", 5, "--no-plot", flag)
        assert res.exit_code == 0, res.output
        prov = json.loads((out / "provenance.json").read_text())
        assert prov["tuning"]["a_to_b"]["settings"]["detail"] is (flag == "--detail")
        fidelity[flag] = [float(r["fidelity_db"]) for r in _rows(out) if r["fidelity_db"]]
    assert all(d < n for d, n in zip(fidelity["--detail"], fidelity["--no-detail"])), fidelity


def test_morph_path_spacing_and_extrapolation(setup, tmp_path):
    run, f = setup
    out = tmp_path / "ext"
    res = _invoke("morph", f["a"], f["b"], "--steps", 5, "-m", run, "-o", out, "--alpha-range", -0.25, 1.25,
                  "--path", "slerp", "--spacing", "equal", "--no-plot")
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    alphas = [float(r["alpha"]) for r in rows]
    assert alphas[0] == -0.25 and alphas[-1] == 1.25 and alphas == sorted(alphas)
    d = np.array([float(r["distance_prev"]) for r in rows[1:]])
    assert d.std() / d.mean() < 0.1  # equal spacing: consecutive steps differ by about the same amount


def test_three_inputs_make_a_barycentric_morph(setup, tmp_path):
    run, f = setup
    res = _invoke("morph", f["a"], f["b"], f["d"], "--steps", 3, "-m", run, "-o", tmp_path / "bary", "--no-plot")
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "bary")
    assert len(rows) == 6 and {"w0", "w1", "w2"} <= set(rows[0])
    assert sum(bool(r["fidelity_db"]) for r in rows) == 3  # the three vertices


@pytest.mark.slow
def test_continuum_pairs_and_grid(setup, tmp_path):
    run, f = setup
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"a,b,name\n{f['a']},{f['b']},ab\n{f['c']},{f['d']},\n")
    res = _invoke("continuum", pairs, "--steps", 3, "-m", run, "-o", tmp_path / "many")
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "many")
    assert [r["file"] for r in rows] == ([f"ab/step_{k:02d}.wav" for k in range(3)]
                                         + [f"c_to_d/step_{k:02d}.wav" for k in range(3)])
    levels = {round(float(r["level_db"]), 3) for r in rows}
    assert levels == {-20.0}  # one loudness across every continuum
    res = _invoke("continuum", "--grid", f["a"], f["b"], f["c"], f["d"], "--steps", 2, "-m", run, "-o",
                  tmp_path / "grid", "--no-plot")
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "grid")
    assert [r["file"] for r in rows] == ["step_00_00.wav", "step_00_01.wav", "step_01_00.wav", "step_01_01.wav"]
    assert [(r["u"], r["v"]) for r in rows] == [("0", "0"), ("1", "0"), ("0", "1"), ("1", "1")]


@pytest.mark.slow
def test_stereo_is_mixed_down_or_a_channel_picked(setup, tmp_path):
    run, f = setup
    res = _invoke("morph", f["stereo"], f["b"], "--steps", 2, "-m", run, "-o", tmp_path / "mix", "--no-plot")
    assert res.exit_code == 0 and "2 channels mixed down" in res.stderr
    res = _invoke("morph", f["stereo"], f["b"], "--steps", 2, "-m", run, "-o", tmp_path / "ch1", "--channel", 1,
                  "--no-plot")
    assert res.exit_code == 0 and "channel 1 of 2 used" in res.stderr


@pytest.mark.parametrize("inputs, model, match", [
    (("bad", "b"), None, "bad.wav: unreadable or truncated audio file"),
    (("silent", "b"), None, "silent.wav: silent input"),
    (("quiet", "b"), None, "too quiet for the model"),
    (("missing", "b"), None, "missing.wav: file not found"),
    (("a", "b"), "notmodel", "notmodel.safetensors: not a gaia-audio model"),
    (("a", "b"), "nowhere", "no such model file or run folder"),
    (("stereo", "b"), "channel", "stereo.wav: channel 5 out of range"),
])
def test_errors_are_one_line_and_leave_no_output(setup, tmp_path, inputs, model, match):
    run, f = setup
    paths = [f.get(name, tmp_path / f"{name}.wav") for name in inputs]
    model_path = {None: run, "channel": run, "notmodel": f["notmodel"], "nowhere": tmp_path / "nowhere"}[model]
    extra = ["--channel", 5] if model == "channel" else []
    res = _invoke("morph", *paths, "-m", model_path, "-o", tmp_path / "out", "--steps", 2, *extra)
    assert res.exit_code == 1
    assert res.stderr.startswith("error: ") and match in res.stderr and res.stderr.count("\n") == 1
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []  # no output folder, no temporary folder


def test_existing_output_is_refused_before_any_work(setup, tmp_path):
    run, f = setup
    (tmp_path / "out").mkdir()
    res = _invoke("morph", f["a"], f["b"], "-m", run, "-o", tmp_path / "out")
    assert res.exit_code == 1 and "already exists (use --overwrite" in res.stderr
    res = _invoke("morph", f["a"], f["b"], "-m", run, "-o", tmp_path / "out", "--steps", 2, "--overwrite", "--no-plot")
    assert res.exit_code == 0 and (tmp_path / "out" / "step_01.wav").is_file()


def test_usage_errors(setup, tmp_path):
    run, f = setup
    for res in (_invoke("morph", f["a"], "-m", run, "-o", tmp_path / "o"),
                _invoke("continuum", "-m", run, "-o", tmp_path / "o")):  # one line, exit 1, as every failure
        assert res.exit_code == 1 and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    res = _invoke("continuum", tmp_path / "none.csv", "-m", run, "-o", tmp_path / "o")
    assert res.exit_code == 1 and "no such pairs file" in res.stderr


def test_a_real_process_prints_one_line_and_no_traceback(setup, tmp_path):
    run, f = setup
    proc = subprocess.run([sys.executable, "-m", "gaia_audio", "morph", str(f["silent"]), str(f["b"]), "-m", str(run),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_without_model_or_out_it_uses_the_birdsong_model_and_a_new_folder_named_after_the_inputs(
        setup, tmp_path, monkeypatch):
    _, f = setup
    monkeypatch.chdir(tmp_path)
    for expected in ("a_to_b", "a_to_b-2"):  # never into an existing folder
        res = _invoke("morph", f["a"], f["b"], "--steps", 4, "--tune-steps", 0, "--no-plot")
        assert res.exit_code == 0, res.output
        assert f"4 sounds written to {expected} " in res.stdout
        provenance = json.loads((tmp_path / expected / "provenance.json").read_text())
        assert provenance["model"]["path"].endswith("pretrained/birdsong/model.safetensors")
        assert provenance["morph"]["spacing"] == "equal"  # the default spacing
        assert "--model birdsong" in provenance["command"] and f"--out {expected}" in provenance["command"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_to_b", "a_to_b-2"]


def test_continuum_without_out_names_its_folder_after_the_pairs_table(setup, tmp_path, monkeypatch):
    run, f = setup
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my pairs.csv").write_text(f"a,b\n{f['a']},{f['b']}\n")
    res = _invoke("continuum", "my pairs.csv", "--steps", 3, "-m", run, "--tune-steps", 0, "--no-plot")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "my_pairs_continua" / "manifest.csv").is_file()


def test_an_input_the_default_model_cannot_carry_is_one_line_naming_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    narrow = write_wav(tmp_path / "phone.wav", synthetic_unit(0, 0, sr=8000), 8000)
    res = _invoke("morph", narrow, narrow, "--steps", 3)
    assert res.exit_code == 1
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {narrow}: sample rate 8000 Hz cannot hold")
    assert "choose another with --model (shipped: birdsong, speech)" in line
    assert list(tmp_path.iterdir()) == [narrow]  # nothing written
