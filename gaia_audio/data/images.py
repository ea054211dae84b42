"""Image datasets (CelebA and any folder of pictures): a manifest of image files turned into a
cached array of square RGB tiles in [0, 1].

Each image is centre-cropped to a square (its shorter side), resized to ``image_size`` with a
Lanczos filter and stored as (3, image_size, image_size). The cache is one float16 ``.npy``
(memory-mapped when read) plus a JSON index of the manifest rows, built in one pass, written to
temporary files and renamed into place; its name carries a hash of the settings and the
manifest, so a change builds a new cache instead of reading a stale one.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gaia_audio.data.cache import TileSet
from gaia_audio.errors import DataError
from gaia_audio.io.files import atomic_write, write_text

CACHE_VERSION = 1  #: bump when the image processing changes


def load_image(path: str | os.PathLike, image_size: int) -> np.ndarray:
    """One image, centre-cropped to a square, resized and scaled to [0, 1].

    Args:
        path: any image file Pillow reads (JPEG, PNG, ...); grey or RGBA become RGB.
        image_size: side of the output.
    Returns:
        (3, image_size, image_size) float32 in [0, 1].
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side)).resize((image_size, image_size), Image.LANCZOS)
            return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0
    except FileNotFoundError:
        raise DataError("image file listed in the manifest does not exist", path) from None
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"not a readable image ({str(err).splitlines()[0][:100]})", path) from None


def read_image_manifest(path: Path) -> list[dict]:
    """Rows of an image manifest CSV (a ``path`` column relative to its folder, plus labels)."""
    if not path.is_file():
        raise DataError("no manifest in the data folder (run the dataset's prepare.py)", path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise DataError("image manifest needs a 'path' column", path)
        rows = [dict(row) for row in reader]
    if not rows:
        raise DataError("manifest lists no images", path)
    return rows


def _cache_key(image_size: int, manifest_path: Path) -> str:
    h = hashlib.sha256(json.dumps({"kind": "images", "image_size": image_size, "version": CACHE_VERSION}).encode())
    h.update(manifest_path.read_bytes())
    return h.hexdigest()[:16]


def build_image_cache(root: str | os.PathLike, image_size: int = 64, manifest: str = "manifest.csv",
                      cache_dir: str | os.PathLike | None = None, progress: bool = True, write: bool = True) -> TileSet:
    """Crop, resize and cache every image of ``root/manifest``, reusing a matching cache.

    Args:
        root: dataset folder holding the manifest; image paths are relative to it.
        image_size: side of the square tiles (64 or 128 for CelebA).
        manifest: manifest file name, relative to ``root``.
        cache_dir: where the cache lives (default ``root/cache``).
        progress: show a progress bar while building.
        write: build a missing cache on disk; False loads the images into memory, writing nothing.
    Returns:
        TileSet with tiles (N, 3, image_size, image_size) float16 in [0, 1] (memory-mapped),
        n_frames_orig zeros, and the manifest rows (attribute columns included).
    """
    root = Path(root)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 4:
        raise DataError(f"data.image_size must be an integer >= 4, got {image_size!r}")
    if not root.is_dir():
        raise DataError("data folder does not exist (run the dataset's prepare.py, or set data.root)", root)
    manifest_path = root / manifest
    rows = read_image_manifest(manifest_path)
    cache_dir = Path(cache_dir) if cache_dir else root / "cache"
    key = _cache_key(image_size, manifest_path)
    tiles_path, index_path = cache_dir / f"images-{key}.npy", cache_dir / f"images-{key}.json"
    if tiles_path.is_file() and index_path.is_file():
        index = json.loads(index_path.read_text())
        return TileSet(np.load(tiles_path, mmap_mode="r"), np.zeros(len(index["rows"]), np.int64), index["rows"])

    shape = (len(rows), 3, image_size, image_size)
    images = (load_image(root / row["path"], image_size).astype(np.float16)
              for row in tqdm(rows, desc="caching images", unit="image", disable=not progress))
    if not write:
        return TileSet(np.stack(list(images)) if rows else np.zeros(shape, np.float16), np.zeros(len(rows), np.int64),
                       rows)
    with atomic_write(tiles_path, suffix=".tmp.npy", error=DataError) as tmp_tiles:
        out = np.lib.format.open_memmap(tmp_tiles, mode="w+", dtype=np.float16, shape=shape)
        for i, image in enumerate(images):
            out[i] = image
        out.flush()
        del out
    write_text(index_path, json.dumps({"rows": rows}))
    return TileSet(np.load(tiles_path, mmap_mode="r"), np.zeros(len(rows), np.int64), rows)
