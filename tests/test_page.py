"""The listening pages: a continuum's index.html and a training run's, checked as files and in a real
headless Chromium (every player loads its sound with the right duration, every picture loads, no
console errors). .ci/run installs Debian's chromium and chromium-driver; without them the browser
tests skip with the reason."""
from __future__ import annotations

import csv
import html.parser
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner
from tiny_model import synthetic_unit, train_tiny_model, write_tiny_dataset, write_wav

from gaia_audio.cli.main import main

pytestmark = pytest.mark.slow  # end to end: make test runs it, make test-fast does not

CHROMEDRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class _Assets(html.parser.HTMLParser):
    """Every src and href of a page."""

    def __init__(self):
        super().__init__()
        self.sources, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("audio", "img") and "src" in attrs:
            self.sources.append((tag, attrs["src"]))
        if tag == "a":
            self.links.append(attrs.get("href", ""))


def assets(page: Path) -> _Assets:
    parser = _Assets()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def continua(tmp_path_factory):
    """A tiny model's 4-step continuum, and a two-pair continuum folder."""
    root = tmp_path_factory.mktemp("pages")
    run = train_tiny_model(root)
    a = write_wav(root / "a.wav", synthetic_unit(0, 0), 44100)
    b = write_wav(root / "b.wav", synthetic_unit(1, 1), 44100)
    result = CliRunner().invoke(main, ["morph", str(a), str(b), "-m", str(run), "-o", str(root / "one"),
                                       "--steps", "4", "--silence-ms", "10", "20"])
    assert result.exit_code == 0, result.output
    (root / "pairs.csv").write_text("a,b,name\na.wav,b.wav,ab\nb.wav,a.wav,ba\n")
    result = CliRunner().invoke(main, ["continuum", str(root / "pairs.csv"), "-m", str(run), "-o", str(root / "many"),
                                       "--steps", "3", "--no-plot"])
    assert result.exit_code == 0, result.output
    return root


def _manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_a_continuum_page_plays_every_step_and_both_originals_from_inside_the_folder(continua):
    folder = continua / "one"
    found = assets(folder / "index.html")
    sounds = [src for tag, src in found.sources if tag == "audio"]
    assert sounds == ["originals/a.wav"] + [r["file"] for r in _manifest(folder)] + ["originals/b.wav"]
    assert ("img", "continuum.png") in found.sources
    for _, src in found.sources:  # relative, inside the folder, present: nothing from the network
        assert "://" not in src and not src.startswith("/") and ".." not in src and (folder / src).is_file()
    assert "manifest.csv" in found.links and "provenance.json" in found.links
    original = sf.info(folder / "originals" / "a.wav")
    assert original.samplerate == 22050 and original.channels == 1  # as the model heard it


def test_many_continua_get_a_page_each_and_an_index_linking_them(continua):
    folder = continua / "many"
    assert assets(folder / "index.html").links[-2:] == ["ab/index.html", "ba/index.html"]
    for name in ("ab", "ba"):
        found = assets(folder / name / "index.html")
        sounds = [src for tag, src in found.sources if tag == "audio"]
        rows = [r["file"] for r in _manifest(folder) if r["pair"] == name]
        assert sounds[1:-1] == [f[len(name) + 1:] for f in rows] and len(sounds) == len(rows) + 2
        assert all((folder / name / src).is_file() for src in sounds) and "../index.html" in found.links


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from gaia_audio.config import load_config
    from gaia_audio.training.loop import train

    root = tmp_path_factory.mktemp("run")
    data = write_tiny_dataset(root / "data")
    config = load_config("zebra_finch", [
        f"data.root={data}", "data.prepare=null", "train.steps=4", "train.batch_size=4", "model.width=4",
        "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8", "model.latent_dim=8", "train.sample_every=2",
        "train.checkpoint_every=2", "train.log_every=1", "inversion.n_iter=2", f"runs_dir={root}"])
    return train(config, run_dir=root / "run", progress=False)


def test_a_run_page_shows_losses_the_latest_preview_and_the_evaluation(run_folder):
    found = assets(run_folder / "index.html")
    page = (run_folder / "index.html").read_text()
    assert page.count('<svg class="curve"') >= 8 and "<polyline" in page  # GAIA's terms, one panel each
    assert ("img", "samples/step_0000004.png") in found.sources
    assert ("audio", "samples/step_0000004.wav") in found.sources
    assert "samples/step_0000002.png" in found.links and "model.safetensors" in found.links
    assert all((run_folder / src).is_file() for _, src in found.sources)
    assert "gaia-audio evaluate RUN" in (run_folder / "index.html").read_text()
    result = CliRunner().invoke(main, ["evaluate", str(run_folder), "--critic-steps", "2", "--pairs", "4",
                                       "--grid", str(run_folder / "evaluation_grid.png")])
    assert result.exit_code == 0, result.output
    assert "critic_auc_midpoints" in (run_folder / "index.html").read_text()
    assert ("img", "evaluation_grid.png") in assets(run_folder / "index.html").sources


# ---------------------------------------------------------------- in a real browser

LOAD = """
const done = arguments[arguments.length - 1];
const audios = Array.from(document.querySelectorAll('audio'));
const images = Array.from(document.querySelectorAll('img'));
const loaded = el => new Promise(resolve => {
  if (el.tagName === 'IMG' ? el.complete : el.readyState >= 1) return resolve();
  el.addEventListener(el.tagName === 'IMG' ? 'load' : 'loadedmetadata', resolve);
  el.addEventListener('error', resolve);
});
Promise.all([...audios, ...images].map(loaded)).then(() => done({
  audio: audios.map(a => [a.getAttribute('src'), a.duration, a.error ? a.error.code : null]),
  images: images.map(i => [i.getAttribute('src'), i.naturalWidth]),
}));
"""


@pytest.fixture(scope="module")
def browser():
    if not (CHROMEDRIVER and BROWSER):
        pytest.skip("no chromium and chromium-driver on this machine (.ci/run installs them with apt-get)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.binary_location = BROWSER
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _open(browser, page: Path) -> dict:
    browser.get(page.resolve().as_uri())
    result = browser.execute_async_script(LOAD)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert all(width > 0 for _, width in result["images"]), result["images"]
    return result


def test_the_continuum_page_loads_every_sound_with_its_duration_in_chromium(browser, continua):
    folder = continua / "one"
    result = _open(browser, folder / "index.html")
    durations = {src: duration for src, duration, error in result["audio"] if error is None}
    assert len(durations) == len(result["audio"]) == 6  # 4 steps and 2 originals, all playable
    for row in _manifest(folder):  # the file's own length, silence padding included
        assert durations[row["file"]] == pytest.approx(float(row["file_duration_s"]), abs=2e-3)
    for name in ("a", "b"):
        expected = sf.info(folder / "originals" / f"{name}.wav").duration
        assert durations[f"originals/{name}.wav"] == pytest.approx(expected, abs=2e-3)
    result = _open(browser, continua / "many" / "index.html")
    assert result["audio"] == []
    for name in ("ab", "ba"):
        result = _open(browser, continua / "many" / name / "index.html")
        assert len(result["audio"]) == 5 and all(error is None and duration > 0
                                                 for _, duration, error in result["audio"])


def test_the_run_page_loads_in_chromium(browser, run_folder):
    result = _open(browser, run_folder / "index.html")
    assert [src for src, _, error in result["audio"] if error is None] == ["samples/step_0000004.wav"]
    assert "samples/step_0000004.png" in {src for src, _ in result["images"]}
