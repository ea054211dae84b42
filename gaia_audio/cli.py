"""The gaia-audio command line: a thin click group. Each command parses its options, loads a
recipe where it needs one, calls the library, and turns the project's errors into one line."""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from gaia_audio import __version__
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gaia-audio")
def main() -> None:
    """Learn the space of vocalizations with GAIA and synthesize morphs between them.

    \b
    Example:
      gaia-audio train recipes/zebra_finch.yaml
      gaia-audio morph a.wav b.wav --steps 16 --model runs/zebra_finch
    """


# ---- commands are added below, one per section ------------------------------------------------


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set train.steps=500 (repeatable).")
@click.option("--resume", type=click.Path(), default=None,
              help="Continue a run folder exactly from its last checkpoint.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Write the run here instead of RUNS_DIR/NAME.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@one_line_errors
def train(recipe, overrides, resume, run_dir, quiet):
    """Train GAIA (or a baseline) from a RECIPE.

    Prepares the recipe's example data if it is absent, writes checkpoints, metrics, sample
    grids and WAVs to the run folder, and exports model.safetensors + config.yaml there.
    Under torchrun it trains data-parallel, train.batch_size being the global batch.

    \b
    Example:
      gaia-audio train recipes/zebra_finch.yaml --set train.steps=500
      gaia-audio train --resume runs/zebra_finch --set train.steps=4000
      torchrun --standalone --nproc_per_node 4 -m gaia_audio train recipes/zebra_finch.yaml
    """
    from gaia_audio.config import load_config
    from gaia_audio.train import train as run_training

    if recipe is None and resume is None:
        raise click.UsageError("give a RECIPE, or --resume RUN")
    if recipe is None:  # resuming with the run's own merged recipe
        recipe = Path(resume) / "config.yaml" if Path(resume).is_dir() else Path(resume).parent.parent / "config.yaml"
    config = load_config(recipe, overrides)
    out = run_training(config, run_dir=run_dir, resume=resume, progress=not quiet)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 wrote it
        click.echo(f"model written to {out / 'model.safetensors'}")


# ---- morph and continuum (gaia_audio.morph, gaia_audio.continuum) ----------------------------


def _export_options(func):
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


def _run_export(kind: str, make_results, opts: dict, inputs: list[str]) -> None:
    """Load the model, build the continua with ``make_results(vm)``, print their notes, export them.

    continuum.png is drawn by a worker process started before torch is imported here, so that
    matplotlib's import runs beside torch's (plots.Worker); the callers import nothing heavy first.
    """
    import contextlib

    from gaia_audio.plots import Worker

    with contextlib.nullcontext() if opts["no_plot"] else Worker() as worker:
        _export_with(kind, make_results, opts, inputs, worker)


def _export_with(kind: str, make_results, opts: dict, inputs: list[str], worker) -> None:
    """``_run_export``'s work, drawing continuum.png with ``worker`` (None: no figure)."""
    import torch

    from gaia_audio import continuum
    from gaia_audio.api import load_model
    from gaia_audio.config import to_dict

    continuum.check_output(opts["out_dir"], opts["overwrite"])
    torch.manual_seed(opts["seed"])
    vm = load_model(opts["model_path"], device=opts["device"])
    results = make_results(vm)
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    settings = continuum.ExportSettings(sr=opts["sr"], subtype=opts["subtype"], loudness=opts["loudness"],
                                        level=opts["level"], ramp_ms=opts["ramp_ms"],
                                        silence_before_ms=opts["silence_ms"][0], silence_after_ms=opts["silence_ms"][1])
    provenance = {
        "kind": kind, "command": _full_command(), "argv": sys.argv, "seed": opts["seed"],
        "model": {"path": str(vm.path), "sha256": vm.checksum(), "kind": vm.kind, "extra": vm.extra},
        "recipe": to_dict(vm.config),
        "morph": {"steps": opts["steps"], "alpha_range": list(opts["alpha_range"]), "path": opts["path_kind"],
                  "spacing": opts["spacing"]},
        "inputs": [{"path": str(p), "sha256": continuum.file_sha256(p)} for p in inputs],
        "notes": notes,
    }
    out = continuum.export(results, opts["out_dir"], settings, provenance, opts["overwrite"], worker is not None,
                           on_note=lambda note: click.echo(f"note: {note}", err=True), worker=worker)
    n_files = sum(len(r.waveforms) for r in results)
    click.echo(f"{n_files} sounds written to {out} (manifest.csv, provenance.json"
               f"{'' if opts['no_plot'] else ', continuum.png'})")


def _full_command() -> str:
    """The running command with every option spelled out, defaults included (re-runnable as is)."""
    import shlex

    ctx = click.get_current_context()
    words = ["gaia-audio", ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words += [str(v) for v in (value if isinstance(value, (tuple, list)) else [value]) if v is not None]
        elif param.is_flag:
            words += [param.opts[0]] if value else []
        elif value is not None and value != ():
            words += [param.opts[0], *(str(v) for v in (value if isinstance(value, (tuple, list)) else [value]))]
    return shlex.join(words)


def _load_endpoint(vm, path, channel):
    """Read one input file and bring it to the model (mono, the model's rate, loud enough)."""
    from gaia_audio import audio
    from gaia_audio.morph import make_endpoint

    y, sr = audio.load(path, mono=False)
    return make_endpoint(vm, y, sr, Path(path).stem, channel)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_export_options
@click.option("--attribute", default=None, metavar="NAME",
              help="Move one INPUT along attribute NAME (from 'gaia-audio attributes') instead of morphing.")
@click.option("--extent", nargs=2, type=float, default=(-3.0, 3.0), show_default=True, metavar="LO HI",
              help="With --attribute: first and last multiple of the attribute vector (standard deviations).")
@one_line_errors
def morph(inputs, **opts):
    """Morph between sounds: two INPUTS give a continuum, three or more a barycentric morph.

    Encodes each input, interpolates the codes, decodes and inverts every step (the endpoints
    too, so all steps share the same processing), matches their loudness and writes
    OUT/step_00.wav … with manifest.csv (a PsychoPy conditions file), provenance.json and
    continuum.png. Inputs longer than a tile are aligned in time by DTW and morphed window by
    window. Inputs at another sample rate are resampled, stereo ones mixed down (a note says so).

    \b
    Example:
      gaia-audio morph a.wav b.wav --steps 16 --model runs/zebra_finch --out morph_ab
      gaia-audio morph a.wav b.wav --alpha-range -0.25 1.25 --spacing equal -m runs/zf -o ab
    """
    if opts["attribute"] is not None:  # one sound along a fitted attribute direction (analysis.py)
        from gaia_audio.analysis import attribute_maker

        if len(inputs) != 1:
            raise click.UsageError("--attribute moves one INPUT; give exactly one")
        _run_export("attribute", attribute_maker(inputs[0], opts, _load_endpoint), opts, list(inputs))
        return
    if len(inputs) < 2:
        raise click.UsageError("give two INPUTS for a continuum, or three or more for a barycentric morph")

    def make(vm):
        from gaia_audio.morph import morph_barycentric, morph_pair  # torch: imported after _run_export's start

        ends = [_load_endpoint(vm, p, opts["channel"]) for p in inputs]
        if len(ends) == 2:
            return [morph_pair(vm, ends[0], ends[1], opts["steps"], opts["alpha_range"], opts["path_kind"], opts["spacing"])]
        return [morph_barycentric(vm, ends, opts["steps"])]

    _run_export("pair" if len(inputs) == 2 else "barycentric", make, opts, list(inputs))


@main.command()
@click.argument("pairs", required=False, type=click.Path(dir_okay=False))
@click.option("--grid", nargs=4, type=click.Path(dir_okay=False), default=None, metavar="A B C D",
              help="A 2-D bilinear grid between four corners (A, B on top; C, D below).")
@_export_options
@one_line_errors
def continuum(pairs, grid, **opts):
    """Many continua in one run: one per row of PAIRS (a CSV with columns a, b and optionally
    name; paths relative to the CSV), or a --grid between four sounds.

    Each continuum goes into its own subfolder of OUT; one manifest.csv lists every file.

    \b
    Example:
      gaia-audio continuum pairs.csv --steps 16 --model runs/zebra_finch --out continua
      gaia-audio continuum --grid a.wav b.wav c.wav d.wav --steps 5 -m runs/zebra_finch -o grid
    """
    if (pairs is None) == (grid is None):
        raise click.UsageError("give either a PAIRS csv or --grid A B C D")
    if grid is not None:
        inputs = list(grid)

        def make(vm):
            from gaia_audio.morph import morph_grid

            return [morph_grid(vm, [_load_endpoint(vm, p, opts["channel"]) for p in grid], opts["steps"])]
    else:
        from gaia_audio.continuum import read_pairs

        table = read_pairs(pairs)
        inputs = list(dict.fromkeys(p for row in table for p in (row["a"], row["b"])))

        def make(vm):
            from gaia_audio.morph import morph_pair

            ends = {p: _load_endpoint(vm, p, opts["channel"]) for p in inputs}
            return [morph_pair(vm, ends[row["a"]], ends[row["b"]], opts["steps"], opts["alpha_range"],
                               opts["path_kind"], opts["spacing"], row["name"]) for row in table]

    _run_export("grid" if grid else "pairs", make, opts, inputs)


# ---- resynth / spectrogram: hear and see what a front end keeps ---------------------------------


def _frontend_input(input_path: str, preset: str, kind: str | None, channel: int | None):
    """(front end, y at its rate) for the resynth and spectrogram commands."""
    from gaia_audio import audio
    from gaia_audio.frontends import make_frontend

    frontend = make_frontend(preset, kind=kind)
    y, _ = audio.load(input_path, sr=frontend.sr, channel=channel)
    return frontend, y


def _frontend_options(func):
    """Options shared by `resynth` and `spectrogram`: which front end, which channel."""
    func = click.option("--channel", type=int, default=None,
                        help="Use this channel (from 0) of a multichannel file instead of mixing down.")(func)
    func = click.option("--kind", type=click.Choice(["linear", "mel"]), default=None,
                        help="Front end kind [default: the preset's, linear].")(func)
    func = click.option("--preset", default="zebra_finch", show_default=True,
                        help="Front-end preset: zebra_finch, bengalese_finch, starling, speech_16k, mouse_usv.")(func)
    return func


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@_frontend_options
@click.option("--method", type=click.Choice(["pghi+fgla", "pghi", "fgla"]), default=None,
              help="Phase reconstruction [default: the recipes' default, pghi+fgla].")
@click.option("--n-iter", type=click.IntRange(0, None), default=None,
              help="Fast Griffin-Lim iterations [default: the recipes' default].")
@click.option("--subtype", type=click.Choice(["PCM_16", "PCM_24", "FLOAT"]), default="PCM_16", show_default=True,
              help="Bit depth of OUT.")
@one_line_errors
def resynth(input_path, output_path, preset, kind, channel, method, n_iter, subtype):
    """Pass IN through a front end and back, to hear what the representation keeps.

    IN is resampled to the preset's rate, turned into its band-limited dB spectrogram, and
    inverted (phase reconstruction, then undoing the pre-emphasis) into OUT at that rate. Prints
    the spectral convergence of OUT's spectrogram against IN's, within the band (lower is better;
    below about -25 dB the phase is rarely audible). OUT is rescaled only if it would clip.

    \b
    Example:
      gaia-audio resynth song.wav song_resynth.wav --preset zebra_finch
      gaia-audio resynth call.wav call_mel.wav --preset speech_16k --kind mel --method fgla
    """
    import numpy as np
    import torch

    from gaia_audio import audio
    from gaia_audio.config import InversionConfig
    from gaia_audio.inversion import spectral_convergence_db

    defaults = InversionConfig()
    frontend, y = _frontend_input(input_path, preset, kind, channel)
    with torch.no_grad():
        S = frontend(torch.from_numpy(y))  # (1, n_freq, T)
        y_hat = frontend.invert(S, length=len(y), method=method or defaults.method,
                                n_iter=defaults.n_iter if n_iter is None else n_iter, momentum=defaults.momentum)
        band = slice(frontend.bin_lo, frontend.bin_hi)
        sc = spectral_convergence_db(frontend.to_magnitude(S)[:, band], frontend.magnitude(y_hat)[:, band])
    y_hat = y_hat[0].cpu().numpy().astype(np.float32)
    peak = float(np.abs(y_hat).max())
    note = ""
    if subtype != "FLOAT" and peak > 1.0:
        y_hat /= peak / 0.999
        note = f"; rescaled by {-20 * np.log10(peak / 0.999):.1f} dB to avoid clipping"
    audio.save(output_path, y_hat, frontend.sr, subtype=subtype)
    click.echo(f"wrote {output_path} ({len(y_hat) / frontend.sr:.2f} s at {frontend.sr} Hz{note}); spectral "
               f"convergence {sc:.1f} dB against the input's spectrogram "
               f"({frontend.fmin / 1000:g}-{frontend.fmax / 1000:g} kHz)")


@main.command()
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@_frontend_options
@click.option("--title", default=None, help="Title above the plot [default: IN's file name and the preset].")
@one_line_errors
def spectrogram(input_path, output_path, preset, kind, channel, title):
    """Draw IN's front-end spectrogram to OUT (.png, .pdf or .svg).

    This is exactly what the model sees before tiling: the preset's band, dB floor and
    pre-emphasis, with time in seconds and frequency in kHz.

    \b
    Example:
      gaia-audio spectrogram song.wav song.png --preset zebra_finch
    """
    import torch

    from gaia_audio import plots

    frontend, y = _frontend_input(input_path, preset, kind, channel)
    with torch.no_grad():
        S = frontend(torch.from_numpy(y))[0]  # (n_freq, T)
    title = title if title is not None else f"{Path(input_path).name} ({preset}, {frontend.kind})"
    plots.plot_spectrogram(S, frontend, output_path, title=title)
    click.echo(f"wrote {output_path} ({S.shape[0]} bins x {S.shape[1]} frames)")


# Benchmarks, evaluation and latent analysis live in their own module; importing it adds
# its commands to this group.
from gaia_audio import cli_analysis  # noqa: E402,F401
