"""End to end: `gaia-audio resynth` and `gaia-audio spectrogram` on real and synthetic songs."""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from gaia_audio.cli.main import main


@pytest.fixture
def synthetic_wav(tmp_path, synthetic_song):
    y, sr, _ = synthetic_song
    path = tmp_path / "synthetic.wav"
    sf.write(path, y, sr)
    return path


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def printed_sc(output: str) -> float:
    return float(re.search(r"spectral convergence (-?\d+\.\d) dB", output).group(1))


def test_resynth_a_real_song(real_songs, tmp_path):
    out = tmp_path / "resynth.wav"
    result = run("resynth", real_songs[0], out, "--preset", "zebra_finch")
    assert result.exit_code == 0, result.output
    y, sr = sf.read(out)
    assert sr == 22050 and sf.info(out).subtype == "PCM_16"
    assert len(y) / sr == pytest.approx(sf.info(real_songs[0]).duration, abs=1e-3)
    assert np.abs(y).max() > 0.05
    assert printed_sc(result.output) < -20


def test_resynth_a_synthetic_song_with_other_settings(synthetic_wav, tmp_path):
    out = tmp_path / "sub" / "pghi.wav"
    result = run("resynth", synthetic_wav, out, "--method", "pghi", "--n-iter", "0", "--subtype", "FLOAT")
    assert result.exit_code == 0, result.output
    assert sf.info(out).subtype == "FLOAT" and sf.info(out).samplerate == 22050
    sc_pghi = printed_sc(result.output)
    result = run("resynth", synthetic_wav, tmp_path / "chain.wav", "--n-iter", "16")
    assert result.exit_code == 0, result.output
    assert printed_sc(result.output) < sc_pghi  # FGLA refines PGHI's phase
    result = run("resynth", synthetic_wav, tmp_path / "mel.wav", "--kind", "mel", "--preset", "speech_16k")
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "mel.wav").samplerate == 16000


def test_spectrogram_png_of_a_real_and_a_synthetic_song(real_songs, synthetic_wav, tmp_path):
    for source in (real_songs[1], synthetic_wav):
        out = tmp_path / f"{source.stem}.png"
        result = run("spectrogram", source, out, "--preset", "zebra_finch")
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "87 bins" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{real_songs[1].stem}.png", "synthetic.png", "synthetic.wav"])  # no temporary files left


@pytest.mark.parametrize("command", ["resynth", "spectrogram"])
def test_a_bad_input_file_is_a_one_line_error_and_writes_nothing(command, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n")
    out = tmp_path / ("out.wav" if command == "resynth" else "out.png")
    result = run(command, bad, out)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "notes.wav" in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.wav"]


@pytest.mark.parametrize("args,message", [
    (["resynth", "{missing}", "{out}.wav"], "file not found"),
    (["resynth", "{song}", "{out}.wav", "--preset", "canary"], "unknown frontend preset 'canary'"),
    (["spectrogram", "{song}", "{out}.xyz"], "cannot write a figure as '.xyz'"),
    (["resynth", "{song}", "{out}.mp4"], "cannot write format"),
])
def test_user_mistakes_are_one_line_errors(args, message, synthetic_wav, tmp_path):
    subst = dict(missing=tmp_path / "missing.wav", song=synthetic_wav, out=tmp_path / "out")
    result = run(*[a.format(**subst) for a in args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not any(p.name.startswith("out") or p.name.startswith(".out") for p in tmp_path.iterdir())


def test_help_ends_with_an_example():
    for command in ("resynth", "spectrogram"):
        text = run(command, "--help").output
        assert f"gaia-audio {command} " in text.split("Example:")[1]
