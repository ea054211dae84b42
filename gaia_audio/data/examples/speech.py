"""Prepare a speech dataset from your own recordings: cut them into words/syllables, write a manifest.

Units come from an annotation next to each recording when there is one, read with crowsetta
(:mod:`gaia_audio.data.annotations`; their labels go to the manifest), otherwise from energy-based
detection with the settings of ``--preset`` (default speech_16k: 100 Hz high-pass, gaps of 50 ms
or more separate units), which ``--threshold-db`` etc. override. The annotation of ``rec.wav`` is,
by default, the first of ``rec.TextGrid`` (Praat), ``rec.wav.not.mat`` (evsonganaly),
``rec.Table.1.selections.txt`` (Raven), ``rec.txt`` (Audacity), ``rec.csv`` (simple-seq: onset_s,
offset_s, label) and ``rec.phn``/``rec.wrd`` (TIMIT) that exists; ``--annot-format`` names one
crowsetta format and the files it looks for (:data:`ANNOTATION_FILES`).

    python datasets/speech/prepare.py --source recordings/ --out data/speech
    python datasets/speech/prepare.py --source recordings/ --out data/speech --tier words
    python datasets/speech/prepare.py --source recordings/ --out data/speech --annot-format raven --tier Label

Writes ``<out>/units/*.wav`` and, last of all, ``<out>/manifest.csv`` (paths relative to <out>).
Re-running is safe: the old manifest is removed first, so an interrupted run leaves no manifest
that points to missing files. `gaia-audio prepare NAME` and training (for `data.prepare: NAME`)
call :func:`prepare`; `datasets/NAME/prepare.py` in a checkout is a link to this file.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as datasets/speech/prepare.py from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from gaia_audio.data import segment  # noqa: E402
from gaia_audio.data.annotations import annotation_format, read_annotations  # noqa: E402
from gaia_audio.data.examples import OneLineArgumentParser  # noqa: E402
from gaia_audio.data.examples.zebra_finch import add_segmentation_options  # noqa: E402
from gaia_audio.errors import ConfigError, DataError, GaiaError  # noqa: E402
from gaia_audio.io import audio  # noqa: E402
from gaia_audio.io import manifest as manifests  # noqa: E402
from gaia_audio.io.checks import check_files  # noqa: E402
from gaia_audio.render import figures  # noqa: E402
from gaia_audio.spectral.presets import PRESETS  # noqa: E402

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
PRESET = "speech_16k"  # energy segmentation for speech: words and syllables apart by pauses of >= 50 ms
#: Annotation files of recording <folder>/<stem><ext> (name = stem + ext) that each crowsetta format looks
#: for, in order; the extension is also tried in lower and upper case. generic-seq, yarden and
#: birdsong-recognition-dataset files may hold several recordings: the recording's own is read.
ANNOTATION_FILES = {
    "textgrid": ("{stem}.TextGrid",), "notmat": ("{name}.not.mat",),
    "raven": ("{stem}.Table.1.selections.txt", "{stem}.txt"), "aud-seq": ("{stem}.txt",), "aud-bbox": ("{stem}.txt",),
    "simple-seq": ("{stem}.csv", "{stem}.txt"), "generic-seq": ("{stem}.csv",),
    "timit": ("{stem}.phn", "{stem}.wrd"), "yarden": ("{stem}.mat",),
    "birdsong-recognition-dataset": ("Annotation.xml", "../Annotation.xml"),  # Bird0/Annotation.xml, Bird0/Wave/0.wav
}
#: the files looked for without --annot-format (each read in the format its name implies)
DEFAULT_ANNOTATION_FILES = ("{stem}.TextGrid", "{name}.not.mat", "{stem}.Table.1.selections.txt", "{stem}.txt",
                            "{stem}.csv", "{stem}.phn", "{stem}.wrd")


def prepare(out, source, sr: int = 16000, tier: str | None = None, annotations: bool = True,
            annot_format: str | None = None, preset: str = PRESET, plot=None, plot_first: int = 8,
            **segment_kwargs) -> Path:
    """Build the dataset in ``out`` from the recordings under ``source``; return the manifest path.

    Args:
        out: dataset folder; gets units/ and manifest.csv.
        source: folder of recordings (wav/flac/ogg/mp3, searched recursively).
        sr: resample every recording to this rate in Hz.
        tier: TextGrid tier (None: the first interval tier) or Raven label column (None: "Annotation").
        annotations: use the annotation files next to the recordings; False always detects by energy.
        annot_format: crowsetta format of the annotations (None: each file's name tells).
        preset: front-end preset whose segmentation settings (segment.SEGMENTATION_PRESETS) and band are used.
        plot: image file (.png, .pdf, .svg) to draw the energy cut of the first ``plot_first``
            recordings cut by energy in; None: none.
        plot_first: how many recordings the plot shows.
        **segment_kwargs: overrides of the preset's settings (None keeps one), passed to segment.detect_units.

    Returns:
        Path of the manifest.csv written.
    """
    out, source = Path(out), Path(source)
    params = segment.segmentation_params(preset, **segment_kwargs)
    if annot_format is not None:
        annot_format = annotation_format(source, annot_format)  # an unknown name fails before any work
    if plot is not None and Path(plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"cannot draw the cut as '{Path(plot).suffix or plot}' (use .png, .pdf or .svg)")
    recordings = segment.find_recordings(source, AUDIO_EXTENSIONS, exclude=out / "units")  # the units written
    band = PRESETS[preset]  # the front end the units are for: speech_16k's band up to 8 kHz needs sr >= 16 kHz
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
        name = path.relative_to(source).as_posix()
        annotation = find_annotation(path, annot_format) if annotations else None
        if annotation is None:
            record = segment.detect_units_record(y, rate, **params)
            units = record.units
            if plot is not None and len(cuts) < plot_first:
                cuts.append((name, record))
        else:
            units = read_annotations(annotation, annot_format, tier=tier, notated_path=path)
        rows += segment.write_units(y, rate, units, units_dir, name, root=out)
    if not rows:
        raise DataError(f"no units found in {len(recordings)} recording(s); try a lower --threshold-db", source)
    manifests.write_split(rows, out)  # the shipped models' train / held-out split (rows i % 3 == 2 held out)
    written = manifests.write_manifest(rows, manifest)
    if cuts:
        figures.plot_segmentation(cuts, plot, title=f"segmentation, preset {preset}")
    return written


def find_annotation(recording: Path, annot_format: str | None = None) -> Path | None:
    """The first annotation file of ``recording`` that exists (:data:`ANNOTATION_FILES` of
    ``annot_format``, or :data:`DEFAULT_ANNOTATION_FILES`), or None."""
    patterns = DEFAULT_ANNOTATION_FILES if annot_format is None else ANNOTATION_FILES[annot_format]
    for pattern in patterns:
        candidate = recording.parent / pattern.format(stem=recording.stem, name=recording.name)
        ext = "".join(candidate.suffixes[-1:])
        for option in (candidate, candidate.with_suffix(ext.lower()), candidate.with_suffix(ext.upper())):
            if option.is_file():
                return option
    return None


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry: parse options, prepare, print a summary; user errors print one line."""
    parser = OneLineArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     epilog="example: python datasets/speech/prepare.py --source recordings/ "
                                            "--out data/speech")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--source", required=True, type=Path, help="folder of speech recordings")
    parser.add_argument("--sr", type=int, default=16000, help="sample rate of the units in Hz (default 16000)")
    parser.add_argument("--tier", help="TextGrid tier (default: first interval tier) or Raven label column "
                                       "(default: Annotation)")
    parser.add_argument("--annot-format", metavar="FORMAT",
                        help="crowsetta format of the annotations beside the recordings: " + ", ".join(ANNOTATION_FILES)
                        + " (default: each file's name tells)")
    parser.add_argument("--ignore-annotations", action="store_true",
                        help="detect units by energy even where annotations exist")
    add_segmentation_options(parser, PRESET)
    args = vars(parser.parse_args(argv))
    try:
        manifest = prepare(args.pop("out"), args.pop("source"), sr=args.pop("sr"), tier=args.pop("tier"),
                           annotations=not args.pop("ignore_annotations"), **args)
        print(manifests.manifest_summary(manifest, count_labels=True))
        if args["plot"] is not None:
            print(f"cut drawn in {args['plot']}" if args["plot"].is_file() else "no recording was cut by energy: "
                  "nothing drawn")
    except GaiaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
