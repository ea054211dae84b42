"""What the commands share: the one error format, and the option groups of morph/continuum and
resynth/spectrogram."""
from __future__ import annotations

import functools
import sys

import click

from gaia_audio.errors import GaiaError


def one_line_errors(func):
    """Print a GaiaError (or a missing file / interrupted run) as one line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GaiaError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    return wrapper


def export_options(func):
    """Options shared by `morph` and `continuum`: the model, the series, and how files are written."""
    options = [
        click.option("--model", "-m", "model_path", required=True, type=click.Path(),
                     help="Run folder or model.safetensors of a trained model."),
        click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
                     help="Output folder (must not exist unless --overwrite)."),
        click.option("--steps", default=16, show_default=True, type=click.IntRange(2, None),
                     help="Sounds per continuum (per edge for grids and barycentric morphs)."),
        click.option("--alpha-range", nargs=2, type=float, default=(0.0, 1.0), show_default=True,
                     metavar="START STOP", help="First and last alpha; beyond 0..1 extrapolates."),
        click.option("--path", "path_kind", type=click.Choice(["lerp", "slerp"]), default="lerp",
                     show_default=True, help="Straight line or great circle between the codes."),
        click.option("--spacing", type=click.Choice(["uniform", "equal"]), default="uniform", show_default=True,
                     help="uniform in alpha, or equal distances between consecutive decoded steps."),
        click.option("--sr", type=click.IntRange(1, None), default=None,
                     help="Output sample rate [default: the model's]."),
        click.option("--subtype", type=click.Choice(["PCM_16", "PCM_24", "FLOAT"]), default="PCM_16",
                     show_default=True, help="Bit depth of the WAV files."),
        click.option("--loudness", type=click.Choice(["rms", "lufs", "none"]), default="rms", show_default=True,
                     help="Match every step's RMS level, or LUFS loudness (needs pyloudnorm)."),
        click.option("--level", type=float, default=None,
                     help="Target level: dBFS RMS [-20] or LUFS [-23]."),
        click.option("--ramp-ms", type=click.FloatRange(0, None), default=5.0, show_default=True,
                     help="Raised-cosine onset and offset ramps."),
        click.option("--silence-ms", nargs=2, type=click.FloatRange(0, None), default=(0.0, 0.0),
                     show_default=True, metavar="BEFORE AFTER", help="Silence before and after each sound."),
        click.option("--channel", type=int, default=None,
                     help="Use this channel (from 0) of multichannel inputs instead of mixing them down."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of torch's generator, recorded in provenance.json (the morph is deterministic)."),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output folder."),
        click.option("--no-plot", is_flag=True, help="Do not draw continuum.png."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def frontend_options(func):
    """Options shared by `resynth` and `spectrogram`: which front end, which channel."""
    func = click.option("--channel", type=int, default=None,
                        help="Use this channel (from 0) of a multichannel file instead of mixing down.")(func)
    func = click.option("--kind", type=click.Choice(["linear", "mel"]), default=None,
                        help="Front end kind [default: the preset's, linear].")(func)
    func = click.option("--preset", default="zebra_finch", show_default=True,
                        help="Front-end preset: zebra_finch, bengalese_finch, starling, speech_16k, mouse_usv.")(func)
    return func
