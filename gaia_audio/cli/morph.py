"""``gaia-audio morph`` and ``gaia-audio continuum``: write continua between sounds for experiments.

Nothing heavy is imported at module level: ``_run_export`` starts the drawing worker before torch
is imported, so matplotlib's import runs beside torch's (``benchmarks/morph_latency.py``).
"""
from __future__ import annotations

from pathlib import Path

import click

from gaia_audio.cli.options import FiniteRange, export_options, one_line_errors
from gaia_audio.config import MAX_EXTENT, MAX_MORPH_SECONDS, check_grid_steps


def _run_export(kind: str, make_results, opts: dict, inputs: list[str], read: tuple = ()) -> None:
    """Load the model, build the continua with ``make_results(vm)``, print their notes, export them.

    ``inputs`` (the sounds) and ``read`` (other files read, such as a pairs table) are never inside
    the output folder, which is checked before any slow work (``export.check_output``).

    continuum.png is drawn by a worker process started before torch is imported here, so that
    matplotlib's import runs beside torch's (render.worker.Worker); the callers import nothing heavy first.
    """
    import contextlib

    from gaia_audio.render.worker import Worker

    with contextlib.nullcontext() if opts["no_plot"] else Worker() as worker:
        _export_with(kind, make_results, opts, inputs, worker, read)


def _export_with(kind: str, make_results, opts: dict, inputs: list[str], worker, read: tuple = ()) -> None:
    """``_run_export``'s work, drawing continuum.png with ``worker`` (None: no figure)."""
    import torch

    from gaia_audio.io import audio
    from gaia_audio.morph.model import load_model
    from gaia_audio.pretrained import DEFAULT_MODEL
    from gaia_audio.stimuli import export as continuum
    from gaia_audio.stimuli.output_folder import default_out_dir
    from gaia_audio.stimuli.provenance import build_provenance

    if opts["model_path"] is None:
        opts["model_path"] = DEFAULT_MODEL
    if opts["out_dir"] is None:  # a new folder named after the inputs (or the pairs table), never an existing one
        stems = [Path(p).stem for p in (read or inputs)]
        suffix = {"pairs": "_continua", "grid": "_grid", "attribute": f"_{opts.get('attribute')}"}.get(kind, "")
        opts["out_dir"] = str(default_out_dir(stems, suffix))
    click.get_current_context().params.update(model_path=opts["model_path"], out_dir=opts["out_dir"])  # provenance
    protected = [*inputs, *read, opts["model_path"]]
    audio.check_channel(inputs, opts["channel"])  # --channel 5 on mono inputs: refused before any work
    audio.check_duration(inputs, MAX_MORPH_SECONDS)  # from the headers: a 30-minute file is never read
    continuum.check_output(opts["out_dir"], opts["overwrite"], protected)
    settings = continuum.ExportSettings(sr=opts["sr"], subtype=opts["subtype"], loudness=opts["loudness"],
                                        level=opts["level"], ramp_ms=opts["ramp_ms"],
                                        silence_before_ms=opts["silence_ms"][0], silence_after_ms=opts["silence_ms"][1])
    torch.manual_seed(opts["seed"])
    vm = load_model(opts["model_path"], device=opts["device"])  # hashed as loaded (vm.checksum)
    settings.check_band(getattr(vm.frontend, "fmax", None), vm.path)  # before any slow work
    results = make_results(vm)
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    morph = {"steps": opts["steps"], "alpha_range": list(opts["alpha_range"]), "path": opts["path_kind"],
             "spacing": opts["spacing"]}
    provenance = build_provenance(kind, vm, results, inputs, morph, opts["seed"], _full_command())
    out = continuum.export(results, opts["out_dir"], settings, provenance, opts["overwrite"], worker is not None,
                           on_note=lambda note: click.echo(f"note: {note}", err=True), worker=worker,
                           inputs=protected)
    n_files = sum(len(r.rows) for r in results)
    click.echo(f"{n_files} sounds written to {out} (manifest.csv, provenance.json"
               f"{'' if opts['no_plot'] else ', continuum.png'}, index.html to listen)")


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


def _tune_settings(opts):
    """The per-pair tuning's settings from the options (steps come from --tune-steps)."""
    from gaia_audio.morph.tune import TuneSettings

    return TuneSettings(detail=opts["detail"])


def _load_endpoint(vm, path, channel):
    """Read one input file and bring it to the model (mono, the model's rate, loud enough)."""
    from gaia_audio.errors import AudioError, BandError
    from gaia_audio.io import audio
    from gaia_audio.morph.model import make_endpoint

    y, sr = audio.load(path, mono=False)
    channel = None if y.shape[0] == 1 else channel  # --channel picks among multichannel inputs' channels
    try:
        return make_endpoint(vm, y, sr, Path(path).stem, channel)
    except AudioError as err:  # it names the input as rows and notes do (its stem); an error names the file
        problem = err.problem
        if isinstance(err, BandError):  # the model, not the file, is what to change
            from gaia_audio.pretrained import names

            problem += (f"; model '{vm.name}' cannot carry it: choose another with --model (shipped: "
                        f"{', '.join(names())}) or train one on recordings at this rate")
        raise AudioError(problem, path) from None


def _attribute_maker(path: str, opts: dict):
    """A ``make(vm)`` giving the series of one input along the attribute ``opts["attribute"]``."""

    def make(vm):
        from gaia_audio.analysis.attributes import ATTRIBUTES_FILE, load_attribute
        from gaia_audio.morph.series import morph_attribute

        vector = load_attribute(vm.path.parent / ATTRIBUTES_FILE, opts["attribute"], int(vm.model.code_dim))
        a = _load_endpoint(vm, path, opts["channel"])
        return [morph_attribute(vm, a, vector, opts["attribute"], tuple(opts["extent"]), opts["steps"])]

    return make


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
    if opts["attribute"] is not None:  # one sound along a fitted attribute direction
        if len(inputs) != 1:
            raise click.UsageError("--attribute moves one INPUT; give exactly one")
        _run_export("attribute", _attribute_maker(inputs[0], opts), opts, list(inputs))
        return
    if len(inputs) < 2:
        raise click.UsageError("give two INPUTS for a continuum, or three or more for a barycentric morph")

    def make(vm):
        from gaia_audio.morph.series import morph_barycentric, morph_pair  # torch: imported after _run_export's start

        ends = [_load_endpoint(vm, p, opts["channel"]) for p in inputs]
        if len(ends) == 2:
            return [morph_pair(vm, ends[0], ends[1], opts["steps"], opts["alpha_range"], opts["path_kind"],
                               opts["spacing"], tune_steps=opts["tune_steps"], tune=_tune_settings(opts))]
        return [morph_barycentric(vm, ends, opts["steps"])]

    _run_export("pair" if len(inputs) == 2 else "barycentric", make, opts, list(inputs))


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
    if (pairs is None) == (grid is None):
        raise click.UsageError("give either a PAIRS csv or --grid A B C D")
    if grid is not None:
        check_grid_steps(opts["steps"])  # before any work (torch is not imported yet)
        inputs = list(grid)

        def make(vm):
            from gaia_audio.morph.series import morph_grid

            return [morph_grid(vm, [_load_endpoint(vm, p, opts["channel"]) for p in grid], opts["steps"])]
    else:
        from gaia_audio.stimuli.manifest import read_pairs
        from gaia_audio.stimuli.output_folder import check_names

        table = read_pairs(pairs)
        check_names([row["name"] for row in table], pairs)
        inputs = list(dict.fromkeys(p for row in table for p in (row["a"], row["b"])))

        def make(vm):
            from gaia_audio.morph.series import morph_pair

            ends = {p: _load_endpoint(vm, p, opts["channel"]) for p in inputs}
            return [morph_pair(vm, ends[row["a"]], ends[row["b"]], opts["steps"], opts["alpha_range"],
                               opts["path_kind"], opts["spacing"], row["name"], tune_steps=opts["tune_steps"],
                               tune=_tune_settings(opts))
                    for row in table]

    _run_export("grid" if grid else "pairs", make, opts, inputs, () if grid else (pairs,))
