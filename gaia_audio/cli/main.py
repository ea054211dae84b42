"""The gaia-audio command line: a thin click group. Each command parses its options, loads a
recipe where it needs one, calls the library, and turns the project's errors into one line
(:mod:`.options`). The commands live one group per module."""
from __future__ import annotations

import contextlib
import sys

import click

from gaia_audio import __version__
from gaia_audio.cli import analysis, experiment, frontend, morph, train, trials


class OneLineUsageError(click.ClickException):
    """A click usage error (a missing argument, a value out of range) told as every other failure is:
    one line ``error: COMMAND: problem`` on stderr, exit status 1."""

    exit_code = 1

    def __init__(self, original: click.ClickException):
        super().__init__(original.format_message())
        self.original = original

    def show(self, file=None) -> None:
        if isinstance(self.original, click.exceptions.NoArgsIsHelpError):  # bare `gaia-audio`: the help
            self.original.show(file)
            return
        ctx = getattr(self.original, "ctx", None)
        message = " ".join(self.original.format_message().split()).rstrip(".")
        if ctx is not None:  # the command stands where a file's path would: error: gaia-audio morph: ...
            message = f"{ctx.command_path}: {message} ({ctx.command_path} --help)"
        click.echo(f"error: {message}", file=file or sys.stderr)


@contextlib.contextmanager
def _usage_errors_in_one_line():
    try:
        yield
    except OneLineUsageError:
        raise
    except click.ClickException as err:
        raise OneLineUsageError(err) from None


class OneLineGroup(click.Group):
    """The command group: click parses and dispatches; its usage errors become :class:`OneLineUsageError`."""

    def make_context(self, *args, **kwargs) -> click.Context:
        with _usage_errors_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        with _usage_errors_in_one_line():
            return super().invoke(ctx)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gaia-audio")
def main() -> None:
    """Learn the space of vocalizations with GAIA and synthesize morphs between them.

    \b
    Example:
      gaia-audio morph a.wav b.wav --steps 16            # the shipped birdsong model
      gaia-audio morph two.wav five.wav --model speech
      gaia-audio train recipes/zebra_finch.yaml
    """


for command in (train.train, train.prepare, morph.morph, morph.continuum, frontend.resynth, frontend.spectrogram,
                analysis.bench, analysis.evaluate, analysis.embed, analysis.attributes, trials.trials,
                experiment.experiment, experiment.fit):
    main.add_command(command)
