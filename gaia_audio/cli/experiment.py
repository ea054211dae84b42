"""``gaia-audio experiment`` (an offline jsPsych page, or a Praat / operant-rig file, for a continuum folder)
and ``gaia-audio fit`` (psychometric fits of the responses)."""
from __future__ import annotations

import click

from gaia_audio.cli.options import SEED, design_options, one_line_errors


def _rate(ctx, param, value):
    """A click callback: "free" (None) or a fixed rate in [0, 0.5)."""
    if value is None or value == "free":
        return None
    try:
        rate = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither 'free' nor a number", ctx, param) from None
    if not 0 <= rate < 0.5:
        raise click.BadParameter(f"{value!r} must be in [0, 0.5)", ctx, param)
    return rate


@click.command()
@design_options
@click.option("--distance", default=2, show_default=True, type=click.IntRange(1),
              help="ax/abx: step difference d of the pairs (k, k+d).")
@click.option("--rig", type=click.Choice(["jspsych", "praat", "pyoperant"]), default="jspsych", show_default=True,
              help="jspsych: an offline page; praat: an ExperimentMFC file (identification, ax); pyoperant: a "
                   "stimulus/trial JSON for songbird operant rigs.")
@click.option("--practice/--no-practice", default=True, show_default=True,
              help="Page: practice trials on the two endpoints (with feedback, not saved).")
@click.option("--headphone-check", is_flag=True,
              help="Page: the Woods et al. (2017) antiphase check first (six trials, pass at five; recorded).")
@click.option("--isi-ms", default=500.0, show_default=True, type=click.FloatRange(0, 10_000),
              help="Silence between the sounds of an ax/abx trial.")
@one_line_errors
def experiment(continuum_dir, design, repeats, seed, distance, rig, practice, headphone_check, isi_ms):
    """Write a runnable experiment for a continuum folder: experiment_<design>.html (jsPsych, runs from
    file:// with no network; saves responses as a CSV for `gaia-audio fit`), or with --rig a Praat
    ExperimentMFC file or a pyoperant stimulus file. The trial lists trials_<design>.csv/.json are
    written beside it.

    \b
    Example:
      gaia-audio experiment a_to_b --design identification --repeats 10 --headphone-check
      gaia-audio experiment a_to_b --design ax --rig praat
    """
    from gaia_audio.experiment import rigs
    from gaia_audio.experiment.page import write_experiment

    if rig == "jspsych":
        written = write_experiment(continuum_dir, design, repeats, seed, distance, practice, headphone_check, isi_ms)
    elif rig == "praat":
        written = rigs.write_praat(continuum_dir, design, repeats, seed, distance, isi_ms)
    else:
        written = rigs.write_pyoperant(continuum_dir, design, repeats, seed, distance)
    click.echo(f"{written[0]} written ({len(written)} files); open it in a browser"
               if rig == "jspsych" else f"{written[0]} written")


@click.command()
@click.argument("responses_csv", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for fits.csv, discrimination.csv, a figure per pair and index.html.")
@click.option("--continuum", "continuum_dir", default=None, type=click.Path(file_okay=False),
              help="The continuum folder: steps are checked against its manifest and α taken from it.")
@click.option("--sigmoid", type=click.Choice(["logistic", "normal"]), default="logistic", show_default=True)
@click.option("--guess", default="free", show_default=True, callback=_rate,
              help="Rate of b answers far on the a side: 'free' (fitted in [0, --max-rate]) or a fixed number.")
@click.option("--lapse", default="free", show_default=True, callback=_rate,
              help="Rate of a answers far on the b side: 'free' or a fixed number.")
@click.option("--max-rate", default=0.25, show_default=True, type=click.FloatRange(0, 0.5, max_open=True),
              help="Upper bound of a free guess or lapse rate.")
@click.option("--bootstrap", "n_boot", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Parametric-bootstrap datasets per curve (95 % intervals).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the bootstrap.")
@click.option("--no-plot", is_flag=True, help="Do not draw the figures.")
@one_line_errors
def fit(responses_csv, out_dir, continuum_dir, sigmoid, guess, lapse, max_rate, n_boot, seed, no_plot):
    """Fit psychometric functions to responses: the page's CSVs (one per session; their rows are pooled), or
    any CSV with pair, step, response
    (1 = endpoint b, 0 = a; endpoint names accepted), optionally participant and rt. One curve per
    participant x pair and one pooled per pair, by maximum likelihood with guess and lapse rates;
    AX/ABX rows give percent correct and d' beside what identification predicts.

    \b
    Example:
      gaia-audio fit responses_*.csv --out fits --continuum a_to_b
      gaia-audio fit all_sessions.csv --out fits --lapse 0 --guess 0 --sigmoid normal
    """
    from gaia_audio.experiment.fits import FitSettings
    from gaia_audio.experiment.report import fit_responses
    from gaia_audio.experiment.trials import read_continuum

    continuum = None if continuum_dir is None else read_continuum(continuum_dir)
    settings = FitSettings(sigmoid, guess, lapse, max_rate, n_boot, 0.95, seed)
    written = fit_responses(list(responses_csv), out_dir, settings, continuum, plot=not no_plot)
    click.echo(f"{len(written)} files written to {out_dir}: " + ", ".join(p.name for p in written[:4])
               + (", ..." if len(written) > 4 else ""))
