"""Prepare a speech dataset from your own recordings: cut them into words/syllables, write a manifest.

Units come from an annotation next to each recording when there is one (a Praat TextGrid
``<stem>.TextGrid`` or an Audacity label export ``<stem>.txt``; their labels go to the
manifest), otherwise from energy-based detection tuned for speech (100 Hz high-pass, gaps of
50 ms or more separate units).

    python datasets/speech/prepare.py --source recordings/ --out data/speech
    python datasets/speech/prepare.py --source recordings/ --out data/speech --tier words

Writes ``<out>/units/*.wav`` and, last of all, ``<out>/manifest.csv`` (paths relative to <out>).
Re-running is safe: the old manifest is removed first, so an interrupted run leaves no manifest
that points to missing files. `gaia-audio prepare NAME` and training (for `data.prepare: NAME`)
call :func:`prepare`; `datasets/NAME/prepare.py` in a checkout is a link to this file.
"""
from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as datasets/speech/prepare.py from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from gaia_audio.data import segment  # noqa: E402
from gaia_audio.data.annotations import read_audacity_labels, read_textgrid  # noqa: E402
from gaia_audio.errors import ConfigError, DataError, GaiaError  # noqa: E402
from gaia_audio.io import audio  # noqa: E402
from gaia_audio.io import manifest as manifests  # noqa: E402

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
#: Energy segmentation for speech: words and syllables separated by pauses of >= 50 ms.
SEGMENTATION = dict(threshold_db=-30.0, min_duration=0.05, max_duration=1.0, min_silence=0.05, fmin=100.0, fmax=None)


def prepare(out, source, sr: int = 16000, tier: str | None = None, annotations: bool = True, **segment_kwargs) -> Path:
    """Build the dataset in ``out`` from the recordings under ``source``; return the manifest path.

    Args:
        out: dataset folder; gets units/ and manifest.csv.
        source: folder of recordings (wav/flac/ogg/mp3, searched recursively).
        sr: resample every recording to this rate in Hz.
        tier: TextGrid tier to read (None: the first interval tier).
        annotations: use TextGrid/Audacity files next to the recordings; False always detects by energy.
        **segment_kwargs: overrides of SEGMENTATION, passed to segment.detect_units.

    Returns:
        Path of the manifest.csv written.
    """
    out, source = Path(out), Path(source)
    unknown = set(segment_kwargs) - set(inspect.signature(segment.detect_units).parameters)
    if unknown or {"y", "sr"} & set(segment_kwargs):
        raise ConfigError(f"unknown segmentation option(s): {', '.join(sorted(unknown))}")
    params = {**SEGMENTATION, **segment_kwargs}
    recordings = segment.find_recordings(source, AUDIO_EXTENSIONS, exclude=out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    manifest.unlink(missing_ok=True)  # from here until the end, no manifest exists
    units_dir = out / "units"
    for stale in units_dir.glob("*.wav"):
        stale.unlink()
    rows: list[dict] = []
    for path in recordings:
        y, rate = audio.load(path, sr=sr)
        annotation = find_annotation(path) if annotations else None
        if annotation is None:
            units = segment.detect_units(y, rate, **params)
        elif annotation.suffix.lower() == ".textgrid":
            units = read_textgrid(annotation, tier=tier)
        else:
            units = read_audacity_labels(annotation)
        rows += segment.write_units(y, rate, units, units_dir, path.relative_to(source).as_posix(), root=out)
    if not rows:
        raise DataError(f"no units found in {len(recordings)} recording(s); try a lower --threshold-db", source)
    return manifests.write_manifest(rows, manifest)


def find_annotation(recording: Path) -> Path | None:
    """The TextGrid (preferred) or Audacity .txt label file with the recording's stem, if any."""
    for suffix in (".TextGrid", ".textgrid", ".TEXTGRID", ".txt", ".TXT"):
        candidate = recording.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: parse options, prepare, print a summary; user errors print one line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python datasets/speech/prepare.py --source recordings/ "
                                            "--out data/speech")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--source", required=True, type=Path, help="folder of speech recordings")
    parser.add_argument("--sr", type=int, default=16000, help="sample rate of the units in Hz (default 16000)")
    parser.add_argument("--tier", help="TextGrid tier to use (default: first interval tier)")
    parser.add_argument("--ignore-annotations", action="store_true",
                        help="detect units by energy even where annotations exist")
    for name, value in SEGMENTATION.items():
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=value,
                            help=f"segmentation: {name} (default {value})")
    args = vars(parser.parse_args(argv))
    try:
        manifest = prepare(args.pop("out"), args.pop("source"), sr=args.pop("sr"), tier=args.pop("tier"),
                           annotations=not args.pop("ignore_annotations"), **args)
        print(manifests.manifest_summary(manifest, count_labels=True))
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
