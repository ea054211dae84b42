"""The gaia-audio command line: a thin click group. Each command parses its options, loads a
recipe where it needs one, calls the library, and turns the project's errors into one line
(:mod:`.options`). The commands live one group per module."""
from __future__ import annotations

import click

from gaia_audio import __version__
from gaia_audio.cli import analysis, frontend, morph, train, trials


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gaia-audio")
def main() -> None:
    """Learn the space of vocalizations with GAIA and synthesize morphs between them.

    \b
    Example:
      gaia-audio train recipes/zebra_finch.yaml
      gaia-audio morph a.wav b.wav --steps 16 --model runs/zebra_finch
    """


for command in (train.train, train.prepare, morph.morph, morph.continuum, frontend.resynth, frontend.spectrogram,
                analysis.bench, analysis.evaluate, analysis.embed, analysis.attributes, trials.trials):
    main.add_command(command)
