"""Every value checked where it enters, and one error format (issue 15, part C).

Every failure of a command, usage errors and I/O errors included, is one line
``error: PATH: problem`` on stderr with exit status 1 and no traceback; the path is the one the
user gave (never gaia-audio's temporary name, never a file's stem). CLI options, recipe keys and
a model file's stored recipe are held to the same bounds (sample rates that hold the band,
iteration counts, ranges, devices this machine has), and a value out of bounds is refused before
any work, naming the key, the value and the file.

The read-only and full file systems are small tmpfs mounts (as root in a container), a folder made
immutable with ``chattr +i``, or (not root) a folder without write permission; a test is skipped,
with the reason, where none of these can be made.
"""
from __future__ import annotations

import errno
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner
from tiny_model import synthetic_unit, train_tiny_model, write_wav

from gaia_audio.bounds import MAX_N_ITER, MAX_SR
from gaia_audio.cli.main import main
from gaia_audio.config import load_config
from gaia_audio.errors import AudioError, ConfigError, one_line, shown_path
from gaia_audio.io import audio
from gaia_audio.io.checks import check_signal
from gaia_audio.models.export import load_network
from gaia_audio.stimuli.export import ExportSettings
from gaia_audio.stimuli.manifest import write_continuum_manifest

# ------------------------------------------------------------------ read-only and full file systems


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True)


def _mount_tmpfs(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` on ``folder``; None on success, else why it cannot be done."""
    if shutil.which("mount") is None:
        return "no mount command"
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


def _unmount(folder: Path) -> None:
    _run("umount", "-l", str(folder))


def _writes_fail(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty folder where every write fails: a read-only tmpfs, else ``chattr +i``, else mode 0555 (not root)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    why = _mount_tmpfs(folder, "1m")
    if why is None:
        remount = _run("mount", "-o", "remount,ro", str(folder))
        if remount.returncode == 0 and _writes_fail(folder):
            yield folder
            _unmount(folder)
            return
        _unmount(folder)
        why = f"remount,ro failed: {remount.stderr.strip()}"
    if shutil.which("chattr") and _run("chattr", "+i", str(folder)).returncode == 0:
        try:
            if _writes_fail(folder):
                yield folder
                return
        finally:
            _run("chattr", "-i", str(folder))
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            if _writes_fail(folder):
                yield folder
                return
        finally:
            folder.chmod(0o755)
    pytest.skip(f"cannot make a read-only folder here (tmpfs: {why}; chattr +i and chmod do not stop root)")


@pytest.fixture
def full_dir(tmp_path):
    """A folder on a 64 KiB tmpfs (a disk that fills at once); skipped where tmpfs cannot be mounted."""
    folder = tmp_path / "full"
    folder.mkdir()
    why = _mount_tmpfs(folder, "64k")
    if why is not None:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root in a container that allows mount): {why}")
    yield folder
    _unmount(folder)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill ``folder``'s file system with one filler file until at most ``leave`` bytes stay free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / ".filler", "wb") as fh:
        try:
            fh.write(b"\0" * max(0, free - leave))
            fh.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC


# ------------------------------------------------------------------ a tiny model and inputs


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny trained model, two units at 44.1 kHz, a mono file and a file at 100 Hz."""
    root = tmp_path_factory.mktemp("faults_values")
    run = train_tiny_model(root)
    t = np.arange(200) / 100
    files = {
        "a": write_wav(root / "a.wav", synthetic_unit(0, 0), 44100),
        "b": write_wav(root / "b.wav", synthetic_unit(1, 1), 44100),
        "hz100": write_wav(root / "hz100.wav", (0.5 * np.sin(2 * np.pi * 10 * t)).astype(np.float32), 100),
        "hz100_soft": write_wav(root / "hz100_soft.wav", (1e-4 * np.sin(2 * np.pi * 10 * t)).astype(np.float32),
                                 100),
    }
    return root, run, files


#: a morph that runs to its end as fast as the tiny model allows: two steps, no figure, no per-pair tuning
FAST = ["--steps", 2, "--no-plot", "--tune-steps", 0]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result) -> str:
    """The error of a failed command: exit status 1, and stderr's last line, the only one that is not a
    ``note:``, is ``error: ...``; no traceback, no usage text."""
    lines = result.stderr.splitlines()
    assert result.exit_code == 1, result.output
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in result.output, result.output
    assert all(line.startswith("note: ") for line in lines[:-1]) and "Usage:" not in result.output, result.output
    return lines[-1]


def with_stored(run: Path, dest: Path, **changes) -> Path:
    """A copy of ``run``'s model whose stored recipe has ``changes`` ({"section.key": value})."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = run / "model.safetensors"
    with safe_open(str(src), framework="pt") as fh:
        metadata = dict(fh.metadata())
    stored = yaml.safe_load(metadata["config"])
    for key, value in changes.items():
        section, name = key.split(".")
        stored[section][name] = value
    metadata["config"] = yaml.safe_dump(stored)
    dest.mkdir(parents=True)
    save_file(load_file(str(src)), str(dest / "model.safetensors"), metadata=metadata)
    return dest


# ------------------------------------------------------------------ one error format


@pytest.mark.parametrize("args", [
    ["morph", "A"],                                          # one input
    ["morph", "A", "B", "--steps", "1"],                     # out of range
    ["morph", "A", "B", "--nope"],                           # unknown option
    ["continuum"],                                           # neither PAIRS nor --grid
    ["nosuchcommand"],
    ["trials", "somewhere", "--design", "identification", "--distance", "1"],
])
def test_usage_errors_are_one_line_and_exit_1(setup, tmp_path, args):
    _, run, f = setup
    args = [{"A": f["a"], "B": f["b"]}.get(a, a) for a in args]
    if args[0] in ("morph", "continuum"):
        args += ["-m", run, "-o", tmp_path / "out"]
    text = one_error_line(invoke(*args))
    assert "--help" in text  # says where the options are listed
    assert not (tmp_path / "out").exists()


def test_a_real_process_exits_1_on_a_usage_error(setup, tmp_path):
    _, run, f = setup
    proc = subprocess.run([sys.executable, "-m", "gaia_audio", "morph", str(f["a"]), str(f["b"]), "-m", str(run),
                           "-o", str(tmp_path / "out"), "--steps", "0"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "--steps" in proc.stderr


@pytest.mark.parametrize("args", [["zebra_finch", "--out"], ["speech", "--out", "x"], ["zebra_finch", "--sr", "abc"]])
def test_prepare_usage_errors_are_one_line_and_exit_1(args):
    text = one_error_line(invoke("prepare", *args))
    assert text.startswith(f"error: gaia-audio prepare {args[0]}: ") and text.endswith("--help)"), text


def test_help_and_version_still_exit_0():
    assert invoke("--version").exit_code == 0
    assert invoke("morph", "--help").exit_code == 0


def test_errors_show_the_path_the_user_gave_not_a_temporary_name():
    assert shown_path("out/.morph_ab.tmp-4242/step_00.wav") == "out/morph_ab/step_00.wav"
    assert shown_path("ro/.r.wav.4895.tmp.wav") == "ro/r.wav"
    assert shown_path("runs/x/.model.safetensors.77.tmp") == "runs/x/model.safetensors"
    assert shown_path("/data/.old.wav") == "/data/.old.wav"  # a user's hidden file stays as it is
    err = OSError(errno.EROFS, "Read-only file system", "ro/.out.tmp-12")
    assert one_line(err) == "ro/out: Read-only file system"
    assert one_line(AudioError("disk full\nwhile writing", "o/.o.tmp-3/manifest.csv")) == \
        "o/o/manifest.csv: disk full while writing"


@pytest.mark.parametrize("command", ["morph", "resynth", "spectrogram", "train", "evaluate"])
def test_a_read_only_output_folder_is_one_line_naming_it(setup, read_only_dir, command):
    root, run, f = setup
    target = {"morph": read_only_dir / "out", "resynth": read_only_dir / "r.wav",
              "spectrogram": read_only_dir / "r.png", "train": read_only_dir / "run",
              "evaluate": read_only_dir / "ev"}[command]
    args = {"morph": ["morph", f["a"], f["b"], "-m", run, "-o", target, *FAST],
            "resynth": ["resynth", f["a"], target],
            "spectrogram": ["spectrogram", f["a"], target],
            "train": ["train", "zebra_finch", "--run-dir", target, "--quiet", "--set", f"data.root={root / 'data'}",
                      "--set", "data.prepare=null", "--set", "train.steps=1"],
            "evaluate": ["evaluate", run, "--out", target, "--pairs", 4, "--critic-steps", 1]}[command]
    text = one_error_line(invoke(*args))
    assert text.startswith(f"error: {target}") and ".tmp" not in text, text
    assert list(read_only_dir.iterdir()) == []


def test_a_disk_that_fills_while_the_manifest_is_written_is_one_line(setup, full_dir, monkeypatch):
    from gaia_audio.stimuli import export

    _, run, f = setup
    write_manifest = export.write_continuum_manifest

    def fill_then_write(path, rows):  # the disk fills up just as the manifest is written
        fill(full_dir)
        return write_manifest(path, rows)

    monkeypatch.setattr(export, "write_continuum_manifest", fill_then_write)
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", run, *FAST, "-o", full_dir / "out"))
    assert text.startswith(f"error: {full_dir / 'out' / 'manifest.csv'}: disk full"), text
    assert sorted(p.name for p in full_dir.iterdir()) == [".filler"]  # no temporary folder left


def test_a_full_disk_is_one_line_naming_the_output_whatever_file_it_hits(setup, full_dir):
    _, run, f = setup
    fill(full_dir)
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", run, *FAST, "-o", full_dir / "out"))
    assert sorted(p.name for p in full_dir.iterdir()) == [".filler"]
    assert text.startswith(f"error: {full_dir / 'out'}") and ".tmp" not in text, text


def test_the_manifest_on_a_full_disk_is_an_error_naming_it(full_dir):
    from gaia_audio.errors import GaiaError

    fill(full_dir)
    rows = [{"file": "step_00.wav", "step": 0, "alpha": 0.0, "duration_s": 0.1, "file_duration_s": 0.1,
             "level_db": -20.0, "loudness_lufs": None}]
    with pytest.raises(GaiaError) as info:
        write_continuum_manifest(full_dir / "manifest.csv", rows)
    assert one_line(info.value).startswith(f"{full_dir / 'manifest.csv'}: disk full")
    assert sorted(p.name for p in full_dir.iterdir()) == [".filler"]


# ------------------------------------------------------------------ CLI values


@pytest.mark.parametrize("option, values, named", [
    ("--alpha-range", ["-1e30", "1e30"], "--alpha-range"),
    ("--alpha-range", ["nan", "1"], "--alpha-range"),
    ("--silence-ms", ["inf", "0"], "--silence-ms"),
    ("--silence-ms", ["0", "-1"], "--silence-ms"),
    ("--ramp-ms", ["inf"], "--ramp-ms"),
    ("--level", ["nan"], "--level"),
    ("--steps", ["10001"], "--steps"),
    ("--sr", ["1e9"], "--sr"),
    ("--sr", [str(10**9)], "--sr"),
    ("--device", ["foo"], "--device"),
    ("--device", ["cuda:99"], "--device"),
])
def test_export_options_out_of_bounds_are_refused_before_any_work(setup, tmp_path, option, values, named):
    _, run, f = setup
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", run, "-o", tmp_path / "out", option, *values))
    assert named in text and values[0] in text.replace("+", ""), text
    assert list(tmp_path.iterdir()) == []


def test_cuda_on_a_machine_without_cuda_is_one_line(setup, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is valid here")
    _, run, f = setup
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", run, "-o", tmp_path / "out", "--device", "cuda"))
    assert "--device" in text and "'cuda'" in text


def test_an_output_rate_below_the_models_band_is_refused(setup, tmp_path):
    _, run, f = setup
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", run, "-o", tmp_path / "out", "--sr", 1000, *FAST))
    assert "model.safetensors: output sample rate --sr 1000 Hz cannot hold the model's band up to 8000 Hz" in text
    assert not (tmp_path / "out").exists()


def test_resynth_iterations_are_bounded(setup, tmp_path):
    _, _, f = setup
    text = one_error_line(invoke("resynth", f["a"], tmp_path / "r.wav", "--n-iter", MAX_N_ITER + 1))
    assert "--n-iter" in text and str(MAX_N_ITER + 1) in text


@pytest.mark.parametrize("field, value", [("silence_before_ms", math.inf), ("silence_after_ms", -1.0),
                                          ("ramp_ms", math.nan), ("sr", 10**9), ("sr", 22050.5),
                                          ("level", 1e30), ("peak_db", math.nan)])
def test_export_settings_refuse_values_out_of_bounds(field, value):
    with pytest.raises(ConfigError, match=re.escape(f"'{field}' must be ") + ".*" + re.escape(f"got {value!r}")):
        ExportSettings(**{field: value})


def test_export_settings_check_the_models_band():
    ExportSettings(sr=16000).check_band(8000.0, "m.safetensors")
    ExportSettings().check_band(8000.0, "m.safetensors")
    with pytest.raises(ConfigError, match=r"m.safetensors: output sample rate --sr 15999 Hz cannot hold"):
        ExportSettings(sr=15999).check_band(8000.0, "m.safetensors")


# ------------------------------------------------------------------ recipe keys and stored recipes


@pytest.mark.parametrize("override, key", [("inversion.n_iter=1000000000", "inversion.n_iter"),
                                           ("inversion.n_iter=-1", "inversion.n_iter"),
                                           (f"frontend.sr={MAX_SR + 1}", "frontend.sr"),
                                           ("frontend.n_frames=1000000", "frontend.n_frames"),
                                           ("inversion.method=magic", "inversion.method"),
                                           ("model.width=100000000", "model.width")])
def test_recipe_values_out_of_bounds_name_the_key_value_and_file(override, key):
    with pytest.raises(ConfigError) as info:
        load_config("zebra_finch", [override])
    text = str(info.value)
    assert f"'{key}'" in text and override.split("=")[1] in text and "zebra_finch.yaml" in text, text


def test_a_recipe_rate_below_its_band_names_the_keys(setup, tmp_path):
    root, _, _ = setup
    text = one_error_line(invoke("train", "zebra_finch", "--run-dir", tmp_path / "run", "--quiet",
                                 "--set", f"data.root={root / 'data'}", "--set", "data.prepare=null",
                                 "--set", "train.steps=1", "--set", "frontend.sr=1000"))
    assert "frontend.sr=1000" in text and "8000 Hz" in text, text


@pytest.mark.parametrize("changes, named", [
    ({"inversion.n_iter": 10**9}, "'inversion.n_iter' must be in 0..1000, got 1000000000"),
    ({"frontend.sr": 10**9}, "'frontend.sr' must be null or a sample rate in 1..384000 Hz, got 1000000000"),
    ({"frontend.sr": 1000}, "frontend.sr 1000"),
    ({"model.width": 10**8}, "'model.width'"),
])
def test_a_model_with_stored_values_out_of_bounds_is_refused_on_load(setup, tmp_path, changes, named):
    _, run, f = setup
    bad = with_stored(run, tmp_path / "bad", **changes)
    with pytest.raises(ConfigError) as info:
        load_network(bad)
    assert named in str(info.value) and str(bad / "model.safetensors") in str(info.value)
    # morph refuses it at once (a stored n_iter of 1e9 would hang it), naming the file
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", bad, "-o", tmp_path / "out", *FAST))
    assert text.startswith(f"error: {bad / 'model.safetensors'}: ") and named in text
    assert not (tmp_path / "out").exists()


def test_evaluate_writes_nothing_outside_its_output_folder(setup, tmp_path):
    root, run, _ = setup
    data = tmp_path / "data"
    shutil.copytree(root / "data", data, ignore=shutil.ignore_patterns("cache"))
    outside = tmp_path / "outside"
    model = with_stored(run, tmp_path / "model", **{"data.root": str(data), "data.cache_dir": str(outside)})

    def files():
        return {p for base in (tmp_path, root) for p in base.rglob("*")}

    before = files()
    res = invoke("evaluate", model, "--out", tmp_path / "ev", "--pairs", 4, "--critic-steps", 1)
    assert res.exit_code == 0, res.output
    new = files() - before
    assert new and all((tmp_path / "ev") in p.parents or p == tmp_path / "ev" for p in new), sorted(new)


# ------------------------------------------------------------------ input sounds


def test_a_channel_a_mono_input_lacks_is_refused(setup, tmp_path):
    _, run, f = setup
    assert audio.to_mono(np.ones(5), 0)[0].shape == (5,) and audio.to_mono(np.ones(5), -1)[1] is None
    with pytest.raises(AudioError, match="channel 5 out of range: the input has 1 channel"):
        audio.to_mono(np.ones(5), 5, "x.wav")
    text = one_error_line(invoke("resynth", f["a"], tmp_path / "r.wav", "--channel", 5))
    assert text == f"error: {f['a']}: channel 5 out of range: the input has 1 channel(s), numbered from 0"
    text = one_error_line(invoke("morph", f["a"], f["b"], "-m", run, "-o", tmp_path / "out", "--channel", 1, *FAST))
    assert text.startswith(f"error: {f['a']}: channel 1 out of range")  # the path, not the stem
    stereo = write_wav(tmp_path / "stereo.wav", np.stack([synthetic_unit(4), 0.5 * synthetic_unit(4)], 1), 44100)
    audio.check_channel([stereo, f["a"]], 1)  # morph picks channel 1 of the stereo input, takes the mono as it is
    with pytest.raises(AudioError, match="stereo.wav: channel 2 out of range: the input has 2 channel"):
        audio.check_channel([stereo, f["a"]], 2)
    assert not (tmp_path / "r.wav").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["hz100", "hz100_soft"])
def test_an_input_at_100_hz_is_reported_as_its_sample_rate(setup, tmp_path, name):
    _, run, f = setup
    y, sr = sf.read(f[name], dtype="float32")
    with pytest.raises(AudioError, match="sample rate 100 Hz cannot hold the front end's band"):
        check_signal(y, sr, f[name], 22050, 256, 8000.0)
    for args in (["resynth", f[name], tmp_path / "r.wav"],
                 ["morph", f[name], f["b"], "-m", run, "-o", tmp_path / "out", *FAST]):
        text = one_error_line(invoke(*args))
        assert text.startswith(f"error: {f[name]}: sample rate 100 Hz") and "quiet" not in text, text
