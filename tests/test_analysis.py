"""Latent analysis: UMAP embedding, nearest neighbours, least-squares attribute vectors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gaia_audio.analysis import attributes, embed
from gaia_audio.errors import DataError, ModelError
from gaia_audio.morph.model import load_attribute

sys.path.insert(0, str(Path(__file__).resolve().parent))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_umap_separates_two_clusters_and_is_deterministic():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 0.1, (20, 8)), rng.normal(5, 0.1, (20, 8))])
    xy = embed.umap_embedding(codes, n_neighbors=5, seed=0)
    assert xy.shape == (40, 2) and np.isfinite(xy).all()
    gap = np.linalg.norm(xy[:20].mean(0) - xy[20:].mean(0))
    spread = max(xy[:20].std(0).max(), xy[20:].std(0).max())
    assert gap > 3 * spread
    np.testing.assert_allclose(xy, embed.umap_embedding(codes, n_neighbors=5, seed=0))
    with pytest.raises(DataError):
        embed.umap_embedding(codes[:3])


def test_nearest_neighbours():
    xy = np.array([[0, 0], [0.1, 0], [5, 5], [5, 5.2]])
    assert embed.nearest_neighbours(xy).tolist() == [1, 0, 3, 2]


def test_numeric_attribute_recovers_a_planted_direction():
    rng = np.random.default_rng(1)
    y = rng.normal(0, 2, 200)
    direction = rng.normal(size=16)
    codes = rng.normal(0, 0.05, (200, 16)) + y[:, None] * direction[None] + 3.0
    found = attributes.fit_attribute_vectors(codes, {"age": [f"{v:.6f}" for v in y]})
    info = found["age"]
    assert info["kind"] == "numeric" and info["n"] == 200 and info["r2"] > 0.99
    np.testing.assert_allclose(np.array(info["vector"]) / info["std"], direction, atol=0.01)


def test_categorical_attribute_and_missing_values():
    rng = np.random.default_rng(2)
    sex = np.array(["f", "m"] * 30)
    shift = np.zeros(8)
    shift[3] = 4.0
    codes = rng.normal(0, 0.1, (60, 8)) + (sex == "m")[:, None] * shift
    values = list(sex)
    values[0] = ""  # unlabelled item: left out of that attribute's fit
    found = attributes.fit_attribute_vectors(codes, {"sex": values, "const": ["1"] * 60})
    assert set(found) == {"sex=f", "sex=m"}  # a constant label gives nothing to fit
    m = np.array(found["sex=m"]["vector"]) / found["sex=m"]["std"]
    assert abs(m[3] - 4.0) < 0.2 and np.abs(np.delete(m, 3)).max() < 0.2
    assert found["sex=m"]["n"] == 59 and found["sex=m"]["kind"] == "categorical"
    with pytest.raises(DataError):
        attributes.fit_attribute_vectors(codes, {"const": ["1"] * 60})
    with pytest.raises(DataError):
        attributes.fit_attribute_vectors(codes, {"short": ["1", "2"]})


def test_read_labels_errors(tmp_path):
    with pytest.raises(DataError):
        attributes.read_labels(tmp_path / "none.csv")
    (tmp_path / "a.csv").write_text("name,x\nu1,1\n")
    with pytest.raises(DataError, match="path"):
        attributes.read_labels(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("path\nu1\n")
    with pytest.raises(DataError, match="no label columns"):
        attributes.read_labels(tmp_path / "b.csv")


def test_load_attribute_errors(tmp_path):
    path = tmp_path / "attributes.json"
    with pytest.raises(ModelError):
        load_attribute(path, "x", 4)
    path.write_text(json.dumps({"code_dim": 4, "attributes": {"x": {"vector": [0, 1, 0, 0]}}}))
    assert load_attribute(path, "x", 4).tolist() == [0, 1, 0, 0]
    with pytest.raises(ModelError, match="no attribute 'y'"):
        load_attribute(path, "y", 4)
    with pytest.raises(ModelError, match="dimensions"):
        load_attribute(path, "x", 5)
    path.write_text("[1, 2]")
    with pytest.raises(ModelError):
        load_attribute(path, "x", 4)
