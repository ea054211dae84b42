"""The offline experiment page: its files (everything local, the trial list the same as trials_<design>.json),
and a simulated participant who clicks through whole sessions in headless Chromium from file:// with no
network, whose saved CSV matches the trial list and is read unchanged by `gaia-audio fit`.
Without Debian's chromium and chromium-driver (or selenium) the browser tests skip with the reason."""
from __future__ import annotations

import csv
import html.parser
import io
import json
import re
import time

import pytest
from click.testing import CliRunner
from test_page import BROWSER, CHROMEDRIVER
from test_trials import _folder

from gaia_audio.cli.main import main
from gaia_audio.experiment.page import RESULT_COLUMNS, write_experiment

pytestmark = pytest.mark.slow  # a real browser: make test runs it, make test-fast does not


class _Sources(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.sources += [attrs[k] for k in ("src", "href") if k in attrs]


def _config(page) -> dict:
    text = page.read_text(encoding="utf-8")
    return json.loads(re.search(r"window\.GAIA_EXPERIMENT = (.*?);</script>", text, re.S).group(1))


@pytest.mark.parametrize("design", ["identification", "ax", "abx"])
def test_the_page_needs_only_files_beside_it_and_runs_the_trial_list(tmp_path, design):
    folder = _folder(tmp_path, {"a_to_b": 5, "c_to_d": 4})
    written = write_experiment(folder, design, repeats=2, seed=3, headphone_check=True)
    page = folder / f"experiment_{design}.html"
    assert written[0] == page
    parser = _Sources()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.sources and all("://" not in s and (folder / s).is_file() for s in parser.sources)
    config = _config(page)
    listed = json.loads((folder / f"trials_{design}.json").read_text())
    assert [t["trial"] for t in config["trials"]] == [t["trial"] for t in listed]
    assert [t["files"].split(";") for t in config["trials"]] == [t["stimuli"] for t in listed]
    for t in config["trials"] + config["practice"] + config["headphone"]:
        assert "://" not in t["play"] and (folder / t["play"]).is_file()
    assert len(config["headphone"]) == 6 and config["headphone_pass"] == 5
    assert "cannot be replayed" in config["instructions"]
    if design == "identification":
        assert {tuple(t["choices"]) for t in config["trials"]} == {("a", "b"), ("c", "d")}


def test_ax_trials_play_both_steps_joined_by_the_interval(tmp_path):
    import soundfile as sf

    folder = _folder(tmp_path, {"ab": 4})
    write_experiment(folder, "ax", isi_ms=250)
    first = _config(folder / "experiment_ax.html")["trials"][0]
    y, sr = sf.read(folder / first["play"])
    assert len(y) == 160 + int(0.25 * sr) + 160  # two 160-sample steps and 250 ms of silence
    steps = [int(s) for s in first["step"].split(";")]
    assert y[0] == pytest.approx(0.01 * (steps[0] + 1), abs=1e-4) and y[-1] == pytest.approx(0.01 * (steps[1] + 1),
                                                                                             abs=1e-4)


def test_the_cli_writes_the_page_and_refuses_a_folder_without_manifest(tmp_path):
    folder = _folder(tmp_path, {"ab": 3})
    result = CliRunner().invoke(main, ["experiment", str(folder), "--design", "identification", "--no-practice"])
    assert result.exit_code == 0, result.output
    assert _config(folder / "experiment_identification.html")["practice"] == []
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["experiment", str(tmp_path / "empty"), "--design", "ax"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "manifest.csv" in result.output
    assert len(result.output.strip().splitlines()) == 1


# ---------------------------------------------------------------- a simulated participant in Chromium

STATE = """
const e = window.gaiaExperiment;
const content = document.querySelector('#jspsych-content');
const trial = e && e.jsPsych.getCurrentTrial ? e.jsPsych.getCurrentTrial() : null;
const buttons = content ? Array.from(content.querySelectorAll('button')) : [];
return {
  done: document.body.dataset.gaiaDone === '1',
  input: !!document.querySelector('#jspsych-survey-text-next'),
  labels: buttons.map(b => b.textContent.trim()),
  enabled: buttons.length > 0 && buttons.every(b => !b.disabled),
  data: trial && trial.data ? trial.data : null,
  stimulus: trial && typeof trial.stimulus === 'string' ? trial.stimulus : null,
};
"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if not (CHROMEDRIVER and BROWSER):
        pytest.skip("no chromium and chromium-driver on this machine (.ci/run installs them with apt-get)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.binary_location = BROWSER
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_script_timeout(30)
    yield driver, downloads
    driver.quit()


def _take_part(driver, page, answer, participant: str, timeout: float = 240.0) -> list[str]:
    """Click through a whole session: ``answer(state)`` picks the button of each sound trial.

    Returns:
        The labels clicked on the main trials, in order.
    """
    driver.get(page.resolve().as_uri())
    clicked, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script(STATE)
        if state["done"]:
            return clicked
        if state["input"]:
            field = driver.find_element("css selector", "#jspsych-content input")
            field.send_keys(participant)
            driver.find_element("css selector", "#jspsych-survey-text-next").click()
        elif state["enabled"]:
            label = answer(state) if state["stimulus"] and state["stimulus"].endswith(".wav") else state["labels"][0]
            if (state["data"] or {}).get("gaia_phase") == "trial":
                clicked.append(label)
            index = state["labels"].index(label)
            driver.execute_script("document.querySelectorAll('#jspsych-content button')[arguments[0]].click()", index)
        time.sleep(0.05)
    raise AssertionError(f"the session did not end within {timeout} s; last state {state}")


def _saved(driver, downloads, timeout: float = 20.0) -> tuple[str, str]:
    """The CSV the page saved (the downloaded file), and the copy it keeps in window.gaiaResults."""
    kept = driver.execute_script("return window.gaiaResults;")
    name = driver.execute_script("return window.gaiaResultsName;")
    deadline = time.monotonic() + timeout
    while not (downloads / name).is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (downloads / name).is_file(), f"no download {name} in {list(downloads.iterdir())}"
    return (downloads / name).read_bytes().decode("utf-8"), kept


def test_a_simulated_listener_completes_an_identification_session_and_the_fit_reads_its_csv(chromium, tmp_path):
    driver, downloads = chromium
    folder = _folder(tmp_path, {"a_to_b": 6})
    write_experiment(folder, "identification", repeats=3, seed=2, headphone_check=True)
    config = _config(folder / "experiment_identification.html")
    checks = {c["play"]: c["answer"] for c in config["headphone"]}
    by_trial = {t["trial"]: t for t in config["trials"]}

    def answer(state):
        if state["stimulus"] in checks:  # the headphone check: right five times, wrong once
            right = checks[state["stimulus"]]
            return right if state["stimulus"] != config["headphone"][0]["play"] else str(int(right) % 3 + 1)
        if state["data"].get("gaia_phase") == "practice":
            return state["labels"][0]
        step = int(by_trial[state["data"]["gaia_trial"]]["step"])
        return "b" if step >= 3 or (step == 2 and state["data"]["gaia_trial"] % 2) else "a"

    clicked = _take_part(driver, folder / "experiment_identification.html", answer, "p01")
    text, kept = _saved(driver, downloads)
    assert text == kept
    rows = list(csv.DictReader(io.StringIO(text)))
    listed = list(csv.DictReader(open(folder / "trials_identification.csv", newline="")))
    assert list(rows[0]) == list(RESULT_COLUMNS) and len(rows) == len(listed) == 18
    for row, trial, label in zip(rows, listed, clicked):
        assert (row["trial"], row["pair"], row["step"], row["files"]) == (trial["trial"], trial["pair"],
                                                                          trial["step"], trial["file"])
        assert row["response_label"] == label and row["response"] == str(int(label == "b"))
        assert row["participant"] == "p01" and row["headphone_check"] == "passed 5/6" and row["correct"] == ""
        assert float(row["rt"]) >= 0 and row["timestamp"] and row["design"] == "identification"
        assert float(row["alpha"]) == pytest.approx(int(row["step"]) / 5)
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors

    saved = tmp_path / "responses.csv"
    saved.write_bytes(text.encode("utf-8"))  # the downloaded file, byte for byte
    result = CliRunner().invoke(main, ["fit", str(saved), "--out", str(tmp_path / "fits"), "--continuum", str(folder),
                                       "--bootstrap", "20", "--no-plot"])
    assert result.exit_code == 0, result.output
    fits = list(csv.DictReader(open(tmp_path / "fits" / "fits.csv", newline="")))
    assert [f["participant"] for f in fits] == ["p01", "pooled"]
    assert 1.0 <= float(fits[0]["boundary_step"]) <= 3.0 and int(fits[0]["n_trials"]) == 18


@pytest.mark.parametrize("design", ["ax", "abx"])
def test_a_simulated_listener_completes_a_discrimination_session(chromium, tmp_path, design):
    driver, downloads = chromium
    folder = _folder(tmp_path, {"ab": 4})
    write_experiment(folder, design, repeats=1, seed=1, practice=False, isi_ms=50)
    config = _config(folder / f"experiment_{design}.html")
    by_trial = {t["trial"]: t for t in config["trials"]}
    clicked = _take_part(driver, folder / f"experiment_{design}.html",
                         lambda state: by_trial[state["data"]["gaia_trial"]]["correct"], "p02")
    text, kept = _saved(driver, downloads)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text == kept and len(rows) == len(config["trials"]) == len(clicked)
    assert all(row["correct"] == "1" and row["response"] == label for row, label in zip(rows, clicked))
    assert [row["step"] for row in rows] == [t["step"] for t in config["trials"]]
    saved = tmp_path / "responses.csv"
    saved.write_bytes(text.encode("utf-8"))
    result = CliRunner().invoke(main, ["fit", str(saved), "--out", str(tmp_path / "fits"), "--no-plot"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(open(tmp_path / "fits" / "discrimination.csv", newline="")))
    assert {(r["step_a"], r["step_b"]) for r in table} == {("0", "2"), ("1", "3")}
    assert all(float(r["percent_correct"]) == 100 for r in table)
