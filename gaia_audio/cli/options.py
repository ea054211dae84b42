"""What the commands share: the one error format, and the option groups of morph/continuum and
resynth/spectrogram."""
from __future__ import annotations

import functools
import math
import re
import sys

import click

from gaia_audio.bounds import (
    MAX_ALPHA,
    MAX_RAMP_MS,
    MAX_REPEATS,
    MAX_SEED,
    MAX_SILENCE_MS,
    MAX_SR,
    MAX_STEPS,
    MIN_LEVEL_DB,
)
from gaia_audio.errors import GaiaError, one_line
from gaia_audio.io import signals


def one_line_errors(func):
    """Print a GaiaError, or an OSError (a read-only folder, a full disk), as one line
    ``error: PATH: problem`` and exit 1; an interrupted run exits 128 + the signal (130 Ctrl-C, 143 SIGTERM)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with signals.handled():  # SIGTERM/SIGHUP clean up as Ctrl-C does (exit 143/129)
                return func(*args, **kwargs)
        except BrokenPipeError:  # stdout closed by the reader (| head): click says nothing, exits 1
            raise
        except (GaiaError, OSError) as err:
            click.echo(f"error: {one_line(err)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt as err:
            click.echo(f"error: {signals.describe(err)}", err=True)
            sys.exit(signals.exit_code(err))

    return wrapper


class FiniteRange(click.FloatRange):
    """click's FloatRange that also refuses NaN (which compares false with both bounds, so passes them)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


#: a seed any of numpy's and torch's generators takes
SEED = click.IntRange(0, MAX_SEED)

_DEVICE = re.compile(r"^(cpu|mps|cuda(:(?P<index>\d+))?)$")


def check_device(ctx: click.Context | None, param: click.Parameter | None, value: str) -> str:
    """A click callback: ``value`` names a device this machine has (cpu, mps, cuda or cuda:N).

    torch is imported only for a device other than the CPU, so a plain run starts as fast as before.
    """
    match = _DEVICE.match(value or "")
    if match is None:
        raise click.BadParameter(f"{value!r} is not a device (use cpu, cuda, cuda:N or mps)", ctx, param)
    if value == "cpu":
        return value
    import torch

    if value == "mps":
        if not torch.backends.mps.is_available():
            raise click.BadParameter("'mps': this machine has no Apple GPU (use cpu)", ctx, param)
        return value
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(match.group("index") or 0)
    if index >= count:
        why = "this torch is built without CUDA" if torch.version.cuda is None else f"{count} CUDA device(s) here"
        raise click.BadParameter(f"{value!r}: no such device ({why}; use cpu"
                                 f"{'' if count == 0 else ' or cuda:0..' + str(count - 1)})", ctx, param)
    return value


def export_options(func):
    """Options shared by `morph` and `continuum`: the model, the series, and how files are written."""
    options = [
        click.option("--model", "-m", "model_path", default=None, type=click.Path(),
                     help="A shipped model's name (birdsong, speech), or the run folder or model.safetensors "
                          "of one you trained [default: birdsong]."),
        click.option("--out", "-o", "out_dir", default=None, type=click.Path(file_okay=False),
                     help="Output folder (must not exist unless --overwrite) [default: a new folder here named "
                          "after the inputs, e.g. a_to_b, a_to_b-2, ...]."),
        click.option("--steps", default=16, show_default=True, type=click.IntRange(2, MAX_STEPS),
                     help="Sounds per continuum (per edge for grids and barycentric morphs)."),
        click.option("--alpha-range", nargs=2, type=FiniteRange(-MAX_ALPHA, MAX_ALPHA), default=(0.0, 1.0),
                     show_default=True, metavar="START STOP",
                     help=f"First and last alpha; beyond 0..1 extrapolates (up to ±{MAX_ALPHA:g})."),
        click.option("--path", "path_kind", type=click.Choice(["lerp", "slerp"]), default="lerp",
                     show_default=True, help="Straight line or great circle between the codes."),
        click.option("--spacing", type=click.Choice(["equal", "uniform"]), default="equal", show_default=True,
                     help="equal perceptual distances between consecutive steps (mel log-spectral distance in "
                          "dB of the decoded waveforms, level and time normalised: the manifest's "
                          "distance_prev), or uniform in alpha."),
        click.option("--tune-steps", type=click.IntRange(0, 10_000), default=None, metavar="N",
                     help="Steps of per-pair tuning of a copy of the decoder, so the ends of a continuum are "
                          "the recordings [default: 80]; 0: none. The model file is never changed."),
        click.option("--detail/--no-detail", default=True, show_default=True,
                     help="After tuning, add back what the tuned decoder still misses of each end (its "
                          "residual on the recording's own time grid), fading linearly to the other end: "
                          "the ends' spectrograms are then the recordings'. Not used without tuning."),
        click.option("--sr", type=click.IntRange(1, MAX_SR), default=None,
                     help="Output sample rate; it must hold the model's band [default: the model's]."),
        click.option("--subtype", type=click.Choice(["PCM_16", "PCM_24", "FLOAT"]), default="PCM_16",
                     show_default=True, help="Bit depth of the WAV files."),
        click.option("--loudness", type=click.Choice(["rms", "lufs", "none"]), default="rms", show_default=True,
                     help="Match every step's RMS level, or LUFS loudness (needs pyloudnorm)."),
        click.option("--level", type=FiniteRange(MIN_LEVEL_DB, 0), default=None,
                     help="Target level: dBFS RMS [-20] or LUFS [-23]."),
        click.option("--ramp-ms", type=FiniteRange(0, MAX_RAMP_MS), default=5.0, show_default=True,
                     help="Raised-cosine onset and offset ramps."),
        click.option("--silence-ms", nargs=2, type=FiniteRange(0, MAX_SILENCE_MS), default=(0.0, 0.0),
                     show_default=True, metavar="BEFORE AFTER", help="Silence before and after each sound."),
        click.option("--channel", type=int, default=None,
                     help="Use this channel (from 0) of multichannel inputs instead of mixing them down "
                          "(mono inputs are used as they are; a channel that no input has is an error)."),
        click.option("--seed", type=SEED, default=0, show_default=True,
                     help="Seed of torch's generator, recorded in provenance.json (the morph is deterministic)."),
        click.option("--device", default="cpu", show_default=True, callback=check_device,
                     help="cpu, cuda, cuda:N or mps: one this machine has."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output folder."),
        click.option("--no-plot", is_flag=True, help="Do not draw continuum.png."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def design_options(func):
    """What `trials` and `experiment` share: the continuum folder, the design, its blocks and their seed."""
    options = [
        click.argument("continuum_dir", type=click.Path(file_okay=False)),
        click.option("--design", required=True, type=click.Choice(["identification", "ax", "abx"]),
                     help="identification (one sound per trial), ax (same/different) or abx (does X match A or B)."),
        click.option("--repeats", default=1, show_default=True, type=click.IntRange(1, MAX_REPEATS),
                     help="Blocks per continuum; each block is one full, shuffled repetition of the design."),
        click.option("--seed", default=0, show_default=True, type=SEED,
                     help="Seed of the shuffles: the same seed writes byte-identical files."),
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
