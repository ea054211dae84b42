"""``gaia-audio resynth`` and ``gaia-audio spectrogram``: hear and see what a front end keeps."""
from __future__ import annotations

from pathlib import Path

import click

from gaia_audio.bounds import MAX_N_ITER
from gaia_audio.cli.options import frontend_options, one_line_errors
from gaia_audio.errors import AudioError


def _frontend_input(input_path: str, preset: str, kind: str | None, channel: int | None):
    """(front end, (n,) y at its rate) for the resynth and spectrogram commands.

    The input is checked first (:func:`gaia_audio.io.checks.check_signal`): an unusable one is a
    one-line error, a near-silent one a ``note:`` line on stderr.
    """
    from gaia_audio.io.checks import load_checked
    from gaia_audio.spectral.presets import make_frontend

    frontend = make_frontend(preset, kind=kind)
    y, _, notes = load_checked(input_path, frontend.sr, frontend.sr, frontend.win_length, frontend.fmax, channel)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return frontend, y


@click.command()
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@frontend_options
@click.option("--method", type=click.Choice(["pghi+fgla", "pghi", "fgla"]), default=None,
              help="Phase reconstruction [default: the recipes' default, pghi+fgla].")
@click.option("--n-iter", type=click.IntRange(0, MAX_N_ITER), default=None,
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
    IN must be at a rate that holds the preset's band (at least twice its top frequency) and
    last one analysis window; a silent IN is refused, a near-silent one (peak below -60 dBFS)
    gets a note.

    \b
    Example:
      gaia-audio resynth song.wav song_resynth.wav --preset zebra_finch
      gaia-audio resynth call.wav call_mel.wav --preset speech_16k --kind mel --method fgla
    """
    import numpy as np
    import torch

    from gaia_audio.config import InversionConfig
    from gaia_audio.inversion import invert
    from gaia_audio.io import audio
    from gaia_audio.spectral.metrics import spectral_convergence_db

    defaults = InversionConfig()
    if Path(output_path).resolve() == Path(input_path).resolve():  # the recording would be replaced
        raise AudioError("OUT is IN: resynth writes a new file and never replaces its input", output_path)
    frontend, y = _frontend_input(input_path, preset, kind, channel)
    with torch.no_grad():
        S = frontend(torch.from_numpy(y))  # (1, n_freq, T)
        y_hat = invert(frontend, S, length=len(y), method=method or defaults.method,
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


@click.command()
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False))
@frontend_options
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

    from gaia_audio.render import figures

    frontend, y = _frontend_input(input_path, preset, kind, channel)
    with torch.no_grad():
        S = frontend(torch.from_numpy(y))[0]  # (n_freq, T)
    title = title if title is not None else f"{Path(input_path).name} ({preset}, {frontend.kind})"
    figures.plot_spectrogram(S, frontend, output_path, title=title)
    click.echo(f"wrote {output_path} ({S.shape[0]} bins x {S.shape[1]} frames)")
