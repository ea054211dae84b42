"""Trial lists (identification, AX, ABX): exact counterbalancing, reproducible shuffles, no
immediate repeats, files that exist and are listed, CSV and JSON that agree, errors, and the CLI."""
from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from gaia_audio.cli.main import main
from gaia_audio.errors import DataError
from gaia_audio.experiment.trials import (
    COLUMNS,
    STIMULI,
    Continuum,
    ax_blocks,
    identification_blocks,
    make_trials,
    read_continuum,
    write_trials,
)
from gaia_audio.stimuli.export import ExportSettings, export

SR = 16000
DESIGNS = ("identification", "ax", "abx")


def _folder(root, pairs: dict[str, int], name: str = "continuum"):
    """A continuum folder by hand: ``steps`` short WAVs per pair (in subfolders if several) and manifest.csv."""
    folder = root / name
    lines = ["file,pair,step,alpha,duration_s"]
    for pair, steps in pairs.items():
        sub = folder if len(pairs) == 1 else folder / pair
        sub.mkdir(parents=True, exist_ok=True)
        for k in range(steps):
            sf.write(sub / f"step_{k:02d}.wav", np.full(160, 0.01 * (k + 1), np.float32), SR)
            file = (sub / f"step_{k:02d}.wav").relative_to(folder).as_posix()
            lines.append(f"{file},{pair},{k},{k / (steps - 1)},0.01")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A two-pair continuum folder written by the exporter itself (5 and 4 steps, subfolders)."""
    from gaia_audio.morph.series import MorphResult

    def result(name, n):
        t = np.arange(1600) / SR
        waves = [(0.3 * np.sin(2 * np.pi * (500 + 100 * k) * t)).astype(np.float32) for k in range(n)]
        rows = [{"pair": name, "step": k, "alpha": k / (n - 1)} for k in range(n)]
        return MorphResult(waves, SR, rows, [np.zeros((4, 4)) for _ in range(n)], [], name)

    out = tmp_path_factory.mktemp("trials") / "continua"
    return export([result("a_to_b", 5), result("c_to_d", 4)], out, ExportSettings(), plot=False)


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("repeats", [1, 3, 7])
@pytest.mark.parametrize("n_steps", [2, 3, 8])
def test_identification_plays_each_step_once_per_block_never_twice_in_a_row(tmp_path, n_steps, repeats):
    trials = make_trials(read_continuum(_folder(tmp_path, {"ab": n_steps})), "identification", repeats, seed=4)
    assert len(trials) == n_steps * repeats
    for block in range(1, repeats + 1):
        assert sorted(t["step"] for t in trials if t["block"] == block) == list(range(n_steps))
    assert Counter(t["step"] for t in trials) == {k: repeats for k in range(n_steps)}
    assert all(a["file"] != b["file"] for a, b in zip(trials, trials[1:]))
    assert [t["trial"] for t in trials] == list(range(1, len(trials) + 1))


def test_identification_blocks_avoid_repeats_across_block_boundaries_for_many_seeds():
    for seed in range(200):
        blocks = identification_blocks([0, 1, 2], 6, np.random.default_rng(seed))
        flat = [s for block in blocks for s in block]
        assert all(sorted(block) == [0, 1, 2] for block in blocks)
        assert all(a != b for a, b in zip(flat, flat[1:])), seed


@pytest.mark.parametrize("n_steps, distance", [(2, 1), (5, 2), (8, 2), (8, 3), (9, 8)])
@pytest.mark.parametrize("repeats", [1, 2, 5])
def test_ax_is_counterbalanced(tmp_path, n_steps, distance, repeats):
    trials = make_trials(read_continuum(_folder(tmp_path, {"ab": n_steps})), "ax", repeats, 1, distance)
    n_pairs = n_steps - distance
    different = Counter((t["a_step"], t["x_step"]) for t in trials if not t["same"])
    expected = {o: repeats for k in range(n_pairs) for o in ((k, k + distance), (k + distance, k))}
    assert different == expected
    same = [t for t in trials if t["same"]]
    assert len(same) == 2 * n_pairs * repeats  # as many same trials as different ones
    assert all(t["a_step"] == t["x_step"] and t["correct"] == "same" for t in same)
    assert all(t["a_step"] != t["x_step"] and t["correct"] == "different" for t in trials if not t["same"])
    counts = Counter(t["a_step"] for t in same)
    involved = sorted({s for k in range(n_pairs) for s in (k, k + distance)})
    assert sorted(counts) == involved and max(counts.values()) - min(counts.values()) <= 1
    for block in range(1, repeats + 1):  # each block is one full repetition
        in_block = [t for t in trials if t["block"] == block]
        assert Counter((t["a_step"], t["x_step"]) for t in in_block if not t["same"]) == {o: 1 for o in expected}
        assert sum(t["same"] for t in in_block) == 2 * n_pairs


def test_ax_same_trials_are_exactly_even_when_they_divide():
    blocks = ax_blocks(list(range(8)), 2, 2, np.random.default_rng(0))  # 2 x 12 same trials over 8 steps
    assert Counter(a for block in blocks for a, x in block if a == x) == {k: 3 for k in range(8)}


@pytest.mark.parametrize("n_steps, distance", [(2, 1), (6, 2), (7, 3)])
@pytest.mark.parametrize("repeats", [1, 4])
def test_abx_is_counterbalanced(tmp_path, n_steps, distance, repeats):
    trials = make_trials(read_continuum(_folder(tmp_path, {"ab": n_steps})), "abx", repeats, 2, distance)
    combos = Counter((t["a_step"], t["b_step"], t["x_step"]) for t in trials)
    expected = {(a, b, x): repeats for k in range(n_steps - distance)
                for a, b in ((k, k + distance), (k + distance, k)) for x in (a, b)}
    assert combos == expected
    for t in trials:
        assert t["correct"] == ("A" if t["x_step"] == t["a_step"] else "B")
        assert t["x_file"] == (t["a_file"] if t["correct"] == "A" else t["b_file"])
    assert Counter(t["correct"] for t in trials) == {"A": len(trials) // 2, "B": len(trials) // 2}


@pytest.mark.parametrize("design", DESIGNS)
def test_same_seed_gives_identical_files_and_another_seed_another_order(tmp_path, design):
    folder = _folder(tmp_path, {"ab": 6})
    contents = []
    for seed in (3, 3, 4):
        assert _invoke("trials", folder, "--design", design, "--repeats", 3, "--seed", seed).exit_code == 0
        contents.append(tuple((folder / f"trials_{design}.{ext}").read_bytes() for ext in ("csv", "json")))
    assert contents[0] == contents[1]
    assert contents[0][0] != contents[2][0] and contents[0][1] != contents[2][1]


@pytest.mark.parametrize("design", DESIGNS)
def test_csv_and_json_parse_agree_and_name_existing_listed_files(exported, design):
    res = _invoke("trials", exported, "--design", design, "--repeats", 2, "--seed", 5, "--distance", 1) \
        if design != "identification" else _invoke("trials", exported, "--design", design, "--repeats", 2)
    assert res.exit_code == 0, res.output
    rows = _read_csv(exported / f"trials_{design}.csv")
    timeline = json.loads((exported / f"trials_{design}.json").read_text(encoding="utf-8"))
    assert list(rows[0]) == list(COLUMNS[design]) and all(c.isidentifier() for c in rows[0])
    assert len(rows) == len(timeline) > 0 and f"{len(rows)} {design} trials" in res.stdout
    listed = {r["file"] for r in _read_csv(exported / "manifest.csv")}
    for row, obj in zip(rows, timeline):
        assert {k: str(v) for k, v in obj.items() if k != "stimuli"} == row
        assert obj["stimuli"] == [row[c] for c in STIMULI[design]]
        for path in obj["stimuli"]:
            assert path in listed and not path.startswith("/") and (exported / path).is_file()
            assert path.split("/")[0] == row["pair"]  # each pair's files live in its subfolder


def test_multi_pair_folder_lists_pairs_one_after_another(exported):
    trials = make_trials(read_continuum(exported), "identification", 3, seed=0)
    assert [t["pair"] for t in trials] == ["a_to_b"] * 15 + ["c_to_d"] * 12
    assert [t["block"] for t in trials] == [b for b in range(1, 7) for _ in range(5 if b <= 3 else 4)]
    for pair, n in (("a_to_b", 5), ("c_to_d", 4)):
        assert Counter(t["step"] for t in trials if t["pair"] == pair) == {k: 3 for k in range(n)}
    ax = make_trials(read_continuum(exported), "ax", 1, seed=0, distance=2)
    assert Counter(t["pair"] for t in ax) == {"a_to_b": 12, "c_to_d": 8}


def test_a_manifest_without_pair_column_uses_the_folder_name(tmp_path):
    folder = tmp_path / "solo"
    folder.mkdir()
    for k in range(3):
        sf.write(folder / f"s{k}.wav", np.zeros(16, np.float32), SR)
    (folder / "manifest.csv").write_text("step,file\n0,s0.wav\n1,s1.wav\n2,s2.wav\n")
    trials = make_trials(read_continuum(folder), "abx", 1, 0, 1)
    assert {t["pair"] for t in trials} == {"solo"} and len(trials) == 8


def _break(folder, how):
    manifest = folder / "manifest.csv"
    if how == "no folder":
        return folder.parent / "nowhere"
    if how == "no manifest":
        manifest.unlink()
    elif how == "no step column":
        manifest.write_text("file,pair\nstep_00.wav,ab\n")
    elif how == "missing wav":
        (folder / "step_01.wav").unlink()
    elif how == "bad step":
        manifest.write_text(manifest.read_text().replace("\nstep_01.wav,ab,1,", "\nstep_01.wav,ab,one,"))
    elif how == "outside":
        manifest.write_text(manifest.read_text().replace("\nstep_01.wav,", "\n../step_01.wav,"))
    elif how == "one step":
        manifest.write_text("file,pair,step\nstep_00.wav,ab,0\n")
    elif how == "twice":
        manifest.write_text(manifest.read_text() + "step_00.wav,ab,9,1,0.01\n")
    return folder


@pytest.mark.parametrize("how, message", [
    ("no folder", "no such continuum folder"),
    ("no manifest", "no manifest.csv"),
    ("no step column", "manifest lacks column(s) step"),
    ("missing wav", "line 3: file step_01.wav is listed but missing"),
    ("bad step", "line 3: step must be a whole number, got 'one'"),
    ("outside", "must be relative to the manifest's folder"),
    ("one step", "continuum 'ab' has 1 step; trials need at least 2"),
    ("twice", "file step_00.wav is listed twice"),
])
def test_bad_folders_give_one_line_errors_naming_the_file(tmp_path, how, message):
    folder = _break(_folder(tmp_path, {"ab": 4}), how)
    with pytest.raises(DataError) as err:
        make_trials(read_continuum(folder), "identification", 2)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(str(folder if how in ("no folder", "no manifest") else folder / "manifest.csv"))
    res = _invoke("trials", folder, "--design", "identification")
    assert res.exit_code == 1 and res.stderr.strip() == f"error: {err.value}"


@pytest.mark.parametrize("args, message", [
    (("--design", "ax", "--distance", 0), "distance 0 is out of range for continuum 'ab' with 4 steps (use 1 to 3)"),
    (("--design", "abx", "--distance", 4), "distance 4 is out of range"),
    (("--design", "ax", "--distance", -1), "distance -1 is out of range"),

])
def test_bad_settings_give_one_line_errors(tmp_path, args, message):
    folder = _folder(tmp_path, {"ab": 4})
    res = _invoke("trials", folder, *args)
    assert res.exit_code == 1 and res.stderr.strip().startswith(f"error: {folder / 'manifest.csv'}: ")
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not list(folder.glob("trials_*"))


@pytest.mark.parametrize("repeats", [0, -2, 1001])
def test_repeats_out_of_range_is_a_usage_error_before_the_folder_is_read(tmp_path, repeats):
    folder = _folder(tmp_path, {"ab": 4})
    res = _invoke("trials", folder, "--design", "identification", "--repeats", repeats)
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith("error: ") and "Invalid value for '--repeats'" in res.stderr
    assert "1<=x<=1000" in res.stderr
    assert not list(folder.glob("trials_*"))


def test_default_distance_needs_three_steps_and_distance_is_refused_for_identification(tmp_path):
    folder = _folder(tmp_path, {"ab": 2})
    assert "distance 2 is out of range" in _invoke("trials", folder, "--design", "ax").stderr
    assert _invoke("trials", folder, "--design", "ax", "--distance", 1).exit_code == 0
    res = _invoke("trials", folder, "--design", "identification", "--distance", 1)
    assert res.exit_code == 1 and "--distance applies to the ax and abx designs only" in res.output


def test_a_gap_in_the_steps_leaves_out_pairs_without_a_partner(tmp_path):
    folder = _folder(tmp_path, {"ab": 5})
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(line for line in manifest.read_text().splitlines() if ",ab,2," not in line))
    trials = make_trials(read_continuum(folder), "ax", 1, 0, 2)  # steps 0 1 3 4: only (1, 3) is 2 apart
    assert Counter((t["a_step"], t["x_step"]) for t in trials if not t["same"]) == {(1, 3): 1, (3, 1): 1}
    with pytest.raises(DataError, match="no two steps of continuum 'ab' are 3 apart"):
        make_trials(Continuum(folder, manifest, {"ab": {0: "a.wav", 1: "b.wav", 5: "c.wav", 6: "d.wav"}}), "ax",
                    1, 0, 3)


def test_trials_playing_a_file_the_manifest_does_not_list_are_refused(tmp_path):
    continuum = read_continuum(_folder(tmp_path, {"ab": 3}))
    trials = make_trials(continuum, "ax", 1, 0, 1)
    trials[2]["x_file"] = "elsewhere.wav"
    with pytest.raises(DataError, match="trial 3: file elsewhere.wav is not listed"):
        write_trials(continuum, "ax", trials)
    assert not list(continuum.folder.glob("trials_*"))


def test_help_ends_with_an_example():
    res = _invoke("trials", "--help")
    assert res.exit_code == 0 and "Example:" in res.output
    assert "gaia-audio trials" in res.output.split("Example:")[1]
