"""``gaia-audio train`` and ``gaia-audio prepare``: from recordings to a trained model."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gaia_audio.cli.options import one_line_errors
from gaia_audio.io import signals


@click.command()
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set train.steps=500 (repeatable).")
@click.option("--resume", type=click.Path(), default=None,
              help="Continue a run folder exactly from its newest intact checkpoint (or from a checkpoint file).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Write the run here instead of RUNS_DIR/NAME; with --resume, copy the run forward into this "
                   "folder and go on there, leaving the resumed one untouched.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@one_line_errors
def train(recipe, overrides, resume, run_dir, quiet):
    """Train GAIA (or a baseline) from a RECIPE: a YAML file, or a built-in recipe's name
    (base, celeba, lines, speech, zebra_finch).

    Prepares the recipe's example data if it is absent, writes checkpoints, metrics, sample
    grids and WAVs to the run folder, and exports model.safetensors + config.yaml there.
    Under torchrun it trains data-parallel, train.batch_size being the global batch.
    One train at a time per run folder (a lock the kernel drops if the process dies). --resume
    skips a damaged checkpoint for the newest intact one, and refuses --set changes to the
    front end, the network's shape or the data kind. SIGINT / SIGTERM stop it with exit 130 / 143.

    \b
    Example:
      gaia-audio train zebra_finch --set train.steps=500
      gaia-audio train my_recipe.yaml
      gaia-audio train --resume runs/zebra_finch --set train.steps=4000
      torchrun --standalone --nproc_per_node 4 -m gaia_audio train recipes/zebra_finch.yaml
    """
    from gaia_audio.config import load_config
    from gaia_audio.training.loop import train as run_training

    if recipe is None and resume is None:
        raise click.UsageError("give a RECIPE, or --resume RUN")
    if recipe is None:  # resuming with the run's own merged recipe
        recipe = Path(resume) / "config.yaml" if Path(resume).is_dir() else Path(resume).parent.parent / "config.yaml"
    config = load_config(recipe, overrides)
    try:
        with signals.handled():  # SIGTERM / SIGHUP unwind like Ctrl-C: temporary files go, the lock is let go
            out = run_training(config, run_dir=run_dir, resume=resume, progress=not quiet)
    except KeyboardInterrupt as err:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, one line for all processes
            click.echo(f"error: {signals.describe(err)}; the checkpoints written are kept (go on with --resume)",
                       err=True)
        sys.exit(signals.exit_code(err))
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 wrote it
        click.echo(f"model written to {out / 'model.safetensors'}")


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("name", type=click.Choice(["zebra_finch", "asterisk", "speech", "celeba"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def prepare(name, args):
    """Prepare example dataset NAME into a folder: units and a manifest (options: NAME --help).

    zebra_finch fetches the Sound Analysis Pro songs (or reads --source DIR); asterisk fetches
    Debian's 16 kHz Asterisk prompts (--language en|es|fr) and cuts them into words; speech and
    celeba read your copy (--source DIR). Data is written under --out, relative to the current folder.

    \b
    Example:
      gaia-audio prepare zebra_finch --out data/zebra_finch
      gaia-audio prepare asterisk --language fr --out data/asterisk_fr
      gaia-audio prepare speech --source recordings/ --out data/speech
    """
    from gaia_audio.data.examples import example_module

    sys.exit(example_module(name).main(list(args), prog=f"gaia-audio prepare {name}"))  # its usage errors: one line
