"""``gaia-audio trials``: write the trial list of a perception experiment on a continuum folder."""
from __future__ import annotations

import click

from gaia_audio.cli.options import design_options, one_line_errors


@click.command()
@design_options
@click.option("--distance", default=None, type=int,
              help="ax/abx: step difference d of the pairs (k, k+d), 1 <= d < steps [default: 2].")
@one_line_errors
def trials(continuum_dir, design, repeats, seed, distance):
    """Write trials_<design>.csv (a PsychoPy conditions file) and trials_<design>.json (a jsPsych
    timeline) into CONTINUUM_DIR, a folder written by 'morph' or 'continuum'.

    Trials name sounds by their path in the folder's manifest.csv (relative to the folder). The
    continua of a multi-pair folder come one after another, each in its own blocks; within a
    block the trials are shuffled and exactly counterbalanced. Identification plays every step
    once per block, never the same file twice in a row; ax plays (k, k+d) in both orders plus
    as many same trials; abx plays A, B = k, k+d in both orders with X = A or X = B.
    Existing trial files of the same design are replaced.

    \b
    Example:
      gaia-audio trials morph_ab --design identification --repeats 10 --seed 1
      gaia-audio trials continua --design abx --repeats 4 --distance 3
    """
    from gaia_audio.experiment.trials import make_trials, read_continuum, write_trials

    if design == "identification" and distance is not None:
        raise click.UsageError("--distance applies to the ax and abx designs only")
    continuum = read_continuum(continuum_dir)
    table = make_trials(continuum, design, repeats, seed, 2 if distance is None else distance)
    csv_path, json_path = write_trials(continuum, design, table)
    click.echo(f"{len(table)} {design} trials over {len(continuum.pairs)} continuum(s) written to "
               f"{csv_path} and {json_path.name}")
