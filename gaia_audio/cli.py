"""The gaia-audio command line: a thin click group. Each command parses its options, loads a
recipe where it needs one, calls the library, and turns the project's errors into one line."""
from __future__ import annotations

import functools
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

    \b
    Example:
      gaia-audio train recipes/zebra_finch.yaml --set train.steps=500
      gaia-audio train --resume runs/zebra_finch --set train.steps=4000
    """
    from gaia_audio.config import load_config
    from gaia_audio.train import train as run_training

    if recipe is None and resume is None:
        raise click.UsageError("give a RECIPE, or --resume RUN")
    if recipe is None:  # resuming with the run's own merged recipe
        recipe = Path(resume) / "config.yaml" if Path(resume).is_dir() else Path(resume).parent.parent / "config.yaml"
    config = load_config(recipe, overrides)
    out = run_training(config, run_dir=run_dir, resume=resume, progress=not quiet)
    click.echo(f"model written to {out / 'model.safetensors'}")
