"""The built wheel works outside the checkout: built-in recipes, example-data preparation, train,
morph and bench from an empty folder, in a fresh virtual environment that holds the wheel.

The fresh environment borrows the test environment's third-party packages (torch and the rest)
through a ``.pth`` line instead of downloading them again; gaia_audio itself comes only from the
wheel (the test checks where it is imported from). The zebra finch songs come from a package
index on 127.0.0.1 (conftest's ``local_index``), as ``pip download`` would fetch them.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import make_synthetic_song

pytestmark = pytest.mark.slow  # end to end: make test runs it, make test-fast does not

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--set", "train.batch_size=4", "--set", "model.width=4", "--set", "model.n_res=1", "--set", "model.style_dim=8",
        "--set", "model.mlp_dim=8", "--set", "model.latent_dim=8", "--set", "inversion.n_iter=2",
        "--set", "train.sample_every=0"]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with the project's wheel installed (not editable); its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(work / "dist"), str(ROOT)], check=True, capture_output=True, text=True)
    wheel = next((work / "dist").glob("gaia_audio-*.whl"))
    venv.EnvBuilder(with_pip=True).create(work / "env")
    python = work / "env" / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True, text=True)
    return work / "env" / "bin"


def run(bin_dir: Path, cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_wheel_runs_every_stage_from_an_empty_folder(wheel_env, tmp_path, local_index):
    url, _, requests = local_index
    here = tmp_path / "elsewhere"
    here.mkdir()
    where = run(wheel_env, here, "python", "-c", "import gaia_audio; print(gaia_audio.__file__)").stdout
    assert str(wheel_env.parent) in where and str(ROOT) not in where  # the wheel's copy, not the checkout

    # a built-in recipe by name; its example data fetched (through pip) into ./data
    run(wheel_env, here, "gaia-audio", "train", "zebra_finch", "--quiet", "--set", "train.steps=4", *TINY,
        env={"PIP_INDEX_URL": url})
    assert "/files/vocalpy-0.10.3-py3-none-any.whl" in requests
    assert (here / "data" / "zebra_finch" / "manifest.csv").is_file()
    assert (here / "runs" / "zebra_finch" / "model.safetensors").is_file()

    # the other example preparations ship too
    y, sr, _ = make_synthetic_song(seed=5)
    (here / "rec").mkdir()
    import soundfile

    soundfile.write(here / "rec" / "talk.wav", y, sr)
    done = run(wheel_env, here, "gaia-audio", "prepare", "speech", "--source", "rec", "--out", "data/speech")
    assert "from 1 recording(s)" in done.stdout and (here / "data" / "speech" / "manifest.csv").is_file()

    units = sorted((here / "data" / "zebra_finch" / "units").glob("*.wav"))
    run(wheel_env, here, "gaia-audio", "morph", str(units[0]), str(units[1]), "--model", "runs/zebra_finch",
        "--out", "continuum", "--steps", "3", "--no-plot")
    assert sorted(p.name for p in (here / "continuum").iterdir()) == [
        "index.html", "manifest.csv", "originals", "provenance.json", "step_00.wav", "step_01.wav", "step_02.wav"]

    done = run(wheel_env, here, "gaia-audio", "bench", "lines", "--steps", "4", "--kinds", "ae", "--pairs", "4",
               "--quiet", "--set", "model.width=4", "--set", "model.n_res=1", "--set", "train.batch_size=4")
    assert "| AE | 4 |" in done.stdout and (here / "runs" / "bench_lines" / "results.md").is_file()
    assert sorted(p.name for p in here.iterdir()) == ["continuum", "data", "rec", "runs"]  # nothing elsewhere


def test_the_wheel_is_small_and_its_models_morph_as_the_brief_says_from_an_empty_folder(wheel_env, tmp_path):
    wheel = next(wheel_env.parent.parent.glob("dist/gaia_audio-*.whl"))
    assert wheel.stat().st_size <= 50 * 2 ** 20, f"the wheel is {wheel.stat().st_size / 2 ** 20:.1f} MB"
    here = tmp_path / "empty"
    here.mkdir()
    examples = {}
    for name in ("birdsong", "speech"):
        code = f"from gaia_audio import pretrained; print(pretrained.model_dir('{name}'))"
        folder = Path(run(wheel_env, here, "python", "-c", code).stdout.strip())
        assert str(wheel_env.parent) in str(folder)  # the weights come from the installed wheel
        examples[name] = sorted((folder / "examples").glob("*.wav"))
    # exactly the brief's command: the default (birdsong) model, default tuning and spacing, a new folder
    a, b = examples["birdsong"]
    done = run(wheel_env, here, "gaia-audio", "morph", str(a), str(b), "--steps", "16")
    assert f"16 sounds written to {a.stem}_to_{b.stem} " in done.stdout
    assert len(list((here / f"{a.stem}_to_{b.stem}").glob("step_*.wav"))) == 16
    a, b = examples["speech"]
    done = run(wheel_env, here, "gaia-audio", "morph", str(a), str(b), "--steps", "16", "--model", "speech")
    assert len(list((here / f"{a.stem}_to_{b.stem}").glob("step_*.wav"))) == 16
