"""Psychometric fits: agreement with an independent fit (statsmodels' logistic and probit regression where
guess and lapse are zero), recovery of simulated listeners' boundary, slope and lapse, intervals that hold
the truth, discrimination and its prediction from identification, one-line errors naming the file and
line, and `gaia-audio fit` end to end (fits.csv, a figure per pair, a page)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from test_trials import _folder

from gaia_audio.cli.main import main
from gaia_audio.errors import DataError
from gaia_audio.experiment.discrimination import abx_d_prime, yes_no_d_prime
from gaia_audio.experiment.fits import FitSettings, fit_curves
from gaia_audio.experiment.psychometric import bootstrap, deviance, fit_counts, psi
from gaia_audio.experiment.responses import read_responses

STEPS = np.arange(16)


def _simulate(rng, boundary=7.3, slope=0.9, guess=0.02, lapse=0.04, n=20, sigmoid="logistic"):
    """(k, n) of one simulated listener answering ``n`` times at each of 16 steps."""
    trials = np.full(len(STEPS), n)
    return rng.binomial(trials, psi(STEPS, boundary, slope, guess, lapse, sigmoid)), trials


@pytest.mark.parametrize("sigmoid,model", [("logistic", "Logit"), ("normal", "Probit")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_no_guess_or_lapse_the_fit_is_statsmodels_regression(sigmoid, model, seed):
    sm = pytest.importorskip("statsmodels.api", reason="statsmodels is not installed (pip install -e .[test])")
    k, n = _simulate(np.random.default_rng(seed), slope=0.6, guess=0, lapse=0, sigmoid=sigmoid)
    fit = fit_counts(STEPS, k, n, sigmoid, guess=0.0, lapse=0.0)
    x = np.repeat(STEPS, n)
    y = np.concatenate([np.r_[np.ones(ki), np.zeros(ni - ki)] for ki, ni in zip(k, n)])
    reference = getattr(sm, model)(y, sm.add_constant(x.astype(float))).fit(disp=0)
    intercept, coefficient = reference.params
    assert fit.slope == pytest.approx(coefficient, rel=1e-4)
    assert fit.boundary == pytest.approx(-intercept / coefficient, abs=1e-4)
    assert fit.deviance == pytest.approx(deviance(k, n, reference.predict(sm.add_constant(STEPS.astype(float)))),
                                         abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_a_simulated_listener_s_boundary_slope_and_lapse_are_recovered(seed):
    k, n = _simulate(np.random.default_rng(seed), boundary=6.4, slope=1.2, guess=0.02, lapse=0.08, n=60)
    fit = fit_counts(STEPS, k, n)
    assert abs(fit.boundary - 6.4) < 1.0 and fit.slope == pytest.approx(1.2, rel=0.5)
    assert abs(fit.lapse - 0.08) < 0.06 and abs(fit.guess - 0.02) < 0.05


def test_the_bootstrap_interval_holds_the_truth_and_narrows_with_data():
    rng = np.random.default_rng(5)
    widths, hits = [], 0
    for n in (10, 80):
        k, trials = _simulate(rng, n=n)
        fit = fit_counts(STEPS, k, trials)
        intervals = bootstrap(fit, STEPS, trials, n_boot=100, rng=rng)
        lo, hi = intervals.boundary
        hits += lo <= 7.3 <= hi
        widths.append(hi - lo)
        assert lo < fit.boundary < hi and 0 <= intervals.deviance_p <= 1
    assert hits == 2 and widths[1] < widths[0] / 1.5


def test_fixed_rates_stay_fixed():
    k, n = _simulate(np.random.default_rng(3))
    fit = fit_counts(STEPS, k, n, guess=0.01, lapse=0.05)
    assert (fit.guess, fit.lapse) == (0.01, 0.05)


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def _responses(rng, people=("p1", "p2"), pairs=("a_to_b", "c_to_d"), boundary=7.3, slope=0.9):
    lines = ["participant,pair,step,response,rt"]
    for person in people:
        for pair in pairs:
            k, n = _simulate(rng, boundary=boundary, slope=slope)
            for step, ki, ni in zip(STEPS, k, n):
                lines += [f"{person},{pair},{step},{int(i < ki)},500" for i in range(ni)]
    return lines


def test_curves_come_per_participant_and_pair_then_pooled(tmp_path):
    path = _write(tmp_path / "r.csv", _responses(np.random.default_rng(0)))
    curves = fit_curves(read_responses(path), FitSettings(n_boot=20), path)
    assert [(c.participant, c.pair) for c in curves] == [("p1", "a_to_b"), ("p2", "a_to_b"), ("pooled", "a_to_b"),
                                                         ("p1", "c_to_d"), ("p2", "c_to_d"), ("pooled", "c_to_d")]
    assert [c.fit.n_trials for c in curves[:3]] == [320, 320, 640]
    assert all(abs(c.fit.boundary - 7.3) < 1.0 for c in curves)


def test_endpoint_names_and_letters_are_answers_too(tmp_path):
    path = _write(tmp_path / "r.csv", ["pair,step,response", "samba_to_flashcam,0,samba", "samba_to_flashcam,1,B",
                                       "samba_to_flashcam,2,FLASHCAM", "samba_to_flashcam,3,0"])
    assert [r.response for r in read_responses(path)] == [0, 1, 1, 0]
    assert {r.participant for r in read_responses(path)} == {"unnamed"}


@pytest.mark.parametrize("lines,message", [
    ([], "empty file"),
    (["pair,step,response"], "header only"),
    (["pair,response", "ab,1"], "no column step"),
    (["pair,step,response", "ab,1,1", "ab,2.5,0"], "line 3: step must be a whole number"),
    (["pair,step,response", "ab,1,1", "ab,2,maybe"], "line 3: response 'maybe'"),
    (["pair,step,response", "ab,1,1", "ab,2,1"], "every response is endpoint b"),
    (["pair,step,response", "ab,1,1", "ab,1,0"], "only step 1"),
    (["pair,step,response,design", "ab,1;2,same,ax", "ab,1,different,ax"], "line 3: ax needs 2 step"),
    (["pair,step,response", "ab,1,1", "ab,2,0,extra"], "line 3: more fields than the header has"),
])
def test_every_bad_input_is_one_error_naming_the_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "bad.csv", lines) if lines else tmp_path / "bad.csv"
    if not lines:
        path.write_text("")
    with pytest.raises(DataError) as err:
        fit_curves(read_responses(path), FitSettings(n_boot=5), path)
    assert str(err.value).startswith(str(path)) and message in str(err.value) and "\n" not in str(err.value)


def test_a_step_outside_the_continuum_is_refused_naming_the_line(tmp_path):
    folder = _folder(tmp_path, {"a_to_b": 5})
    path = _write(tmp_path / "r.csv", ["pair,step,response", "a_to_b,4,1", "a_to_b,7,0"])
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "fits"), "--continuum", str(folder)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {path}: line 3: step 7 is outside continuum 'a_to_b' (steps 0 to 4)"
    assert not (tmp_path / "fits").exists()


def test_d_prime_is_zero_at_chance_and_grows_with_accuracy():
    assert abx_d_prime(0.5) == 0 and 0 < abx_d_prime(0.7) < abx_d_prime(0.9)
    assert yes_no_d_prime(50, 100, 50, 100) == pytest.approx(0, abs=1e-12)
    assert yes_no_d_prime(90, 100, 10, 100) == pytest.approx(2 * 1.2816, abs=0.05)


def test_discrimination_peaks_where_identification_predicts(tmp_path):
    rng = np.random.default_rng(2)
    lines = _responses(rng, people=("p1",), pairs=("ab",), slope=2.5)
    lines[0] += ",design"
    lines[1:] = [line + ",identification" for line in lines[1:]]
    p = psi(STEPS, 7.3, 2.5, 0.02, 0.04)
    for k in range(14):  # a Haskins listener: labels both sounds covertly, "A" if X's label is A's
        for _ in range(40):
            a, b = (k, k + 2) if rng.random() < 0.5 else (k + 2, k)
            x = a if rng.random() < 0.5 else b
            la, lb, lx = (rng.random() < p[s] for s in (a, b, x))
            answer = ("A" if lx == la else "B") if la != lb else rng.choice(["A", "B"])
            lines.append(f"p1,ab,{a};{b};{x},{answer},600,abx")
    path = _write(tmp_path / "r.csv", lines)
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(tmp_path / "fits"), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    table = [r for r in csv.DictReader(open(tmp_path / "fits" / "discrimination.csv")) if r["participant"] == "p1"]
    assert [(int(r["step_a"]), int(r["step_b"])) for r in table] == [(k, k + 2) for k in range(14)]
    observed = np.array([float(r["percent_correct"]) for r in table])
    predicted = np.array([float(r["predicted_percent_correct"]) for r in table])
    assert abs(np.argmax(predicted) - 6) <= 1 and abs(np.argmax(observed) - 6) <= 2
    assert predicted.min() == pytest.approx(50, abs=1) and predicted.max() > 85 and observed.max() > 75


def test_the_fit_command_writes_fits_a_figure_per_pair_and_a_page(tmp_path):
    path = _write(tmp_path / "r.csv", _responses(np.random.default_rng(1)))
    out = tmp_path / "fits"
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(out), "--bootstrap", "30", "--lapse", "0.02"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "fits.csv")))
    assert len(rows) == 6 and {"boundary_step_lo", "boundary_step_hi", "boundary_alpha", "deviance"} <= set(rows[0])
    assert all(float(r["boundary_step_lo"]) < float(r["boundary_step"]) < float(r["boundary_step_hi"]) for r in rows)
    assert all(float(r["lapse"]) == 0.02 and r["boundary_alpha"] == "" for r in rows)
    assert (out / "a_to_b.png").stat().st_size > 0 and (out / "c_to_d.png").is_file()
    page = (out / "index.html").read_text()
    assert 'src="a_to_b.png"' in page and "fits.csv" in page


def test_sessions_downloaded_as_separate_files_are_pooled(tmp_path):
    lines = _responses(np.random.default_rng(3), people=("p1", "p2"), pairs=("a_to_b",))
    half = 1 + (len(lines) - 1) // 2  # p1's rows in one session file, p2's in the other, each with its header
    first, second = _write(tmp_path / "s1.csv", lines[:half]), _write(tmp_path / "s2.csv", [lines[0]] + lines[half:])
    both = _write(tmp_path / "both.csv", lines)
    for args, name in (([first, second], "split"), ([both], "one")):
        result = CliRunner().invoke(main, ["fit", *map(str, args), "--out", str(tmp_path / name), "--bootstrap", "20"])
        assert result.exit_code == 0, result.output
    split = list(csv.DictReader(open(tmp_path / "split" / "fits.csv")))
    one = list(csv.DictReader(open(tmp_path / "one" / "fits.csv")))
    assert [(r["participant"], r["n_trials"], r["boundary_step"]) for r in split] == \
        [(r["participant"], r["n_trials"], r["boundary_step"]) for r in one]
    assert [r["participant"] for r in split] == ["p1", "p2", "pooled"]
