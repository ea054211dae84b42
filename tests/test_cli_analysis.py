"""End-to-end CLI runs of embed, attributes, morph --attribute and evaluate on a tiny trained model."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gaia_audio.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_model import synthetic_unit, train_tiny_model, write_wav  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield train_tiny_model(tmp_path_factory.mktemp("analysis"), "gaia")
    torch.set_num_threads(threads)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_embed_writes_plot_csv_and_neighbour_strips(run, tmp_path):
    out = tmp_path / "emb" / "embed.png"
    result = invoke("embed", run, "--out", out, "--label", "source", "--neighbors", 3)
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / "emb" / "embed_neighbors.png").is_file()
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert len(rows) == 12 and set(rows[0]) == {"path", "source", "umap_x", "umap_y"}
    assert {r["source"] for r in rows} == {"song0.wav", "song1.wav", "song2.wav"}


def test_attributes_then_morph_along_one(run, tmp_path):
    manifest = list(csv.DictReader(open(run.parent.parent / "data" / "manifest.csv")))
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "duration_ms", "song"])
        for row in manifest:
            w.writerow([row["path"], float(row["duration"]) * 1000, row["source"]])
    result = invoke("attributes", run, labels)
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "attributes.json").read_text())
    assert {"duration_ms", "song=song0.wav", "song=song1.wav", "song=song2.wav"} == set(saved["attributes"])
    assert "duration_ms: numeric, 12 items" in result.output

    wav = write_wav(tmp_path / "a.wav", synthetic_unit(7, 1, 22050), 22050)
    out = tmp_path / "older"
    result = invoke("morph", wav, "--attribute", "duration_ms", "--extent", -2, 2, "--steps", 5, "-m", run,
                    "-o", out, "--no-plot")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(rows) == 5 and [float(r["alpha"]) for r in rows] == [-2, -1, 0, 1, 2]
    assert len(list(out.glob("step_*.wav"))) == 5
    assert rows[2]["fidelity_db"] not in ("", None)  # e = 0 is the input's own reconstruction

    bad = invoke("morph", wav, "--attribute", "nope", "-m", run, "-o", tmp_path / "x", "--no-plot")
    assert bad.exit_code == 1 and "no attribute 'nope'" in bad.output and not (tmp_path / "x").exists()
    two = invoke("morph", wav, wav, "--attribute", "duration_ms", "-m", run, "-o", tmp_path / "y")
    assert two.exit_code == 1 and "exactly one" in two.output


def test_attributes_errors(run, tmp_path):
    (tmp_path / "l.csv").write_text("path,x\nnot/in/manifest.wav,1\n")
    result = invoke("attributes", run, tmp_path / "l.csv")
    assert result.exit_code == 1 and "no path in the labels file" in result.output
    result = invoke("attributes", run, "--column", "nope")
    assert result.exit_code == 1 and "no label column 'nope'" in result.output


def test_evaluate_cli(run, tmp_path):
    result = invoke("evaluate", run, "--out", tmp_path / "ev", "--pairs", 8, "--critic-steps", 5,
                    "--grid", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").is_file()
    assert "critic AUC real vs midpoints" in result.output
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["model"] == "gaia"
    missing = invoke("evaluate", tmp_path / "nothing")
    assert missing.exit_code == 1 and missing.output.startswith("error:")
