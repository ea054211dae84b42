"""Prepare a zebra finch dataset: fetch (or read) songs, cut them into syllables, write a manifest.

By default it downloads the four real example songs of Sound Analysis Pro that the vocalpy
0.10.3 wheel ships (bells, flashcam, samba, simple; 44.1 kHz), with ``pip download``; with
``--source DIR`` it reads your own recordings (wav/flac/ogg, searched recursively) instead.

    python datasets/zebra_finch/prepare.py --out data/zebra_finch
    python datasets/zebra_finch/prepare.py --out data/my_birds --source recordings/ --threshold-db -30

Writes ``<out>/units/*.wav`` and, last of all, ``<out>/manifest.csv`` (paths relative to <out>).
Re-running is safe: the old manifest is removed first, so an interrupted run leaves no manifest
that points to missing files. `gaia-audio prepare NAME` and training (for `data.prepare: NAME`)
call :func:`prepare`; `datasets/NAME/prepare.py` in a checkout is a link to this file.
"""
from __future__ import annotations

import argparse
import inspect
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

if __package__ in (None, ""):  # run as datasets/zebra_finch/prepare.py from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from gaia_audio.data import segment  # noqa: E402
from gaia_audio.errors import ConfigError, DataError, GaiaError  # noqa: E402
from gaia_audio.io import audio  # noqa: E402
from gaia_audio.io import manifest as manifests  # noqa: E402

WHEEL = "vocalpy==0.10.3"
SONGS = ("bells.wav", "flashcam.wav", "samba.wav", "simple.wav")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
#: Segmentation tuned on the four SAP songs: 37 syllables of 44-291 ms.
SEGMENTATION = dict(threshold_db=-25.0, min_duration=0.03, max_duration=0.3, min_silence=0.01, fmin=500.0, fmax=None)


def prepare(out, source=None, sr: int | None = None, index_url: str | None = None, **segment_kwargs) -> Path:
    """Build the dataset in ``out`` and return the path of its manifest.csv.

    Args:
        out: dataset folder; gets raw/ (downloaded songs), units/ and manifest.csv.
        source: folder of your own recordings; None downloads the SAP example songs.
        sr: resample every recording to this rate; None keeps the first recording's rate.
        index_url: PyPI-compatible index for ``pip download`` (None: pip's own setting).
        **segment_kwargs: overrides of SEGMENTATION, passed to segment.detect_units.

    Returns:
        Path of the manifest.csv written.
    """
    out = Path(out)
    unknown = set(segment_kwargs) - set(inspect.signature(segment.detect_units).parameters)
    if unknown or {"y", "sr"} & set(segment_kwargs):
        raise ConfigError(f"unknown segmentation option(s): {', '.join(sorted(unknown))}")
    params = {**SEGMENTATION, **segment_kwargs}
    out.mkdir(parents=True, exist_ok=True)
    if source is None:
        base = out / "raw"
        recordings = fetch_example_songs(base, index_url=index_url)
    else:
        base = Path(source)
        recordings = segment.find_recordings(base, AUDIO_EXTENSIONS, exclude=out)
    manifest = out / "manifest.csv"
    manifest.unlink(missing_ok=True)  # from here until the end, no manifest exists
    units_dir = out / "units"
    for stale in units_dir.glob("*.wav"):
        stale.unlink()
    rows: list[dict] = []
    for path in recordings:
        y, rate = audio.load(path, sr=sr)
        sr = sr or rate  # every unit of the dataset shares the first recording's rate
        units = segment.detect_units(y, rate, **params)
        rows += segment.write_units(y, rate, units, units_dir, path.relative_to(base).as_posix(), root=out)
    if not rows:
        raise DataError(f"no vocal units found in {len(recordings)} recording(s); try a lower --threshold-db", base)
    return manifests.write_manifest(rows, manifest)


def fetch_example_songs(raw_dir: Path, index_url: str | None = None) -> list[Path]:
    """Download the vocalpy 0.10.3 wheel with pip and unzip its four zebra finch songs into raw_dir.

    Songs already in raw_dir are reused. Nothing is installed; the wheel is deleted afterwards.

    Returns:
        Paths of the four songs.
    """
    paths = [raw_dir / name for name in SONGS]
    if all(p.is_file() and p.stat().st_size > 0 for p in paths):
        return paths
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=raw_dir.parent))
    try:
        cmd = [sys.executable, "-m", "pip", "download",
               "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-q", "-d", str(tmp), WHEEL] + (["--index-url", index_url] if index_url else [])
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(tmp.glob("vocalpy-0.10.3-*.whl"))
        if done.returncode != 0 or not wheels:
            why = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise DataError(f"could not download {WHEEL} with pip ({why}); use --source DIR for your own recordings",
                            raw_dir)
        try:
            with zipfile.ZipFile(wheels[0]) as zf:
                for path in paths:
                    part = tmp / path.name
                    part.write_bytes(zf.read(f"vocalpy/examples/{path.name}"))
                    part.replace(path)  # same file system: atomic
        except (KeyError, zipfile.BadZipFile) as err:
            raise DataError(f"the downloaded {WHEEL} wheel lacks the example songs ({err})", wheels[0]) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: parse options, prepare, print a summary; user errors print one line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python datasets/zebra_finch/prepare.py --out data/zebra_finch")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--source", type=Path,
                        help="folder of your own recordings (default: download the SAP example songs)")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate of the units in Hz (default 44100)")
    parser.add_argument("--index-url", help="package index for pip download (default: pip's setting)")
    for name, value in SEGMENTATION.items():
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=value,
                            help=f"segmentation: {name} (default {value})")
    args = vars(parser.parse_args(argv))
    try:
        manifest = prepare(args.pop("out"), source=args.pop("source"), sr=args.pop("sr"),
                           index_url=args.pop("index_url"), **args)
        print(manifests.manifest_summary(manifest))
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
