"""Property-based fuzzing of everything that reads user files or values.

Each target gets random and half-broken inputs — random bytes, truncated or mutated headers, 0-
and 1-sample files, 1 Hz to 384 kHz rates, NaN/Inf samples, 8/16/24/32-bit integer and float
samples, many channels, absurd settings — and every outcome must be a valid result or the
project's own one-line error. CLI checks run the real commands through click's CliRunner and
require exit code 0 or one ``error:`` line, never a traceback.
"""
from __future__ import annotations

import io
import math
import string
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gaia_audio.cli.main import main
from gaia_audio.config import Config, from_dict, load_config, to_dict
from gaia_audio.data import annotations, segment
from gaia_audio.errors import AudioError, ConfigError, DataError, GaiaError
from gaia_audio.io import audio
from gaia_audio.io import manifest as manifests
from gaia_audio.stimuli.manifest import read_pairs

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
FEW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])

#: (format, subtype) pairs: 8/16/24/32-bit integers and 32/64-bit floats.
SUBTYPES = [("WAV", "PCM_U8"), ("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"),
            ("WAV", "DOUBLE"), ("FLAC", "PCM_S8"), ("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("AIFF", "PCM_16"),
            ("AIFF", "FLOAT")]
EXT = {"WAV": ".wav", "FLAC": ".flac", "AIFF": ".aiff"}
RATES = st.one_of(st.sampled_from([1, 2, 7, 8000, 22050, 44100, 96000, 384000]), st.integers(1, 400_000))
ABSURD_FLOATS = st.one_of(st.sampled_from([0.0, -0.0, 1e-300, -1e300, 1e300, math.inf, -math.inf, math.nan]),
                          st.floats(allow_nan=True, allow_infinity=True))


def _or_absurd(*sensible: float):
    """Sensible values half of the time, absurd ones (NaN, ±inf, huge, tiny, negative) otherwise."""
    return st.one_of(st.sampled_from(sensible), ABSURD_FLOATS)


def _one_line(err: BaseException) -> None:
    """A project error whose message is one line."""
    assert isinstance(err, GaiaError), f"{type(err).__name__}: {err}"
    assert "\n" not in str(err) and str(err).strip()


def _check_loaded(y: np.ndarray, sr: int, mono: bool, integer: bool) -> None:
    """What audio.load promises: finite float32, non-empty, (n,) or (channels, n), a positive rate."""
    assert y.dtype == np.float32 and y.shape[-1] > 0 and np.isfinite(y).all()
    assert y.ndim == (1 if mono else 2) and isinstance(sr, int) and sr > 0
    if integer:
        assert np.abs(y).max() <= 1.0


def _load_or_error(path, **kwargs):
    """audio.load, or None after checking the error is a one-line AudioError naming the file."""
    try:
        return audio.load(path, **kwargs)
    except AudioError as err:
        _one_line(err)
        assert str(path) in str(err)
        return None


# ---------------------------------------------------------------- audio loader


@FUZZ
@given(data=st.binary(max_size=600), ext=st.sampled_from([".wav", ".flac", ".ogg", ".aiff", ".mp3", ".au", ".txt", ""]),
       magic=st.sampled_from([b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS", b"FORM\x00\x00\x00\x20AIFF",
                              b"RIFF\xff\xff\xff\xffWAVEdata", b"ID3\x03\x00", b"\xff\xfb"]))
def test_load_random_bytes(tmp_path, data, ext, magic):
    path = tmp_path / f"x{ext}"
    path.write_bytes(magic + data)
    result = _load_or_error(path)
    if result is not None:
        _check_loaded(*result, mono=True, integer=False)


def _write(path, fmt, subtype, sr, frames):
    """Write frames ((n, channels)) with soundfile; None if soundfile refuses the combination."""
    try:
        sf.write(path, frames, sr, format=fmt, subtype=subtype)
        return path
    except (sf.LibsndfileError, ValueError, RuntimeError, AssertionError):  # soundfile asserts on NaN in FLAC
        return None


@FUZZ
@given(kind=st.sampled_from(SUBTYPES), sr=RATES, n=st.integers(0, 64), channels=st.integers(1, 40),
       special=st.sampled_from([None, math.nan, math.inf, -math.inf, 1e30]), seed=st.integers(0, 2**16),
       target_sr=st.sampled_from([None, 8000, 22050]), mono=st.booleans(),
       channel=st.one_of(st.none(), st.integers(-50, 50)), cut=st.one_of(st.none(), st.integers(0, 400)))
def test_load_any_depth_rate_channels_and_truncation(tmp_path, kind, sr, n, channels, special, seed, target_sr,
                                                      mono, channel, cut):
    fmt, subtype = kind
    frames = np.random.default_rng(seed).uniform(-1, 1, (n, channels))
    if special is not None and n:
        frames[n // 2, 0] = special
    path = _write(tmp_path / f"x{EXT[fmt]}", fmt, subtype, sr, frames)
    assume(path is not None)
    if cut is not None:  # a copy cut off part-way (header or data)
        raw = path.read_bytes()
        path.write_bytes(raw[:min(cut, len(raw))])
    if target_sr is not None and not mono and channel is None:
        assume(channels * (n + 1) * target_sr / sr < 2e6)  # keep a 40-channel upsampling small
    result = _load_or_error(path, sr=target_sr, mono=mono, channel=channel)
    if result is None:
        return
    y, out_sr = result
    _check_loaded(y, out_sr, mono=mono, integer=subtype.startswith("PCM") and not target_sr)
    assert out_sr == (target_sr or sr)
    if not mono:
        assert y.shape[0] == (channels if channel is None else 1)
    if target_sr is None and cut is None:
        assert y.shape[-1] == n


@FUZZ
@given(positions=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=6),
       subtype=st.sampled_from(["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]))
def test_load_wav_with_mutated_header(tmp_path, positions, subtype):
    buf = io.BytesIO()
    sf.write(buf, np.linspace(-0.5, 0.5, 200).reshape(100, 2), 44100, format="WAV", subtype=subtype)
    raw = bytearray(buf.getvalue())
    for pos, value in positions:
        raw[pos] = value
    path = tmp_path / "mutated.wav"
    path.write_bytes(bytes(raw))
    for mono in (True, False):
        result = _load_or_error(path, mono=mono)
        if result is not None:
            _check_loaded(*result, mono=mono, integer=False)


@pytest.mark.parametrize("sr", [1, 384000])
@pytest.mark.parametrize("n", [0, 1])
def test_zero_and_one_sample_files_at_extreme_rates(tmp_path, sr, n):
    path = tmp_path / "tiny.wav"
    sf.write(path, np.full(n, 0.25), sr, subtype="PCM_16")
    result = _load_or_error(path, sr=22050)
    if n == 0:
        assert result is None
    else:
        y, out_sr = result
        _check_loaded(y, out_sr, mono=True, integer=True)
        assert out_sr == 22050 and y.size == math.ceil(22050 / sr)


# ---------------------------------------------------------------- segmenter and annotations


@FUZZ
@given(sr=RATES, n=st.integers(0, 3000), seed=st.integers(0, 2**16),
       special=st.sampled_from([None, math.nan, math.inf]),
       level=st.sampled_from([0.0, 1e-30, 1e-6, 1.0, 1e6]),
       threshold_db=_or_absurd(-30.0, -60.0), min_duration=_or_absurd(0.001, 0.03),
       max_duration=_or_absurd(0.5, 10.0), min_silence=_or_absurd(0.0, 0.01), fmin=_or_absurd(0.0, 500.0),
       fmax=st.one_of(st.none(), _or_absurd(8000.0)), hop_length=st.one_of(st.none(), st.integers(-5, 5000)))
@example(sr=8000, n=3000, seed=0, special=None, level=1.0, threshold_db=-30.0, min_duration=0.03,
         max_duration=math.inf, min_silence=math.inf, fmin=500.0, fmax=None, hop_length=None)
@example(sr=8000, n=3000, seed=0, special=None, level=1.0, threshold_db=-30.0, min_duration=0.03,
         max_duration=0.5, min_silence=math.nan, fmin=500.0, fmax=None, hop_length=-3)
@example(sr=1, n=1, seed=1, special=None, level=1e-30, threshold_db=-30.0, min_duration=0.001,  # a frame is 1 s,
         max_duration=0.5, min_silence=0.0, fmin=0.0, fmax=None, hop_length=None)  # longer than max_duration
@example(sr=1, n=28, seed=0, special=None, level=0.0, threshold_db=-30.0, min_duration=0.001,  # fmin ~ 0:
         max_duration=1.0, min_silence=0.0, fmin=1e-255, fmax=None, hop_length=None)  # a singular design
@example(sr=1, n=28, seed=0, special=None, level=0.0, threshold_db=-30.0, min_duration=0.001,
         max_duration=1.0, min_silence=0.0, fmin=0.0, fmax=1e-9, hop_length=None)
def test_detect_units_any_signal_and_settings(sr, n, seed, special, level, threshold_db, min_duration, max_duration,
                                              min_silence, fmin, fmax, hop_length):
    rng = np.random.default_rng(seed)
    y = level * rng.normal(0, 1, n) * (rng.uniform(size=n) > 0.5)
    if special is not None and n:
        y[n // 3] = special
    try:
        units = segment.detect_units(y, sr, threshold_db=threshold_db, min_duration=min_duration,
                                     max_duration=max_duration, min_silence=min_silence, fmin=fmin, fmax=fmax,
                                     hop_length=hop_length)
    except AudioError as err:
        _one_line(err)
        return
    duration = n / sr
    for onset, offset in units:
        assert 0 <= onset < offset <= duration + 1e-9
        assert offset - onset <= max_duration + 1e-9
    assert all(a[1] <= b[0] for a, b in zip(units, units[1:]))


TEXTGRID = ('File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 2\ntiers? <exists>\nsize = 1\n'
            'item []:\n    item [1]:\n        class = "IntervalTier"\n        name = "syll"\n        xmin = 0\n'
            '        xmax = 2\n        intervals: size = 2\n        intervals [1]:\n            xmin = 0\n'
            '            xmax = 1\n            text = "a"\n        intervals [2]:\n            xmin = 1\n'
            '            xmax = 2\n            text = "b"\n')


@FUZZ
@given(cut=st.integers(0, len(TEXTGRID)), noise=st.text(max_size=30), where=st.integers(0, len(TEXTGRID)),
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]), junk=st.binary(max_size=40))
def test_annotation_readers_on_damaged_files(tmp_path, cut, noise, where, encoding, junk):
    text = TEXTGRID[:where] + noise + TEXTGRID[where:cut]
    grid = tmp_path / "x.TextGrid"
    try:
        grid.write_bytes(text.encode(encoding) + junk)
    except UnicodeEncodeError:
        grid.write_bytes(text.encode("utf-8", "replace") + junk)
    labels_file = tmp_path / "labels.txt"
    labels_file.write_bytes(noise.encode("utf-8", "surrogatepass") + b"\t" + junk)
    for path in (grid, labels_file):  # read with crowsetta, as a TextGrid and as Audacity labels
        try:
            labels = annotations.read_annotations(path)
        except DataError as err:
            _one_line(err)
            continue
        assert all(math.isfinite(a) and math.isfinite(b) and a <= b and isinstance(s, str) for a, b, s in labels)


# ---------------------------------------------------------------- manifests and pairs tables

CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["0", "0.1", "-1", "nan", "inf", "1e308", "44100", "0x10",
                                                         "units/a.wav", "../a.wav", "/a.wav", "", " ", "1_000"]))


@FUZZ
@given(header=st.one_of(st.just(list(manifests.MANIFEST_COLUMNS)), st.lists(CELLS, max_size=9)),
       rows=st.lists(st.lists(CELLS, max_size=9), max_size=4), junk=st.binary(max_size=20))
def test_read_manifest_any_table(tmp_path, header, rows, junk):
    import csv

    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path = tmp_path / "manifest.csv"
    path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass") + junk)
    try:
        units = manifests.read_manifest(path)
    except DataError as err:
        _one_line(err)
        return
    for unit in units:
        assert 0 <= unit["onset"] <= unit["offset"] and math.isfinite(unit["duration"]) and unit["sr"] > 0
        assert not unit["path"].startswith(("/", "\\")) and ".." not in unit["path"].replace("\\", "/").split("/")


@FUZZ
@given(header=st.one_of(st.just(["a", "b", "name"]), st.just(["a", "b"]), st.lists(CELLS, max_size=4)),
       rows=st.lists(st.lists(CELLS, max_size=4), max_size=4), junk=st.binary(max_size=20))
def test_read_pairs_any_table(tmp_path, header, rows, junk):
    import csv

    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path = tmp_path / "pairs.csv"
    path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass") + junk)
    try:
        pairs = read_pairs(path)
    except DataError as err:
        _one_line(err)
        return
    assert len({p["name"] for p in pairs}) == len(pairs)
    assert all(p["a"] and p["b"] and p["name"] and "/" not in p["name"] for p in pairs)


# ---------------------------------------------------------------- recipes

SECTIONS = {name: [f for f in getattr(Config(), name).__dataclass_fields__] for name in
            ("frontend", "inversion", "model", "data", "train")}
ABSURD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), ABSURD_FLOATS,
                          st.text(max_size=8), st.lists(st.integers(), max_size=2),
                          st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def recipes(draw):
    """A recipe mapping with real and unknown keys and absurd values."""
    out = {}
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "name", "runs_dir", "bogus"]), max_size=4)):
        if section in SECTIONS:
            keys = draw(st.lists(st.sampled_from(SECTIONS[section] + ["nope"]), max_size=4))
            out[section] = {k: draw(ABSURD_VALUES) for k in keys}
        else:
            out[section] = draw(ABSURD_VALUES)
    return out


@FUZZ
@given(recipe=recipes(), overrides=st.lists(st.text(alphabet=string.printable, max_size=20), max_size=3))
def test_load_config_any_recipe_and_overrides(tmp_path, recipe, overrides):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    try:
        config = load_config(path, overrides)
    except ConfigError as err:
        _one_line(err)
        return
    assert from_dict(Config, to_dict(config)) == config  # what a run stores rebuilds the same recipe
    tc = config.train
    assert tc.batch_size >= 1 and math.isfinite(tc.lr_max) and tc.lr_max > 0 and tc.checkpoint_every >= 1
    assert tc.log_every >= 1 and 0 <= config.data.holdout < 1


@FUZZ
@given(text=st.text(max_size=200), raw=st.binary(max_size=100))
def test_load_config_any_text(tmp_path, text, raw):
    for i, content in enumerate((text.encode("utf-8", "surrogatepass"), raw)):
        path = tmp_path / f"r{i}.yaml"
        path.write_bytes(content)
        try:
            config = load_config(path)
            assert from_dict(Config, to_dict(config)) == config
        except ConfigError as err:
            _one_line(err)


# ---------------------------------------------------------------- the command line


def _cli_refuses(args, *needles) -> None:
    """Run the CLI: it must refuse (exit 1, one 'error:' line holding each of ``needles``), never succeed."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], result.output


def _cli_ok(args) -> None:
    """Run the CLI: success, or exit 1 with one 'error:' line; never a traceback or a stray exception."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        lines = result.output.strip().splitlines()
        assert result.exit_code in (1, 2) and lines, result.output
        if result.exit_code == 1:
            assert len(lines) == 1 and lines[0].startswith("error: "), result.output


@FEW
@given(data=st.binary(max_size=300), magic=st.sampled_from([b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC"]))
def test_cli_resynth_and_spectrogram_on_random_bytes(tmp_path, data, magic):
    path = tmp_path / "in.wav"
    path.write_bytes(magic + data)
    _cli_ok(["resynth", path, tmp_path / "out.wav"])
    _cli_ok(["spectrogram", path, tmp_path / "out.png"])


@pytest.mark.parametrize("make", [
    lambda p: sf.write(p, np.full(1, 0.5), 384000, subtype="PCM_24"),
    lambda p: sf.write(p, np.random.default_rng(0).uniform(-1, 1, (2000, 64)), 22050, subtype="PCM_U8"),
    lambda p: sf.write(p, np.random.default_rng(0).uniform(-1, 1, 2000), 384000, subtype="PCM_32"),
], ids=["1-sample-384kHz", "64-channels-8bit", "384kHz-32bit"])
def test_cli_on_extreme_files(tmp_path, make):
    path = tmp_path / "in.wav"
    make(path)
    _cli_ok(["resynth", path, tmp_path / "out.wav"])
    _cli_ok(["spectrogram", path, tmp_path / "out.png", "--channel", "63"])


@pytest.mark.parametrize("make, needle", [
    (lambda p: sf.write(p, np.zeros(0), 44100), "no audio samples"),
    (lambda p: sf.write(p, np.full(1, 0.5), 1), "sample rate 1 Hz"),
    (lambda p: sf.write(p, np.array([0.1, np.nan, 0.2] * 100), 44100, subtype="FLOAT"), "NaN"),
    (lambda p: sf.write(p, np.array([0.1, np.inf, 0.2] * 100), 44100, subtype="DOUBLE"), "Inf"),
    (lambda p: sf.write(p, np.zeros(4000), 44100), "silent"),
], ids=["0-samples", "1-sample-1Hz", "nan", "inf", "zeros"])
def test_unusable_audio_is_refused_never_processed(tmp_path, make, needle):
    path = tmp_path / "in.wav"
    make(path)
    for args in (["resynth", path, tmp_path / "out.wav"], ["spectrogram", path, tmp_path / "out.png"]):
        _cli_refuses(args, str(path), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]  # nothing written


@FEW
@given(recipe=recipes())
def test_cli_train_with_an_absurd_recipe(tmp_path, recipe):
    recipe.setdefault("data", {})
    if isinstance(recipe["data"], dict):  # never let the fuzzer start a download or a long run
        recipe["data"].update(root=str(tmp_path / "no-data"), prepare=None)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    _cli_ok(["train", path, "--quiet", "--run-dir", tmp_path / "run"])


@pytest.mark.parametrize("override, key", [
    ("train.batch_size=0", "train.batch_size"), ("train.batch_size=-2", "train.batch_size"),
    ("train.lr_max=nan", "train.lr_max"), ("train.lr_max=-1", "train.lr_max"),
    ("train.checkpoint_every=0", "train.checkpoint_every"), ("train.log_every=0", "train.log_every"),
    ("train.seed=99999999999999999999", "train.seed"), ("train.device=banana", "train.device"),
    ("data.max_shift_frames=-3", "data.max_shift_frames"), ("data.max_freq_shift_bins=-1", "data.max_freq_shift_bins"),
    ("data.holdout=nan", "data.holdout"), ("model.vae_beta=-inf", "model.vae_beta"),
])
def test_cli_train_absurd_values_name_the_key(tmp_path, override, key):
    """Each of these crashed training with a traceback (ZeroDivisionError, torch errors) before."""
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "zebra_finch.yaml"
    result = CliRunner().invoke(main, ["train", str(recipe), "--quiet", "--set", override, "--set", "data.prepare=null",
                                       "--set", f"data.root={tmp_path / 'none'}"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and f"'{key}'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_train_on_a_missing_gpu_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "zebra_finch.yaml"
    result = CliRunner().invoke(main, ["train", str(recipe), "--quiet", "--set", "train.device=cuda:7",
                                       "--set", "data.prepare=null", "--set", f"data.root={tmp_path / 'none'}"])
    assert result.exit_code == 1 and "CUDA device" in result.output and "Traceback" not in result.output
