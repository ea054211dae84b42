"""The continua of one request, made and written by the library: what the CLI runs, and what a Python
caller gets (the same folder)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from tiny_model import synthetic_unit, train_tiny_model, write_wav

from gaia_audio.cli.main import main
from gaia_audio.errors import AudioError, BandError, ConfigError, DataError
from gaia_audio.stimuli.continua import MorphRequest, load_endpoint, write_continua


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("continua")
    run = train_tiny_model(root)
    files = [write_wav(root / f"{n}.wav", synthetic_unit(k, k, 22050), 22050) for k, n in enumerate("abcd")]
    return run, files, root


def _manifest(folder):
    with open(folder / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_python_api_writes_what_the_cli_writes(setup, tmp_path):
    run, (a, b, *_), _ = setup
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    res = CliRunner().invoke(main, ["morph", str(a), str(b), "--steps", "4", "--tune-steps", "3", "-m", str(run),
                                    "-o", str(cli_out), "--seed", "5"])
    assert res.exit_code == 0, res.output
    notes = []
    written = write_continua(MorphRequest.of_sounds([a, b], steps=4, tune_steps=3), api_out, run, seed=5,
                             on_note=notes.append)
    assert written.folder == api_out and written.files == 4 and written.notes == notes
    assert sorted(p.relative_to(cli_out).as_posix() for p in cli_out.rglob("*")) == \
        sorted(p.relative_to(api_out).as_posix() for p in api_out.rglob("*"))
    assert _manifest(cli_out) == _manifest(api_out)
    for row in _manifest(cli_out):
        assert (cli_out / row["file"]).read_bytes() == (api_out / row["file"]).read_bytes()
    cli_prov, api_prov = (json.loads((d / "provenance.json").read_text()) for d in (cli_out, api_out))
    assert "gaia-audio morph" in cli_prov["command"] and api_prov["command"] is None
    for prov in (cli_prov, api_prov):  # how long tuning took is the one thing that differs
        prov["tuning"]["a_to_b"].pop("seconds")
    for key in ("form", "seed", "model", "recipe", "morph", "tuning", "inputs", "notes", "export", "files"):
        assert cli_prov[key] == api_prov[key], key


def test_every_form_of_request(setup, tmp_path):
    run, (a, b, c, d), root = setup
    table = root / "pairs.csv"
    table.write_text("a,b,name\na.wav,b.wav,ab\nc.wav,d.wav,cd\n")
    grid = write_continua(MorphRequest.of_grid([a, b, c, d], steps=2), tmp_path / "grid", run, plot=False)
    assert grid.files == 4 and {float(r["u"]) for r in _manifest(grid.folder)} == {0.0, 1.0}
    pairs = write_continua(MorphRequest.of_table(table, steps=3, tune_steps=0), tmp_path / "pairs", run, plot=False)
    assert [r.name for r in pairs.results] == ["ab", "cd"] and (tmp_path / "pairs" / "cd" / "step_02.wav").is_file()
    bary = write_continua(MorphRequest.of_sounds([a, b, c], steps=3), tmp_path / "bary", run, plot=False)
    assert bary.files == 6 and json.loads((tmp_path / "bary" / "provenance.json").read_text())["form"] == "barycentric"


def test_a_request_is_checked_when_it_is_made():
    with pytest.raises(DataError, match="a pair morph takes 2 sound"):
        MorphRequest("pair", ("a.wav",))
    with pytest.raises(DataError, match="unknown form of morph 'circle'"):
        MorphRequest("circle", ("a.wav", "b.wav"))
    with pytest.raises(DataError, match="needs the attribute's name"):
        MorphRequest("attribute", ("a.wav",))
    with pytest.raises((ConfigError, DataError), match="steps"):
        MorphRequest.of_grid(["a", "b", "c", "d"], steps=10_000)  # 10⁸ sounds: refused before any work
    assert MorphRequest.of_sounds(["x/a.wav", "b.wav", "c.wav"]).form == "barycentric"
    assert MorphRequest.of_sounds(["a.wav"], attribute="age").form == "attribute"


def test_the_default_folder_is_new_and_named_after_the_inputs(tmp_path):
    request = MorphRequest.of_sounds([tmp_path / "x" / "hello.wav", "yellow.wav"])
    assert request.default_out(tmp_path) == tmp_path / "hello_to_yellow"
    (tmp_path / "hello_to_yellow").mkdir()
    assert request.default_out(tmp_path) == tmp_path / "hello_to_yellow-2"
    assert MorphRequest.of_grid(["a", "b", "c", "d"]).default_out(tmp_path).name == "a_to_b_to_c_to_d_grid"


def test_nothing_is_written_when_an_input_is_bad(setup, tmp_path):
    run, (a, *_), root = setup
    bad = root / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioError, match="bad.wav"):
        write_continua(MorphRequest.of_sounds([a, bad], steps=3), tmp_path / "out", run, plot=False)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_an_endpoint_whose_rate_cannot_hold_the_band_keeps_its_error_type(setup):
    from gaia_audio.morph.model import load_model

    run, _, root = setup
    low = write_wav(root / "low.wav", synthetic_unit(0, 0)[::4], 8000)
    with pytest.raises(BandError) as err:
        load_endpoint(load_model(run), low)
    assert err.value.path == str(low)


def test_importing_the_library_entry_leaves_torch_unimported():
    """write_continua starts its drawing worker before it imports torch (benchmarks/morph_latency.py)."""
    code = "import sys, gaia_audio.stimuli.continua; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
