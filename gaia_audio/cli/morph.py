"""``gaia-audio morph`` and ``gaia-audio continuum``: write continua between sounds for experiments.

Each command parses its options into a :class:`~gaia_audio.stimuli.continua.MorphRequest` and
calls :func:`~gaia_audio.stimuli.continua.write_continua`, which does the work (a Python caller
gets the same folder). Nothing heavy is imported here: the library starts its drawing worker
before torch is imported (``benchmarks/morph_latency.py``).
"""
from __future__ import annotations

import click

from gaia_audio.bounds import MAX_EXTENT
from gaia_audio.cli.options import FiniteRange, export_options, one_line_errors


def _write(request, opts: dict) -> None:
    """Write ``request``'s continua with the export options, printing notes and where they went."""
    from gaia_audio.errors import AudioError, BandError
    from gaia_audio.pretrained import DEFAULT_MODEL, names
    from gaia_audio.stimuli.continua import write_continua
    from gaia_audio.stimuli.export import ExportSettings

    opts["model_path"] = opts["model_path"] or DEFAULT_MODEL
    opts["out_dir"] = opts["out_dir"] or str(request.default_out())  # a new folder, never an existing one
    click.get_current_context().params.update(model_path=opts["model_path"], out_dir=opts["out_dir"])  # provenance
    settings = ExportSettings(sr=opts["sr"], subtype=opts["subtype"], loudness=opts["loudness"], level=opts["level"],
                              ramp_ms=opts["ramp_ms"], silence_before_ms=opts["silence_ms"][0],
                              silence_after_ms=opts["silence_ms"][1])
    try:
        written = write_continua(request, opts["out_dir"], opts["model_path"], settings, seed=opts["seed"],
                                 device=opts["device"], overwrite=opts["overwrite"], plot=not opts["no_plot"],
                                 command=_full_command(), on_note=lambda note: click.echo(f"note: {note}", err=True))
    except BandError as err:  # the model, not the file, is what to change
        raise AudioError(f"{err.problem}; model '{opts['model_path']}' cannot carry it: choose another with --model "
                         f"(shipped: {', '.join(names())}) or train one on recordings at this rate", err.path) from None
    click.echo(f"{written.files} sounds written to {written.folder} (manifest.csv, provenance.json"
               f"{'' if opts['no_plot'] else ', continuum.png'}, index.html to listen)")


def _series(opts: dict) -> dict:
    """The series settings of a request, from the options."""
    return dict(steps=opts["steps"], alpha_range=tuple(opts["alpha_range"]), path=opts["path_kind"],
                spacing=opts["spacing"], tune_steps=opts["tune_steps"], detail=opts["detail"], channel=opts["channel"])


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


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@export_options
@click.option("--attribute", default=None, metavar="NAME",
              help="Move one INPUT along attribute NAME (from 'gaia-audio attributes') instead of morphing.")
@click.option("--extent", nargs=2, type=FiniteRange(-MAX_EXTENT, MAX_EXTENT), default=(-3.0, 3.0), show_default=True,
              metavar="LO HI",
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
      gaia-audio morph a.wav b.wav --steps 16
      gaia-audio morph hello.wav yellow.wav --model speech --out hello_yellow
      gaia-audio morph a.wav b.wav --alpha-range -0.25 1.25 --spacing uniform -m runs/zf -o ab
    """
    from gaia_audio.stimuli.continua import MorphRequest

    if opts["attribute"] is not None and len(inputs) != 1:  # one sound along a fitted attribute direction
        raise click.UsageError("--attribute moves one INPUT; give exactly one")
    if opts["attribute"] is None and len(inputs) < 2:
        raise click.UsageError("give two INPUTS for a continuum, or three or more for a barycentric morph")
    _write(MorphRequest.of_sounds(list(inputs), opts["attribute"], extent=tuple(opts["extent"]), **_series(opts)),
           opts)


@click.command()
@click.argument("pairs", required=False, type=click.Path(dir_okay=False))
@click.option("--grid", nargs=4, type=click.Path(dir_okay=False), default=None, metavar="A B C D",
              help="A 2-D bilinear grid between four corners (A, B on top; C, D below).")
@export_options
@one_line_errors
def continuum(pairs, grid, **opts):
    """Many continua in one run: one per row of PAIRS (a CSV with columns a, b and optionally
    name; paths relative to the CSV), or a --grid between four sounds.

    Each continuum goes into its own subfolder of OUT; one manifest.csv lists every file.

    \b
    Example:
      gaia-audio continuum pairs.csv --steps 16
      gaia-audio continuum pairs.csv --model runs/zebra_finch --out continua
      gaia-audio continuum --grid a.wav b.wav c.wav d.wav --steps 5 -o grid
    """
    from gaia_audio.stimuli.continua import MorphRequest

    if (pairs is None) == (grid is None):
        raise click.UsageError("give either a PAIRS csv or --grid A B C D")
    series = _series(opts)
    _write(MorphRequest.of_grid(list(grid), **series) if grid else MorphRequest.of_table(pairs, **series), opts)
