"""Nothing lost, nothing hung: safe --overwrite, real signals to real processes, streamed continua.

- ``--overwrite`` replaces only a folder gaia-audio wrote (provenance.json says so and lists its
  files) that holds nothing else; a foreign file is named and nothing is deleted; an output folder
  that is or holds the current folder, or holds an input, is refused with or without it.
- SIGINT and SIGTERM during ``morph``/``continuum``/``resynth`` leave no temporary folder and no
  child process, print one line and exit 130/143; a finished output exits 0; the drawing worker
  dies with its parent and never writes into a folder that was removed.
- A long continuum is made and written a chunk of steps at a time: memory does not grow with it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_model import synthetic_unit, train_tiny_model, write_wav

from gaia_audio.cli.main import main
from gaia_audio.errors import DataError, GaiaError
from gaia_audio.io import files, signals
from gaia_audio.morph import finish as finish_module
from gaia_audio.morph import series, stream
from gaia_audio.morph.series import MorphResult
from gaia_audio.render.figures import Worker
from gaia_audio.stimuli import export as continuum
from gaia_audio.stimuli.export import ExportSettings, export
from gaia_audio.stimuli.output_folder import check_names, check_output

SR = 22050


def _result(name: str = "a_to_b", n: int = 4, seconds: float = 0.08) -> MorphResult:
    """A stand-in continuum of n tones."""
    t = np.arange(int(seconds * SR)) / SR
    waves = [(0.1 * (k + 1) * np.sin(2 * np.pi * (500 + 100 * k) * t)).astype(np.float32) for k in range(n)]
    rows = [{"pair": name, "step": k, "alpha": k / (n - 1)} for k in range(n)]
    return MorphResult(waves, SR, rows, [np.full((8, 6), 0.5, np.float32)] * n, [], name)


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders and links)."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ---- --overwrite ----------------------------------------------------------------------------


def test_provenance_marks_the_folder_and_lists_every_file(tmp_path):
    out = export([_result("ab"), _result("cd")], tmp_path / "out", plot=False)
    record = json.loads((out / "provenance.json").read_text())
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert record["written_by"] == "gaia-audio" and record["outputs"] == written
    assert "ab/step_00.wav" in written and "cd/originals" not in written
    export([_result("ab")], out, overwrite=True, plot=False)  # its own folder: replaced
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "manifest.csv", "provenance.json",
                                                    "step_00.wav", "step_01.wav", "step_02.wav", "step_03.wav"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("foreign", ["notes.txt", "data/session1.wav", "empty", "link", "ab/mine.wav",
                                     "provenance.json"])
def test_overwrite_refuses_a_folder_holding_anything_else_and_deletes_nothing(tmp_path, foreign):
    out = export([_result("ab"), _result("cd")], tmp_path / "out", plot=False)
    if foreign == "empty":
        (out / "empty").mkdir()
    elif foreign == "link":
        (out / "link").symlink_to(out / "ab" / "step_00.wav")
    elif foreign == "provenance.json":  # someone else's provenance: the folder is not gaia-audio's
        (out / "provenance.json").write_text('{"tool": "other"}')
        foreign = "ab/index.html"  # then every file is foreign; the first is named
    else:
        (out / foreign).parent.mkdir(exist_ok=True)
        (out / foreign).write_bytes(b"mine")
    before = _snapshot(tmp_path)
    with pytest.raises(DataError) as err:
        export([_result("ab")], out, overwrite=True, plot=False)
    assert str(err.value) == (f"{out / foreign}: not written by gaia-audio: --overwrite replaces only a folder "
                              "gaia-audio wrote that holds nothing else (nothing was deleted)")
    assert _snapshot(tmp_path) == before


def test_overwrite_takes_an_empty_folder_but_not_a_file_or_a_link(tmp_path):
    (tmp_path / "empty").mkdir()
    export([_result()], tmp_path / "empty", overwrite=True, plot=False)
    assert (tmp_path / "empty" / "step_00.wav").is_file()
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    for name in ("file", "link"):
        with pytest.raises(DataError, match=f"^{tmp_path / name}: output path exists and is not a folder"):
            check_output(tmp_path / name, overwrite=True)
    assert (tmp_path / "link").is_symlink() and (tmp_path / "file").read_text() == "x"


def test_a_file_added_while_the_export_runs_keeps_the_old_folder(tmp_path):
    out = export([_result()], tmp_path / "out", plot=False)
    before = _snapshot(out)

    def add_a_file(note):  # called half way through the export (the "resampled" note)
        (out / "added.txt").write_text("while it ran")

    with pytest.raises(DataError, match=r"out/added.txt: not written by gaia-audio"):
        export([_result()], out, ExportSettings(sr=16000), overwrite=True, plot=False, on_note=add_a_file)
    assert _snapshot(out) == {**before, "added.txt": b"while it ran"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary or set-aside folder


def test_an_output_folder_that_is_or_holds_the_current_folder_or_an_input_is_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "inner").mkdir(parents=True)
    monkeypatch.chdir(work / "inner")
    for overwrite in (False, True):
        for out in (".", "..", str(work)):
            with pytest.raises(DataError, match=r"output folder is \(or holds\) the current folder"):
                check_output(out, overwrite)
        with pytest.raises(DataError, match=r"^sounds: output folder holds an input \(sounds/a.wav\)"):
            check_output("sounds", overwrite, ["elsewhere.wav", "sounds/a.wav"])
    assert check_output("new", True, ["a.wav"]) == Path("new")


def test_continuum_names_that_collide_with_the_exports_files_are_refused(tmp_path):
    for name in ("manifest.csv", "Index.HTML", "provenance.json", "continuum.png"):
        with pytest.raises(DataError, match=f"continuum name '{name}' is taken by a file every export writes"):
            check_names(["ab", name], "pairs.csv")
    with pytest.raises(DataError, match="cannot be a folder name"):
        check_names([".hidden"])
    with pytest.raises(DataError, match="'manifest.csv' is taken"):
        export([_result("ab"), _result("manifest.csv")], tmp_path / "out", plot=False)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny trained model and two synthetic units (44.1 kHz WAVs)."""
    root = tmp_path_factory.mktemp("faults_output")
    run = train_tiny_model(root)
    return run, write_wav(root / "a.wav", synthetic_unit(0, 0), 44100), write_wav(root / "b.wav", synthetic_unit(1, 1),
                                                                                     44100)


def test_cli_refusals_are_one_line_and_leave_everything_as_it_was(model, tmp_path, monkeypatch):
    run, a, b = model
    monkeypatch.chdir(tmp_path)
    res = _invoke("morph", a, b, "-m", run, "-o", ".", "--overwrite", "--steps", 2, "--no-plot")
    assert res.exit_code == 1 and res.stderr == ("error: .: output folder is (or holds) the current folder; "
                                                 "choose another --out\n")
    res = _invoke("morph", a, b, "-m", run, "-o", "out", "--steps", 2, "--no-plot", "--tune-steps", 0)
    assert res.exit_code == 0, res.output
    before = _snapshot(tmp_path)
    # an input from the folder being replaced (a step of the last continuum)
    res = _invoke("morph", "out/step_00.wav", b, "-m", run, "-o", "out", "--overwrite", "--steps", 2, "--no-plot")
    assert res.exit_code == 1 and res.stderr == ("error: out: output folder holds an input (out/step_00.wav); "
                                                 "choose another --out\n")
    (tmp_path / "out" / "notes.txt").write_text("keep me")
    res = _invoke("morph", a, b, "-m", run, "-o", "out", "--overwrite", "--steps", 2, "--no-plot")
    assert res.exit_code == 1 and res.stderr.startswith("error: out/notes.txt: not written by gaia-audio")
    assert res.stderr.count("\n") == 1
    (tmp_path / "pairs.csv").write_text(f"a,b,name\n{a},{b},manifest.csv\n")
    res = _invoke("continuum", "pairs.csv", "-m", run, "-o", "many", "--steps", 2)
    assert res.exit_code == 1 and res.stderr.startswith("error: pairs.csv: continuum name 'manifest.csv' is taken")
    assert _snapshot(tmp_path) == {**before, "out/notes.txt": b"keep me", "pairs.csv": (tmp_path / "pairs.csv")
                                   .read_bytes()}


# ---- signals ------------------------------------------------------------------------------------


def _live(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _leftovers(parent: int, marker: str) -> list[int]:
    """Live processes whose parent was ``parent`` or whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if (ppid == parent or marker in cmdline) and _live(int(entry.name)):
            found.append(int(entry.name))
    return found


def _gaia(*args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gaia_audio", *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(condition, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find children")


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize("signum, code, line", [(signal.SIGTERM, 143, "error: terminated by SIGTERM\n"),
                                                (signal.SIGINT, 130, "error: interrupted\n")])
def test_a_signal_during_the_export_leaves_nothing_and_exits_128_plus_its_number(model, tmp_path, signum, code,
                                                                                  line):
    run, a, b = model
    out = tmp_path / f"out-{signum}"  # a marker in the command line of the process and any child it forks
    proc = _gaia("morph", a, b, "-m", run, "-o", out, "--steps", 400, "--tune-steps", 0, cwd=tmp_path)
    try:
        _wait_for(lambda: (tmp_path / f".{out.name}.tmp-{proc.pid}").exists() or proc.poll() is not None,
                  "the temporary folder")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)  # no child may hold stdout open
    finally:
        proc.kill()
    *notes, last = stderr.splitlines(keepends=True)
    assert proc.returncode == code and last == line and stdout == ""
    assert all(note.startswith("note: ") for note in notes)
    assert list(tmp_path.iterdir()) == []
    assert _leftovers(proc.pid, str(out)) == []


@pytest.mark.slow
@needs_proc
def test_a_signal_after_the_output_is_in_place_exits_0(model, tmp_path):
    run, a, b = model
    out = tmp_path / "done"
    proc = _gaia("morph", a, b, "-m", run, "-o", out, "--steps", 3, "--tune-steps", 0, cwd=tmp_path)
    try:
        written = proc.stdout.readline()  # "3 sounds written to ...": the folder is in place
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert "3 sounds written" in written and proc.returncode == 0, stderr
    assert (out / "continuum.png").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["done"]


@needs_proc
def test_sigterm_during_resynth_exits_143_and_writes_nothing(tmp_path):
    y = (1e-4 * np.sin(2 * np.pi * 2000 * np.arange(60 * 32000) / 32000)).astype(np.float32)  # near silent: a note
    write_wav(tmp_path / "quiet.wav", y, 32000)
    proc = _gaia("resynth", "quiet.wav", "out.wav", "--n-iter", 1000, cwd=tmp_path)  # a minute of work
    try:
        note = proc.stderr.readline()  # printed once the input is read: the command is running
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert note.startswith("note: ") and proc.returncode == 143 and stderr == "error: terminated by SIGTERM\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quiet.wav"]


def test_sigterm_in_the_export_cleans_up_and_after_the_rename_is_only_noted(tmp_path, monkeypatch):
    real_save, calls = continuum.audio.save, []

    def save_then_signal(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(continuum.audio, "save", save_then_signal)
    with signals.handled(), pytest.raises(signals.Terminated) as err:
        export([_result()], tmp_path / "out", plot=False)
    assert signals.exit_code(err.value) == 143 and list(tmp_path.iterdir()) == []
    monkeypatch.setattr(continuum.audio, "save", real_save)

    real_replace = os.replace

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        if Path(dst) == tmp_path / "out":
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(files.os, "replace", replace_then_signal)
    with signals.handled():
        out = export([_result()], tmp_path / "out", plot=False)
        assert signals.received() == signal.SIGTERM  # noted, not raised: the output is complete
    assert (out / "provenance.json").is_file() and [p.name for p in tmp_path.iterdir()] == ["out"]


def _slow_write(folder: str, started: str) -> None:
    Path(started).write_text("drawing")
    time.sleep(1.5)
    files.write_text(Path(folder) / "continuum.png", "drawn too late")


def test_an_aborted_worker_never_writes_into_a_removed_folder(tmp_path):
    folder, started, outcome = tmp_path / ".out.tmp-1", tmp_path / "started", []
    folder.mkdir()
    with Worker() as worker:
        def draw():
            try:
                worker.run(_slow_write, str(folder), str(started))
            except GaiaError as err:
                outcome.append(str(err))

        thread = threading.Thread(target=draw)
        thread.start()
        _wait_for(started.exists, "the drawing to start", 60)
        worker.abort()
        folder.rmdir()
        thread.join()
    time.sleep(2.0)  # past the moment the drawing would have written
    assert outcome == ["not drawn: the drawing process was stopped"] and not folder.exists()


@needs_proc
def test_the_drawing_worker_dies_with_its_parent(tmp_path):
    script = ("import os, signal\nfrom gaia_audio.render.figures import Worker\nworker = Worker()\n"
              "print(worker.run(os.getpid), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    child = int(proc.stdout)
    _wait_for(lambda: not _live(child), "the worker to die with its parent", 5)


# ---- streaming -------------------------------------------------------------------------------


def _streamed(n: int, seconds: float) -> MorphResult:
    """A streamed stand-in series: each chunk of tones is made when read."""
    t = np.arange(int(seconds * SR)) / SR
    rows = [{"pair": "long", "step": k, "alpha": k / (n - 1)} for k in range(n)]

    def make():
        for start in range(0, n, stream.STREAM_CHUNK):
            ks = range(start, min(start + stream.STREAM_CHUNK, n))
            yield ([(0.2 * np.sin(2 * np.pi * (400 + k) * t)).astype(np.float32) for k in ks],
                   [np.full((8, 6), 0.5, np.float32) for _ in ks])

    steps = stream.StepStream(make, rows)
    return MorphResult(stream.LazySteps(steps, "waveforms"), SR, stream.LazySteps(steps, "rows"),
                       stream.LazySteps(steps, "spectrograms"), name="long", stream=steps)


def _peak_export_memory(tmp_path: Path, n: int, seconds: float) -> int:
    tracemalloc.start()
    try:
        export([_streamed(n, seconds)], tmp_path / f"out{n}", plot=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_memory_does_not_grow_with_the_number_of_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_CHUNK", 8)  # few, long steps: the test's memory is the waveforms'
    n_small, n_large = 2 * stream.STREAM_CHUNK, 6 * stream.STREAM_CHUNK
    small, large = _peak_export_memory(tmp_path, n_small, 2.0), _peak_export_memory(tmp_path, n_large, 2.0)
    one_chunk = stream.STREAM_CHUNK * int(2.0 * SR) * 4  # bytes of one chunk's float32 waveforms
    assert large < small + one_chunk, (small, large)  # holding every step would add 4 chunks or more
    assert len(list((tmp_path / f"out{n_large}").glob("step_*.wav"))) == n_large


def test_steps_made_a_chunk_at_a_time_equal_steps_made_at_once(model, monkeypatch, one_torch_thread):
    import torch

    from gaia_audio.io import audio
    from gaia_audio.morph.model import load_model, make_endpoint

    run, a, b = model
    vm = load_model(run)
    ends = [make_endpoint(vm, *audio.load(p, mono=False), p.stem) for p in (a, b)]
    from gaia_audio.morph.steps import Series

    torch.manual_seed(0)
    codes = torch.randn(10, int(vm.model.code_dim))
    n = len(ends[0].y)  # one length: a batch's padding (which shapes each tail) is the same

    class Codes(Series):  # step k decodes code k (any series renders through Series.render)
        def __init__(self):
            self.vm = vm

        def decode(self, positions):
            return vm.decode_codes(codes[torch.as_tensor(positions, dtype=torch.long)])

        def untile(self, tiles, position):
            return vm.from_tile(tiles, vm.frames_for(n)), n

    previous = [None, 0, 1, 2, 0, 4, 5, 1, 7, 8]  # a later chunk compares with an early step

    def finish():
        rows = [{"step": k} for k in range(10)]
        return finish_module.finish_series(Codes(), np.arange(10), rows, {0: ends[0]}, "ab", [], ends, previous)

    whole = finish()
    monkeypatch.setattr(finish_module, "STREAM_CHUNK", 4)
    monkeypatch.setattr(stream, "STREAM_CHUNK", 4)
    streamed = finish()
    assert whole.stream is None and streamed.stream is not None and len(streamed.waveforms) == 10
    sizes, waveforms = [], []
    for chunk, _ in streamed.chunks():
        sizes.append(len(chunk))
        waveforms += chunk
    assert sizes == [4, 4, 2] and streamed.stream.kept is None  # made a chunk at a time, none kept
    for y, y_whole in zip(waveforms, whole.waveforms):  # inverted in batches of other sizes: ~1e-5 apart
        np.testing.assert_allclose(y, y_whole, atol=1e-3)
    assert streamed.rows[0]["fidelity_db"] is not None and streamed.rows[7]["distance_prev"] > 0
    for row, row_whole in zip(streamed.rows, whole.rows):
        assert row.keys() == row_whole.keys()
        for key, value in row.items():
            expected = row_whole[key]
            assert value == (pytest.approx(expected, rel=1e-3, abs=1e-3) if isinstance(expected, float) else expected)
    pair = series.morph_pair(vm, *ends, steps=10, tune_steps=0)  # a morph's steps, streamed the same way
    assert pair.stream is not None and [len(w) for w, _ in pair.chunks()] == [4, 4, 2]
    assert [row["step"] for row in pair.rows] == list(range(10)) and pair.rows[9]["level_db"] is not None
