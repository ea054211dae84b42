"""Degenerate inputs get the same one-line answer from every command (gaia_audio/io/checks.py).

For resynth, spectrogram, morph and prepare: a silent file, a one-sample file, ten samples at
1 Hz and a file at 8 kHz (below the 16 kHz the zebra_finch band, 500 Hz-8 kHz, needs) are each
one ``error: PATH: ...`` line, exit 1, and nothing written; a near-silent file (peak -66 dBFS) is
a ``note:`` line and the command goes on. A morph refuses a near-silent call as too quiet for the
model (its spectrogram rule), and goes on with the note for the rare near-silent sound the
model can still see (a high pure tone).
"""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import make_synthetic_song
from tiny_model import synthetic_unit, train_tiny_model, write_wav

from gaia_audio.cli.main import main
from gaia_audio.errors import AudioError
from gaia_audio.io.checks import NEAR_SILENT_DBFS, check_signal

#: name -> (what the error says, or None for a note and exit 0)
CASES = {
    "silent": "silent input (all samples are zero)",
    "one_sample": "too short: 1 sample(s) at 44100 Hz (0.0227 ms), less than one analysis window (256 samples at "
                  "22050 Hz, 11.6 ms)",
    "ten_at_1hz": "sample rate 1 Hz cannot hold the front end's band up to 8000 Hz",
    "at_8khz": "sample rate 8000 Hz cannot hold the front end's band up to 8000 Hz (it needs at least 16000 Hz; "
               "resampling up cannot create the missing band)",
    "near_silent": None,
}


def _at_peak(y: np.ndarray, peak_dbfs: float) -> np.ndarray:
    return (y * 10 ** (peak_dbfs / 20) / np.abs(y).max()).astype(np.float32)


def degenerate_file(folder, case: str, song: bool = False):
    """Write one degenerate input as ``folder/<case>.wav`` (a whole song for prepare, else one unit)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case}.wav"
    sound = (lambda sr: make_synthetic_song(sr=sr, seed=3)[0]) if song else (lambda sr: synthetic_unit(3, 1, sr=sr))
    if case == "silent":
        sf.write(path, np.zeros(8820, np.float32), 44100)
    elif case == "one_sample":
        sf.write(path, np.full(1, 0.5, np.float32), 44100)
    elif case == "ten_at_1hz":
        sf.write(path, np.full(10, 0.5, np.float32), 1)
    elif case == "at_8khz":
        sf.write(path, sound(8000), 8000)
    else:
        sf.write(path, _at_peak(sound(44100), -66.0), 44100, subtype="FLOAT")
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_error(result, path, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {path}: "), result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output


def assert_note_and_success(result, peak_dbfs: int = -66) -> None:
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "near-silent" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and f"{peak_dbfs} dBFS" in notes[0], result.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_tiny_model(tmp_path_factory.mktemp("degenerate_model"))


# ---------------------------------------------------------------- resynth and spectrogram


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command, out_name", [("resynth", "out.wav"), ("spectrogram", "out.png")])
def test_resynth_and_spectrogram(tmp_path, command, out_name, case):
    path = degenerate_file(tmp_path / "in", case)
    result = invoke(command, path, tmp_path / "out" / out_name)
    if CASES[case] is None:
        assert_note_and_success(result)
        assert (tmp_path / "out" / out_name).is_file()
    else:
        assert_one_error(result, path, CASES[case])
        assert "spectral convergence" not in result.output  # no figure computed on nothing
        assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- morph


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c] is not None])
def test_morph_refuses(run, tmp_path, case):
    path = degenerate_file(tmp_path / "in", case)
    other = write_wav(tmp_path / "in" / "b.wav", synthetic_unit(1, 1), 44100)
    result = invoke("morph", path, other, "-m", run, "-o", tmp_path / "out" / "ab", "--steps", 2)
    assert_one_error(result, path, CASES[case])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output folder, no temporary folder


def test_morph_refuses_a_near_silent_call_as_too_quiet_for_the_model(run, tmp_path):
    path = degenerate_file(tmp_path / "in", "near_silent")
    other = write_wav(tmp_path / "in" / "b.wav", synthetic_unit(1, 1), 44100)
    result = invoke("morph", path, other, "-m", run, "-o", tmp_path / "out", "--steps", 2)
    assert_one_error(result, path, "too quiet for the model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_morph_goes_on_with_a_note_for_a_near_silent_sound_the_model_sees(run, tmp_path):
    # A 7.5 kHz tone peaking at -62 dBFS: pre-emphasis (+5.7 dB there) lifts its bin to -57 dB, above
    # the model's "too quiet" line (-60 dB).
    t = np.arange(int(0.15 * 44100)) / 44100
    path = tmp_path / "tone.wav"
    sf.write(path, _at_peak(np.sin(2 * np.pi * 7500 * t), -62.0), 44100, subtype="FLOAT")
    other = write_wav(tmp_path / "b.wav", synthetic_unit(1, 1), 44100)
    result = invoke("morph", path, other, "-m", run, "-o", tmp_path / "out", "--steps", 2, "--no-plot")
    assert_note_and_success(result, -62)
    assert "note: tone: near-silent" in result.stderr and (tmp_path / "out" / "step_01.wav").is_file()


# ---------------------------------------------------------------- prepare


@pytest.mark.parametrize("case", CASES)
def test_prepare(tmp_path, case):
    path = degenerate_file(tmp_path / "src", case, song=True)
    if case != "near_silent":  # a good recording beside the bad one: still nothing is written
        sf.write(tmp_path / "src" / "good.wav", make_synthetic_song(sr=44100, seed=4)[0], 44100)
    result = invoke("prepare", "zebra_finch", "--source", tmp_path / "src", "--out", tmp_path / "data")
    if CASES[case] is None:
        assert_note_and_success(result)
        assert (tmp_path / "data" / "manifest.csv").is_file()
    else:
        assert_one_error(result, path, CASES[case])
        assert not (tmp_path / "data").exists()


def test_prepare_speech_refuses_a_rate_below_its_band(tmp_path):
    (tmp_path / "src").mkdir()
    sf.write(tmp_path / "src" / "call.wav", make_synthetic_song(sr=11025, seed=5)[0], 11025)
    result = invoke("prepare", "speech", "--source", tmp_path / "src", "--out", tmp_path / "data")
    assert_one_error(result, tmp_path / "src" / "call.wav", "sample rate 11025 Hz cannot hold the front end's band "
                                                            "up to 8000 Hz")
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------- the check itself


def alternating(n: int, value: float) -> np.ndarray:
    """(n,) samples of ±value, alternating: a full-band signal whose peak is ``value``."""
    return value * np.where(np.arange(n) % 2, 1.0, -1.0)


def test_check_signal_rules_and_their_order():
    args = dict(frontend_sr=22050, win_length=256, fmax=8000.0)
    assert check_signal(alternating(512, 0.5), 22050, "ok", **args) == []
    assert check_signal(alternating(256, 0.5), 22050, "ok", **args) == []  # exactly one window
    with pytest.raises(AudioError, match="^x: too short"):
        check_signal(alternating(255, 0.5), 22050, "x", **args)
    with pytest.raises(AudioError, match="^x: too short"):  # 511 samples at 44.1 kHz are 256 after resampling...
        check_signal(alternating(509, 0.5), 44100, "x", **args)  # ...509 are 255
    assert check_signal(alternating(16000, 0.5), 16000, "edge", **args) == []  # Nyquist == fmax holds the band
    with pytest.raises(AudioError, match="sample rate 15999 Hz cannot hold"):
        check_signal(alternating(16000, 0.5), 15999, "x", **args)
    with pytest.raises(AudioError, match="NaN or Inf"):
        check_signal(np.array([0.1, np.nan] * 300), 22050, "x", **args)
    with pytest.raises(AudioError, match="empty input"):
        check_signal(np.zeros(0), 22050, "x", **args)
    with pytest.raises(AudioError, match="sample rate 1 Hz"):  # the band before the length: resampling can't help
        check_signal(np.zeros(10), 1, "x", **args)
    quiet = alternating(512, 10 ** ((NEAR_SILENT_DBFS - 0.5) / 20))
    assert check_signal(quiet, 22050, "q", **args)[0].startswith("q: near-silent: its peak is -60 dBFS")
    assert check_signal(quiet * 10 ** (1 / 20), 22050, "q", **args) == []  # just above: nothing to say
    with pytest.raises(AudioError, match="^dc: constant input"):  # a DC offset holds no sound
        check_signal(np.full(512, 0.5), 22050, "dc", **args)
