"""The peers of a gaia-audio continuum (WORLD morph, spectrogram cross-fade) and the measures of
benchmarks/continuum_quality.py, on synthetic harmonic tones; the script's data split and pairs."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from gaia_audio.errors import ConfigError
from gaia_audio.spectral.presets import make_frontend

SR = 22050
BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "continuum_quality.py"
sys.path.insert(0, str(BENCH.parent))  # the measures live beside the benchmark, outside the wheel
import continuum_measures as cq  # noqa: E402


def tone(f0: float, dur: float, sr: int = SR) -> np.ndarray:
    """A steady harmonic stack (5 partials, 1/k amplitudes) under a Hann envelope: (n,) float32."""
    t = np.arange(int(dur * sr)) / sr
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) * np.hanning(len(t))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def frontend():
    return make_frontend("zebra_finch")


def harvest_f0(y: np.ndarray) -> float:
    """Median voiced f0 of ``y`` by harvest (Hz)."""
    pw = pytest.importorskip("pyworld", reason="pyworld (the bench extra) is not installed")
    f0, _ = pw.harvest(y.astype(np.float64), SR, f0_floor=100.0, f0_ceil=1000.0)
    return float(np.median(f0[f0 > 0]))


def test_step_lengths_go_linearly_from_one_end_to_the_other():
    assert cq.step_lengths(100, 250, 4) == [100, 150, 200, 250]
    assert cq.step_lengths(300, 300, 3) == [300, 300, 300]


def test_world_morph_steps_durations_and_f0_in_between():
    pytest.importorskip("pyworld", reason="pyworld (the bench extra) is not installed")
    a, b = tone(300.0, 0.1), tone(600.0, 0.16)
    steps = cq.world_morph(a, b, SR, steps=9, f0_floor=100.0, f0_ceil=1000.0)
    assert len(steps) == 9 and all(s.dtype == np.float32 for s in steps)
    assert [len(s) for s in steps] == cq.step_lengths(len(a), len(b), 9)
    assert harvest_f0(steps[0]) == pytest.approx(300.0, rel=0.03)
    assert harvest_f0(steps[-1]) == pytest.approx(600.0, rel=0.03)
    # α = 0.5: log f0 is interpolated, so the middle step sits at the geometric mean
    assert harvest_f0(steps[4]) == pytest.approx(np.sqrt(300.0 * 600.0), rel=0.05)
    assert 300.0 * 1.1 < harvest_f0(steps[2]) < harvest_f0(steps[4]) < harvest_f0(steps[6]) < 600.0 / 1.1


def test_world_morph_without_pyworld_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyworld", None)  # import pyworld now raises ImportError
    with pytest.raises(ConfigError, match=r"pyworld.*gaia-audio\[bench\]") as err:
        cq.world_morph(tone(300.0, 0.1), tone(400.0, 0.1), SR)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("method", ["pghi+fgla", "pghi"])
def test_crossfade_ends_are_the_recordings_and_the_middle_is_both(frontend, method):
    a, b = tone(700.0, 0.08), tone(1100.0, 0.12)
    steps = cq.crossfade_morph(frontend, a, b, steps=5, method=method, n_iter=8)
    assert len(steps) == 5 and [len(s) for s in steps] == cq.step_lengths(len(a), len(b), 5)
    first, last = cq.endpoint_fidelity(frontend, a, b, steps)
    assert first < -15 and last < -15
    # each end is its own recording, not the other one
    assert cq.endpoint_fidelity(frontend, b, a, steps)[0] > -3
    # the middle is a mix: far from both recordings
    mid = steps[2]
    assert cq.endpoint_fidelity(frontend, a, b, [mid, mid])[0] > first + 6
    assert cq.endpoint_fidelity(frontend, a, b, [mid, mid])[1] > last + 6


def test_crossfade_and_world_refuse_a_single_step(frontend):
    with pytest.raises(ConfigError, match="at least 2 steps"):
        cq.crossfade_morph(frontend, tone(300.0, 0.1), tone(400.0, 0.1), steps=1)
    with pytest.raises(ConfigError, match="at least 2 steps"):
        cq.world_morph(tone(300.0, 0.1), tone(400.0, 0.1), SR, steps=1)


def test_ceiling_of_a_clean_tone_is_very_low(frontend):
    assert cq.ceiling_db(frontend, tone(1000.0, 0.1)) < -30  # fundamental inside the 500 Hz-8 kHz band


def test_endpoint_fidelity_of_the_recordings_themselves(frontend):
    a, b = tone(300.0, 0.1), tone(600.0, 0.15)
    first, last = cq.endpoint_fidelity(frontend, a, b, [0.5 * a, a, b, 2 * b])  # level invariant
    assert first < -100 and last < -100


def test_step_cv_of_equal_distances_is_zero_and_of_uneven_ones_is_not():
    assert cq.step_cv([0.3] * 15) == pytest.approx(0.0, abs=1e-12)
    assert cq.step_cv([1.0, 2.0, 3.0]) == pytest.approx(np.std([1, 2, 3]) / 2)
    assert cq.step_cv([0.0, 0.0]) == float("inf")


def scalar_steps(positions) -> list[np.ndarray]:
    """'Waveforms' that are one number each, judged by |difference|: a continuum on a line."""
    return [np.array([p], np.float64) for p in positions]


def line_distance(y_a, y_b, sr):
    return float(abs(y_a[0] - y_b[0]))


def test_consecutive_distances_use_the_given_measure():
    assert cq.consecutive_distances(scalar_steps([0, 1, 3, 6]), SR, line_distance) == [1.0, 2.0, 3.0]


def test_intermediateness_of_constructed_continua():
    assert cq.middle_steps(16) == [7, 8] and cq.middle_steps(5) == [2]
    # even steps on a line: steps 7 and 8 straddle the middle symmetrically
    assert cq.intermediateness(scalar_steps(np.linspace(0, 1, 16)), SR, line_distance) == pytest.approx(0.0, abs=1e-12)
    # a continuum that dwells near a: its middle steps sit at 0.2 and 0.3 of the way
    positions = np.linspace(0, 1, 16)
    positions[7], positions[8] = 0.2, 0.3
    assert cq.intermediateness(scalar_steps(positions), SR, line_distance) == pytest.approx(0.25)
    # odd count: the α = 0.5 step itself
    assert cq.intermediateness(scalar_steps([0, 0.1, 0.9, 0.95, 1]), SR, line_distance) == pytest.approx(0.4)
    with pytest.raises(ConfigError):
        cq.intermediateness(scalar_steps([0, 1]), SR, line_distance)


def test_unit_tiles_are_training_tiles(frontend):
    tiles = cq.unit_tiles(frontend, [tone(300.0, 0.05), tone(400.0, 0.25)])
    assert tiles.shape == (2, 1, *frontend.tile_shape) and tiles.dtype == np.float32
    assert 0.0 <= tiles.min() and tiles.max() <= 1.0 and tiles.max() > 0.5


# ---- the script's data handling ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("continuum_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_held_out_third_and_pairs_of_different_recordings(bench, tmp_path):
    from gaia_audio.io import manifest as manifests

    rows = [{"path": f"units/s{i % 4}_{i}.wav", "source": f"s{i % 4}.wav", "onset": 0.0, "offset": 0.1,
             "sr": 22050, "duration": 0.1, "label": ""} for i in range(12)]
    manifests.write_manifest(rows, tmp_path / "manifest.csv")
    bench.split_heldout(tmp_path)
    held = manifests.read_manifest(tmp_path / "manifest_heldout.csv")
    train = manifests.read_manifest(tmp_path / "manifest_train.csv")
    assert [r["path"] for r in held] == [rows[i]["path"] for i in (2, 5, 8, 11)]
    assert len(train) == 8 and not {r["path"] for r in train} & {r["path"] for r in held}
    pairs = bench.pick_pairs(held, 3, seed=0)
    assert len(pairs) == 3 and all(a["source"] != b["source"] for a, b in pairs)
    assert len({(a["path"], b["path"]) for a, b in pairs}) == 3
    assert [(a["path"], b["path"]) for a, b in bench.pick_pairs(held, 3, seed=0)] == \
        [(a["path"], b["path"]) for a, b in pairs]  # a fixed seed gives the same pairs


def scores(bench, first, last, auc, cv, inter, seconds, steady=0.9):
    return bench.Scores(first=[first], last=[last], cv=[cv], inter=[inter], seconds=[seconds], steady=[steady],
                        auc=(auc, 0.02))


def test_verdicts_follow_the_measured_numbers(bench):
    good = {"gaia-audio tuned": scores(bench, -28, -26, 0.6, 0.1, 0.05, 12),
            "gaia-audio untuned": scores(bench, -5, -4, 0.62, 0.1, 0.05, 2),
            "WORLD": scores(bench, -4, -3, 0.65, 0.4, 0.02, 0.3),
            "cross-fade": scores(bench, -27, -25, 0.9, 0.3, 0.04, 0.3)}
    lines = bench.verdicts(good, auc_target=0.65)
    assert lines[0] == "judged row: gaia-audio tuned"
    assert [line.split(":")[0] for line in lines[1:]] == ["- met"] * 4 + ["- steady steps (farther from a and "
                                                                            "nearer to b than the one before)"] + \
        ["- met"] * 3, lines
    assert "90 %" in lines[5]
    bad = dict(good, **{"gaia-audio tuned": scores(bench, -28, -19, 0.655, 0.25, 0.15, 25, 0.5)})
    lines = bench.verdicts(bad, auc_target=0.65)
    assert sum(line.startswith("- NOT met") for line in lines) == 7, lines
    assert "worse end -19.0 dB" in lines[1] and "50 %" in lines[5]
    assert lines[-2].endswith("WORLD on fidelity, realism and evenness at once (not on realism)")
    assert lines[-1].endswith("(not on fidelity)")  # -28 and -19 dB are no better than -27 and -25 together
    assert bench.verdicts(bad, auc_target=0.70)[2].startswith("- met: midpoint AUC <= 0.7")  # speech's target
    # tuned worse than untuned by more than twice the critic's spread, though under the target
    worse = dict(good, **{"gaia-audio untuned": scores(bench, -5, -4, 0.5, 0.1, 0.05, 2)})
    assert bench.verdicts(worse)[2].startswith("- NOT met: midpoint AUC")
    table = bench.table(good, -26.0)
    assert table.count("\n") == 5
    assert "| gaia-audio tuned | -28.0 | -26.0 | -26.0 | 0.60 ± 0.02 | 0.10 | 0.050 | 90.0 |" in table


def test_methods_left_out_are_not_judged(bench):
    rows = {"gaia-audio tuned": scores(bench, -30, -35, 0.5, 0.12, 0.03, 14),
            "gaia-audio untuned": scores(bench, -5, -4, 0.62, 0.1, 0.05, 2)}
    lines = bench.verdicts(rows)
    assert lines[0] == "judged row: gaia-audio tuned" and "worse end -30.0 dB" in lines[1]
    assert not any("WORLD" in line or "cross-fade" in line for line in lines)
    assert list(bench.METHODS)[:3] == ["gaia-audio tuned", "gaia-audio tuned, no detail", "gaia-audio untuned"]


def test_steadiness_counts_the_steps_that_move_from_a_towards_b():
    assert cq.steadiness(scalar_steps(np.linspace(0, 1, 16)), SR, line_distance) == 1.0
    # the step that turns back towards a is not steady; the steps around it are
    assert cq.steadiness(scalar_steps([0, 0.3, 0.2, 0.6, 1.0]), SR, line_distance) == pytest.approx(0.75)
    assert cq.steadiness(scalar_steps([0, 0, 0, 1]), SR, line_distance) == pytest.approx(1 / 3)
    with pytest.raises(ConfigError):
        cq.steadiness(scalar_steps([0]), SR, line_distance)
