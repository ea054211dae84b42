"""Prepare a zebra finch dataset: fetch (or read) songs, cut them into syllables, write a manifest.

By default it downloads the four real example songs of Sound Analysis Pro that the vocalpy
0.10.3 wheel ships (bells, flashcam, samba, simple; 44.1 kHz), with ``pip download``; with
``--source DIR`` it reads your own recordings (wav/flac/ogg, searched recursively) instead.

    python datasets/zebra_finch/prepare.py --out data/zebra_finch
    python datasets/zebra_finch/prepare.py --out data/my_birds --source recordings/ --threshold-db -30
    python datasets/zebra_finch/prepare.py --out data/bf --source bf/ --preset bengalese_finch --plot cut.png

Units are found by energy (:func:`gaia_audio.data.segment.detect_units`) with the settings of
``--preset`` (:data:`gaia_audio.data.segment.SEGMENTATION_PRESETS`, one per front-end preset;
default zebra_finch), each of which ``--threshold-db`` etc. overrides. ``--plot FILE.png`` draws
the cut of the first recordings: band energy, threshold, kept units and dropped pieces with why.

Writes ``<out>/units/*.wav`` and, last of all, ``<out>/manifest.csv`` (paths relative to <out>).
Re-running is safe: the old manifest is removed first, so an interrupted run leaves no manifest
that points to missing files. `gaia-audio prepare NAME` and training (for `data.prepare: NAME`)
call :func:`prepare`; `datasets/NAME/prepare.py` in a checkout is a link to this file.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

if __package__ in (None, ""):  # run as datasets/zebra_finch/prepare.py from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from gaia_audio.data import segment  # noqa: E402
from gaia_audio.data.examples import OneLineArgumentParser  # noqa: E402
from gaia_audio.errors import ConfigError, DataError, GaiaError  # noqa: E402
from gaia_audio.io import audio  # noqa: E402
from gaia_audio.io import manifest as manifests  # noqa: E402
from gaia_audio.io.checks import check_files  # noqa: E402
from gaia_audio.io.files import atomic_write  # noqa: E402
from gaia_audio.render import figures  # noqa: E402
from gaia_audio.spectral.presets import PRESETS  # noqa: E402

WHEEL = "vocalpy==0.10.3"
SONGS = ("bells.wav", "flashcam.wav", "samba.wav", "simple.wav")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
PRESET = "zebra_finch"  # segmentation tuned on the four SAP songs: 37 syllables of 44-291 ms
#: the settings --threshold-db etc. override (their names are detect_units' keyword arguments)
SEGMENTATION_OPTIONS = ("threshold_db", "min_duration", "max_duration", "min_silence", "fmin", "fmax")


def prepare(out, source=None, sr: int | None = None, index_url: str | None = None, preset: str = PRESET,
            plot=None, plot_first: int = 8, **segment_kwargs) -> Path:
    """Build the dataset in ``out`` and return the path of its manifest.csv.

    Args:
        out: dataset folder; gets raw/ (downloaded songs), units/ and manifest.csv.
        source: folder of your own recordings; None downloads the SAP example songs.
        sr: resample every recording to this rate; None keeps the first recording's rate.
        index_url: PyPI-compatible index for ``pip download`` (None: pip's own setting).
        preset: front-end preset whose segmentation settings (segment.SEGMENTATION_PRESETS) and band are used.
        plot: image file (.png, .pdf, .svg) to draw the cut of the first ``plot_first`` recordings in; None: none.
        plot_first: how many recordings the plot shows.
        **segment_kwargs: overrides of the preset's settings (None keeps one), passed to segment.detect_units.

    Returns:
        Path of the manifest.csv written.
    """
    out = Path(out)
    params = segment.segmentation_params(preset, **segment_kwargs)
    if plot is not None and Path(plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"cannot draw the cut as '{Path(plot).suffix or plot}' (use .png, .pdf or .svg)")
    if source is None:
        base = out / "raw"
        recordings = fetch_example_songs(base, index_url=index_url)
    else:
        base = Path(source)
        recordings = segment.find_recordings(base, AUDIO_EXTENSIONS, exclude=out)
    band = PRESETS[preset]  # the front end the units are for: zebra finch's 500 Hz-8 kHz needs sr >= 16 kHz
    check_files(recordings, band["sr"], band["win_length"], band["fmax"])  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    manifest.unlink(missing_ok=True)  # from here until the end, no manifest exists
    for split in ("manifest_train.csv", "manifest_heldout.csv"):
        (out / split).unlink(missing_ok=True)
    if plot is not None:
        Path(plot).unlink(missing_ok=True)  # nor a drawing of an earlier run
    units_dir = out / "units"
    for stale in units_dir.glob("*.wav"):
        stale.unlink()
    rows: list[dict] = []
    cuts = []  # (name, segment.SegmentationRecord) of the recordings drawn
    for path in recordings:
        y, rate = audio.load(path, sr=sr)
        sr = sr or rate  # every unit of the dataset shares the first recording's rate
        record = segment.detect_units_record(y, rate, **params)
        name = path.relative_to(base).as_posix()
        rows += segment.write_units(y, rate, record.units, units_dir, name, root=out)
        if plot is not None and len(cuts) < plot_first:
            cuts.append((name, record))
    if not rows:
        raise DataError(f"no vocal units found in {len(recordings)} recording(s); try a lower --threshold-db", base)
    manifests.write_split(rows, out)  # the shipped models' train / held-out split (rows i % 3 == 2 held out)
    written = manifests.write_manifest(rows, manifest)
    if cuts:
        figures.plot_segmentation(cuts, plot, title=f"segmentation, preset {preset}")
    return written


def fetch_example_songs(raw_dir: Path, index_url: str | None = None, songs: tuple[str, ...] = SONGS) -> list[Path]:
    """Download the vocalpy 0.10.3 wheel with pip and unzip example recordings into raw_dir.

    Songs already in raw_dir are reused. Nothing is installed; the wheel is deleted afterwards.

    Args:
        raw_dir: where the recordings go.
        index_url: PyPI-compatible index for ``pip download`` (None: pip's own setting).
        songs: file names in the wheel's ``vocalpy/examples/``: the four SAP zebra finch songs by
            default; the benchmarks also take ``bl26lb16.wav`` (a Bengalese finch, never trained on).
    Returns:
        Paths of the recordings.
    """
    paths = [raw_dir / name for name in songs]
    if all(p.is_file() and p.stat().st_size > 0 for p in paths):
        return paths
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = raw_dir.parent / f".download-{os.getpid()}"  # not tempfile.mkdtemp: its 0700 ignores the umask
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
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
                    with atomic_write(path, error=DataError) as part:
                        part.write_bytes(zf.read(f"vocalpy/examples/{path.name}"))
        except (KeyError, zipfile.BadZipFile) as err:
            raise DataError(f"the downloaded {WHEEL} wheel lacks the example songs ({err})", wheels[0]) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry: parse options, prepare, print a summary; user errors print one line."""
    parser = OneLineArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     epilog="example: python datasets/zebra_finch/prepare.py --out data/zebra_finch")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--source", type=Path,
                        help="folder of your own recordings (default: download the SAP example songs)")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate of the units in Hz (default 44100)")
    parser.add_argument("--index-url", help="package index for pip download (default: pip's setting)")
    add_segmentation_options(parser, PRESET)
    args = vars(parser.parse_args(argv))
    try:
        manifest = prepare(args.pop("out"), source=args.pop("source"), sr=args.pop("sr"),
                           index_url=args.pop("index_url"), **args)
        print(manifests.manifest_summary(manifest))
        if args["plot"] is not None and args["plot"].is_file():
            print(f"cut drawn in {args['plot']}")
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def add_segmentation_options(parser: argparse.ArgumentParser, preset: str) -> None:
    """--preset, one option per setting it holds (default: the preset's), --plot and --plot-first."""
    parser.add_argument("--preset", default=preset, choices=sorted(segment.SEGMENTATION_PRESETS),
                        help=f"front end whose segmentation settings and band to use (default {preset})")
    for name in SEGMENTATION_OPTIONS:
        default = segment.SEGMENTATION_PRESETS[preset][name]
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None,
                            help=f"segmentation: {name} (default: the preset's; {preset}: {default}"
                                 f"{'; 0 for none' if name in ('fmin', 'fmax') else ''})")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="draw the cut (energy, threshold, units, dropped pieces and why) of the first recordings")
    parser.add_argument("--plot-first", type=int, default=8, metavar="N",
                        help="how many recordings --plot draws (default 8)")


if __name__ == "__main__":
    sys.exit(main())
