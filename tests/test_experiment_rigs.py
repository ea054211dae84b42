"""Files for rigs that are not browsers: Praat's ExperimentMFC (read back by the rules of Praat's text format,
field by field as ExperimentMFC_def.h orders them) and pyoperant's stimulus/trial JSON (the keys its
two-alternative-choice experiment reads)."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from test_trials import _folder

from gaia_audio.cli.main import main
from gaia_audio.experiment.rigs import praat_string, write_praat, write_pyoperant
from gaia_audio.experiment.trials import make_trials, read_continuum

_TOKEN = re.compile(r'"((?:[^"]|"")*)"|<([A-Za-z]+)>|(-?\d+(?:\.\d+)?(?:e-?\d+)?)(?=\s|$)')


def praat_tokens(text: str) -> list:
    """The values of a Praat text file in order: strings (with "" undone), <flags> and numbers; labels
    such as ``name =`` or ``name?`` and units after numbers are skipped, as Praat skips them."""
    values = []
    for match in _TOKEN.finditer(text):
        string, flag, number = match.groups()
        values.append(string.replace('""', '"') if string is not None else flag if flag is not None else float(number))
    return values


def read_experiment_mfc(text: str) -> dict:
    """An ExperimentMFC 7 file's fields, read in the order of ExperimentMFC_def.h (raises on a misfit)."""
    v = iter(praat_tokens(text))
    assert next(v) == "ooTextFile" and next(v) == "ExperimentMFC 7"
    out = {"blankWhilePlaying": next(v), "stimuliAreSounds": next(v), "head": next(v), "tail": next(v),
           "carriers": (next(v), next(v)), "silences": (next(v), next(v), next(v))}
    out["stimuli"] = [(next(v), next(v)) for _ in range(int(next(v)))]
    out["replications"], out["breakAfterEvery"], out["randomize"] = int(next(v)), int(next(v)), next(v)
    out["texts"] = [next(v) for _ in range(4)]
    out["maximumNumberOfReplays"] = next(v)
    out["buttons"] = [[next(v) for _ in range(6)] for _ in range(3)]  # replay, ok, oops: 4 floats, label, key
    out["responsesAreSounds"] = next(v)
    out["response_sound"] = [next(v) for _ in range(7)]
    out["responses"] = [[next(v) for _ in range(8)] for _ in range(int(next(v)))]
    out["goodness"] = [[next(v) for _ in range(7)] for _ in range(int(next(v)))]
    assert next(v, None) is None, "values left over"
    return out


@pytest.mark.parametrize("design", ["identification", "ax"])
def test_the_praat_file_follows_praat_s_text_format_and_names_existing_sounds(tmp_path, design):
    folder = _folder(tmp_path, {"a_to_b": 5, "c_to_d": 4})
    path = write_praat(folder, design, repeats=3, seed=1)[0]
    mfc = read_experiment_mfc(path.read_text(encoding="utf-8"))
    assert (mfc["stimuliAreSounds"], mfc["randomize"], mfc["replications"]) == ("yes", "PermuteBalancedNoDoublets", 3)
    block = make_trials(read_continuum(folder), design, 1, 1)
    assert len(mfc["stimuli"]) == len(block)
    for name, _ in mfc["stimuli"]:
        for part in name.split(","):  # Praat plays comma-separated names one after the other
            assert (folder / f"{mfc['head']}{part}{mfc['tail']}").is_file()
    names = [r[7] for r in mfc["responses"]]
    assert names == (["a", "b", "c", "d"] if design == "identification" else ["same", "different"])
    assert all(0 <= r[0] < r[1] <= 1 and 0 <= r[2] < r[3] <= 1 for r in mfc["responses"])
    assert "cannot be replayed" in mfc["texts"][0] and mfc["maximumNumberOfReplays"] == 0


def test_praat_strings_double_their_quotes():
    assert praat_tokens(praat_string('say "a"')) == ['say "a"']


def test_the_pyoperant_file_has_the_keys_pyoperant_reads(tmp_path):
    folder = _folder(tmp_path, {"ab": 5})
    path = write_pyoperant(folder, "identification", repeats=2, seed=4)[0]
    config = json.loads(path.read_text())
    for name, file in config["stims"].items():
        assert (folder / file).is_file() and config["stim_path"] == str(folder.resolve())
    blocks = config["block_design"]
    assert blocks["order"] == ["continuum"] and blocks["blocks"]["continuum"]["queue"] == "block"
    conditions = blocks["blocks"]["continuum"]["conditions"]
    trials = make_trials(read_continuum(folder), "identification", 2, 4)
    assert [c["step"] for c in conditions] == [t["step"] for t in trials]
    assert all(c["stim_name"] in config["stims"] and c["class"] in config["classes"] for c in conditions)
    assert {c["step"]: c["class"] for c in conditions} == {0: "L", 1: "L", 2: "probe", 3: "R", 4: "R"}
    assert config["classes"]["L"]["component"] == "left" and config["classes"]["R"]["component"] == "right"


def test_designs_a_rig_cannot_run_are_one_line_errors(tmp_path):
    folder = _folder(tmp_path, {"ab": 4})
    for rig, design in (("praat", "abx"), ("pyoperant", "ax")):
        result = CliRunner().invoke(main, ["experiment", str(folder), "--design", design, "--rig", rig])
        assert result.exit_code == 1 and result.output.startswith(f"error: {folder / 'manifest.csv'}: ")
        assert design in result.output and len(result.output.strip().splitlines()) == 1
