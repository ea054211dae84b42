"""One writer per run folder: ``RUN/.train.lock``, held with ``flock`` while ``train`` runs.

The kernel releases an ``flock`` when its holder exits, however it exits (SIGKILL and power loss
included), so a crashed run never leaves its folder locked. The lock file stays in the folder;
what counts is the lock on it, not its existence. While held it names the holder (pid, host,
command, start time), so a second ``train`` on the same folder is a one-line error saying who is
writing there. On file systems without locks (Lustre mounted without ``flock``) a note says so and
training goes on unlocked.

Written with ``fcntl`` rather than the ``filelock`` package: filelock truncates the lock file on
every attempt, so a failed attempt would erase the holder's name that the error needs.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gaia_audio.errors import TrainingError
from gaia_audio.io.checks import print_note

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: the lock file's name inside a run folder
LOCK_NAME = ".train.lock"
#: flock errors meaning "this file system has no locks", not "someone holds it"
_NO_LOCKS = {errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL}


def holder_info() -> dict:
    """Who this process is: pid, host, command line (shortened) and start time."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = f"python -m {program.parent.name}" if program.name == "__main__.py" else program.name
    command = " ".join([name, *sys.argv[1:]])
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command[:200],
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def describe_holder(path: Path) -> str:
    """The holder named in a lock file, as words ("pid 123 on host x since ..., running: ..."), or a vaguer phrase."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return (f"pid {int(info['pid'])} on host {info['host']} since {info['started']}, "
                f"running: {info['command']}")
    except (OSError, ValueError, KeyError, TypeError):  # being written just now, or emptied
        return "another process"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, on_note: Callable[[str], None] = print_note) -> Iterator[Path]:
    """Hold the run folder's lock for the duration of the ``with`` block.

    The folder is created if missing; if it was created here and still holds nothing but the
    lock file when the block fails, it is removed again (a run that never started leaves nothing).

    Args:
        run_dir: the run folder.
        on_note: receives a one-line note when the file system cannot lock.
    Yields:
        The lock file's path.
    Raises:
        TrainingError: naming the folder: another process holds the lock (the message names it),
            or the folder cannot be created.
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    path = run_dir / LOCK_NAME
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise TrainingError(f"cannot create the run folder's lock file ({err.strerror or err})", run_dir) from None
    try:
        _acquire(fd, path, run_dir, on_note)
    except BaseException:
        os.close(fd)
        raise
    finished = False
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_info()).encode(), 0)
        yield path
        finished = True
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # only a live holder is ever named
            if created and not finished and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
                path.unlink()  # still ours: nobody else can have it while we hold the lock
                run_dir.rmdir()
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path, run_dir: Path, on_note: Callable[[str], None]) -> None:
    """flock ``fd`` without waiting, or raise a TrainingError naming the holder."""
    if fcntl is None:  # pragma: no cover - Windows
        on_note(f"{run_dir}: this platform has no file locks; nothing stops a second train here")
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in _NO_LOCKS:
            on_note(f"{run_dir}: the file system cannot lock files ({err.strerror}); nothing stops a second "
                    "train here")
            return
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise TrainingError(f"cannot lock the run folder ({err.strerror or err})", run_dir) from None
        raise TrainingError(f"another train is writing this run folder ({describe_holder(path)}); wait for it "
                            "to end, or choose another --run-dir", run_dir) from None
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            return
    # The lock file was removed between our open and our flock (a failed start cleaning up).
    raise TrainingError("the run folder changed while it was being locked; start again", run_dir)
