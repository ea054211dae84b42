"""Prepare CelebA from a local copy: a manifest of the aligned faces with their 40 attributes.

CelebA cannot be downloaded without accepting its licence, so this reads the copy you have:
a folder holding ``img_align_celeba/`` (000001.jpg ...) and ``list_attr_celeba.txt`` (the
official attribute list: a count line, a line of the 40 attribute names, then one line per
image of ±1 values). Optionally ``list_eval_partition.txt`` adds a ``partition`` column
(0 train, 1 validation, 2 test).

    python datasets/celeba/prepare.py --source ~/data/CelebA --out data/celeba
    python datasets/celeba/prepare.py --source ~/data/CelebA --out data/celeba_small --limit 5000

Writes ``<out>/manifest.csv`` (path relative to <out>, then the 40 attributes as -1/1) and, when
<out> is not the source folder, a link ``<out>/img_align_celeba`` to the images (nothing is
copied). Training crops, resizes and caches the images (gaia_audio/data/images.py). Re-running is
safe: the manifest is written to a temporary file and renamed into place.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as datasets/celeba/prepare.py from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from gaia_audio.data.examples import OneLineArgumentParser  # noqa: E402
from gaia_audio.errors import DataError, GaiaError  # noqa: E402
from gaia_audio.io.files import write_csv  # noqa: E402

IMAGES = "img_align_celeba"
ATTRIBUTES = "list_attr_celeba.txt"
PARTITION = "list_eval_partition.txt"


def read_attributes(path: Path) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """Parse ``list_attr_celeba.txt`` → (attribute names, [(file name, values ±1), ...])."""
    if not path.is_file():
        raise DataError(f"no {ATTRIBUTES} (the official CelebA attribute list) in the source folder", path)
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) < 2:
        raise DataError("attribute file is empty", path)
    names = lines[1] if lines[0][0].isdigit() and len(lines[0]) == 1 else lines[0]
    body = lines[2:] if names is lines[1] else lines[1:]
    out = []
    for k, parts in enumerate(body):
        if len(parts) != len(names) + 1:
            raise DataError(f"line {k + 3}: expected a file name and {len(names)} values, got {len(parts)} fields",
                            path)
        try:
            out.append((parts[0], [int(v) for v in parts[1:]]))
        except ValueError:
            raise DataError(f"line {k + 3}: attribute values must be -1 or 1", path) from None
    return names, out


def read_partition(path: Path) -> dict[str, str]:
    """``list_eval_partition.txt`` → file name → "0" | "1" | "2" (empty if absent)."""
    if not path.is_file():
        return {}
    return dict(line.split()[:2] for line in path.read_text(encoding="utf-8").splitlines() if len(line.split()) >= 2)


def prepare(out, source=None, limit: int | None = None) -> Path:
    """Write ``out/manifest.csv`` for the CelebA copy in ``source`` (default: ``out`` itself).

    Args:
        out: dataset folder to write.
        source: folder holding img_align_celeba/ and list_attr_celeba.txt.
        limit: keep only the first this many images (for quick runs).
    Returns:
        The manifest's path.
    """
    out = Path(out)
    source = Path(source) if source is not None else out
    images = source / IMAGES
    if not images.is_dir():
        raise DataError(f"no {IMAGES}/ folder: download CelebA (Align&Cropped images and attribute list) from "
                     "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and pass its folder as --source", source)
    names, items = read_attributes(source / ATTRIBUTES)
    partition = read_partition(source / PARTITION)
    items = [(f, v) for f, v in items if (images / f).is_file()]
    if not items:
        raise DataError(f"none of the images listed in {ATTRIBUTES} is in {IMAGES}/", source)
    if limit is not None:
        items = items[:limit]
    out.mkdir(parents=True, exist_ok=True)
    link = out / IMAGES
    if out.resolve() != source.resolve() and not link.exists():
        os.symlink(images.resolve(), link, target_is_directory=True)
    manifest = out / "manifest.csv"
    header = ["path", *names] + (["partition"] if partition else [])
    return write_csv(manifest, header, [[f"{IMAGES}/{file}", *values] + ([partition.get(file, "")] if partition else [])
                                        for file, values in items])


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = OneLineArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     epilog="example: python datasets/celeba/prepare.py --source ~/CelebA "
                                            "--out data/celeba")
    parser.add_argument("--source", required=True, type=Path,
                        help="folder with img_align_celeba/ and list_attr_celeba.txt")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--limit", type=int, default=None, help="keep only the first N images")
    args = parser.parse_args(argv)
    try:
        manifest = prepare(args.out, args.source, args.limit)
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    n = sum(1 for _ in open(manifest, encoding="utf-8")) - 1
    print(f"wrote {manifest} ({n} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
