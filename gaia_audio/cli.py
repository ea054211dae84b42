"""The gaia-audio command line: a thin click group. Each command parses its options, loads a
recipe where it needs one, calls the library, and turns the project's errors into one line."""
from __future__ import annotations

import functools
import sys

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
