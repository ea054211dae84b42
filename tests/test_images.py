"""Image datasets: crop/resize/cache, bad inputs, and the CelebA prepare script + recipe end to end."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gaia_audio.data.images import build_image_cache, load_image
from gaia_audio.errors import DataError

REPO = Path(__file__).resolve().parent.parent
NAMES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
         "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
         "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
         "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
         "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
         "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"]


def prepare_module():
    spec = importlib.util.spec_from_file_location("celeba_prepare", REPO / "datasets" / "celeba" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_celeba(folder: Path, n: int = 12) -> Path:
    """A CelebA-shaped folder: n small portrait JPEGs (brightness follows 'Smiling') and the attribute list."""
    rng = np.random.default_rng(0)
    (folder / "img_align_celeba").mkdir(parents=True)
    lines = [str(n), " ".join(NAMES)]
    for i in range(n):
        smiling = 1 if i % 2 else -1
        pixels = rng.integers(0, 60, (22, 18, 3)) + (150 if smiling > 0 else 0)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / "img_align_celeba" / f"{i + 1:06d}.jpg")
        values = [int(v) for v in rng.choice([-1, 1], size=40)]
        values[NAMES.index("Smiling")] = smiling
        lines.append(f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in values))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_load_image_centre_crops_and_resizes(tmp_path):
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:, 10:20] = 255  # only the centre square is white
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    img = load_image(tmp_path / "wide.png", 8)
    assert img.shape == (3, 8, 8) and img.dtype == np.float32
    np.testing.assert_allclose(img, 1.0, atol=0.02)
    Image.fromarray(np.full((6, 6), 128, np.uint8)).save(tmp_path / "grey.png")  # grey → RGB
    np.testing.assert_allclose(load_image(tmp_path / "grey.png", 4), 128 / 255, atol=1e-3)
    with pytest.raises(DataError):
        load_image(tmp_path / "missing.png", 8)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="not a readable image"):
        load_image(tmp_path / "bad.png", 8)


def test_cache_built_once_keyed_on_size_and_manifest(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((12, 16, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "manifest.csv").write_text("path,kind\n0.png,a\n1.png,b\n2.png,a\n")
    ts = build_image_cache(tmp_path, 8, progress=False)
    assert ts.tiles.shape == (3, 3, 8, 8) and ts.tiles.dtype == np.float16 and ts.rows[1]["kind"] == "b"
    np.testing.assert_allclose(np.asarray(ts.tiles[2], np.float32), 80 / 255, atol=2e-3)
    (tmp_path / "0.png").unlink()  # a reused cache does not read the images again
    again = build_image_cache(tmp_path, 8, progress=False)
    assert np.array_equal(np.asarray(again.tiles), np.asarray(ts.tiles))
    with pytest.raises(DataError, match="does not exist"):  # another size: a new cache, which needs the images
        build_image_cache(tmp_path, 4, progress=False)
    assert len(list((tmp_path / "cache").glob("images-*.npy"))) == 1
    assert not list((tmp_path / "cache").glob(".*"))  # no partial cache left behind


@pytest.mark.parametrize("manifest,match", [(None, "no manifest"), ("name\nx.png\n", "'path' column"),
                                            ("path\n", "no images")])
def test_bad_manifests(tmp_path, manifest, match):
    if manifest is not None:
        (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(DataError, match=match):
        build_image_cache(tmp_path, 8, progress=False)
    with pytest.raises(DataError):
        build_image_cache(tmp_path, 2, progress=False)


def test_celeba_prepare_reads_a_local_copy(tmp_path):
    prepare = prepare_module()
    source = fake_celeba(tmp_path / "CelebA", n=6)
    manifest = prepare.prepare(tmp_path / "data", source, limit=5)
    lines = manifest.read_text().splitlines()
    assert lines[0].split(",") == ["path", *NAMES] and len(lines) == 6
    assert lines[1].startswith("img_align_celeba/000001.jpg,")
    assert (tmp_path / "data" / "img_align_celeba" / "000001.jpg").is_file()  # linked, not copied
    with pytest.raises(DataError, match="img_align_celeba"):
        prepare.prepare(tmp_path / "x", tmp_path / "nowhere")
    (source / "list_attr_celeba.txt").write_text("1\n" + " ".join(NAMES) + "\n000001.jpg 1 2\n")
    with pytest.raises(DataError, match="expected a file name and 40 values"):
        prepare.prepare(tmp_path / "y", source)
    assert prepare.main(["--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "z")]) == 1


def test_celeba_recipe_trains_and_fits_attributes(tmp_path):
    from gaia_audio.analysis.attributes import attributes_run
    from gaia_audio.config import load_config
    from gaia_audio.training.loop import train

    prepare_module().prepare(tmp_path / "data", fake_celeba(tmp_path / "CelebA", n=12))
    config = load_config(REPO / "recipes" / "celeba.yaml", [
        f"data.root={tmp_path / 'data'}", "data.image_size=16", "train.steps=2", "train.batch_size=4",
        "model.width=4", "model.n_res=1", "model.style_dim=8", "model.mlp_dim=8", "model.latent_dim=8",
        "train.sample_every=2", "train.threads=1", f"runs_dir={tmp_path / 'runs'}"])
    threads = torch.get_num_threads()
    try:
        run = train(config, run_dir=tmp_path / "runs" / "celeba", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert (run / "model.safetensors").is_file() and list((run / "samples").glob("*.png"))
    from gaia_audio.analysis.evaluate import paper_grid

    assert paper_grid(run, tmp_path / "grid.png", n_show=4, n_pairs=2).is_file()
    path = attributes_run(run, columns=["Smiling", "Male"])
    found = json.loads(path.read_text())["attributes"]
    assert set(found) == {"Smiling", "Male"} and found["Smiling"]["n"] == 12
    with pytest.raises(DataError, match="--column"):
        attributes_run(run)
