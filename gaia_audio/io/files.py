"""Files written whole or not at all, file hashes, CSV tables, and text files read in any encoding.

Every file gaia-audio writes goes through :func:`atomic_write`: the content is written to a
hidden temporary file in the destination's folder, flushed to disk, and renamed over the
destination. A crash, a full disk or Ctrl-C leaves the previous file (or none), never half of one.
The file ends with the mode any program's new file gets, 0666 less the umask (0644 under the
usual umask 022, 0640 under 027), whatever the writer did (safetensors writes 0600): colleagues
on a shared server read what the umask lets them read.
A folder of results (a continuum) is written the same way by :func:`atomic_folder`: filled as a
hidden temporary folder beside the destination and renamed into place at the end; an existing
folder is replaced only when the caller's check of it (:func:`first_foreign` against the files it
wrote) lets it, and is otherwise left as it was.
Text that users hand in (manifests, annotations) is read by :func:`read_text`, whatever editor
saved it.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

from gaia_audio.errors import DataError, GaiaError
from gaia_audio.io import signals


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = ".tmp", error: type[GaiaError] = GaiaError) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed over ``path``.

    The file ends with the mode a new file gets from the umask (:func:`new_file_mode`: 0644
    under umask 022), even if the writer made it 0600 (safetensors) or replaced it.

    Args:
        path: the destination; its folder is created if missing.
        suffix: ending of the temporary name (e.g. ".npy" where a writer appends its own).
        error: the GaiaError subclass to raise (AudioError for sounds, TrainingError for checkpoints).
    Yields:
        The temporary file's path, beside ``path``.
    Raises:
        error: naming ``path``, if the disk is full or the write fails (nothing is left behind).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = new_file_mode(tmp)
        yield tmp
        if stat.S_IMODE(os.stat(tmp).st_mode) != mode:  # the writer replaced the file, or chmod-ed it
            os.chmod(tmp, mode)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise error("disk full while writing; the previous file is intact", path) from None
        raise error(f"could not write ({err.strerror or err})", path) from None
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``path`` to fill; on success it is renamed to ``path``.

    A failure or an interruption (Ctrl-C; SIGTERM under :func:`signals.handled`) removes the
    temporary folder, and the parent folders made for it, before the exception goes on: nothing
    is left. An existing ``path`` is replaced only if ``replace`` is given: the old folder is
    renamed aside, ``replace(aside)`` checks it again (a file added since the caller's first check
    counts; raise to keep the folder, which is then put back untouched), the new folder is renamed
    in and the old one deleted. The renames are one step for signals (:func:`signals.deferred`)
    and end with :func:`signals.output_complete`: a signal after them no longer fails the command.

    Args:
        path: the destination folder.
        replace: checks an existing folder before it is deleted; None: an existing ``path`` is an error.
    Yields:
        The temporary folder, ``.NAME.tmp-PID`` beside ``path``.
    Raises:
        DataError: naming ``path``: it exists and may not be replaced, or a folder cannot be made or renamed.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    created: list[Path] = []
    done = False
    try:
        try:
            created = _make_folders(path.parent)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
        except OSError as err:
            raise DataError(f"cannot make the output folder ({err.strerror or err})", path) from None
        yield tmp
        _rename_into_place(tmp, path, replace)
        done = True
    finally:
        if not done:  # failed or interrupted: leave nothing of ours (after a rename both are no-ops)
            shutil.rmtree(tmp, ignore_errors=True)
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _make_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; return those made, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    for p in missing:
        p.mkdir(exist_ok=True)
    return missing


def _rename_into_place(tmp: Path, path: Path, replace: Callable[[Path], None] | None) -> None:
    """Rename ``tmp`` to ``path``, an existing ``path`` set aside, checked by ``replace`` and deleted last."""
    old = None
    with signals.deferred():
        try:
            if os.path.lexists(path):
                if replace is None:
                    raise DataError("output folder already exists (made while this command ran)", path)
                old = path.parent / f".{path.name}.old-{os.getpid()}"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                replace(old)
            os.replace(tmp, path)
        except BaseException as err:
            if old is not None and not os.path.lexists(path):
                os.replace(old, path)
            if isinstance(err, OSError):
                raise DataError(f"cannot rename the output folder into place ({err.strerror or err})", path) from None
            raise
        signals.output_complete()
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def first_foreign(folder: str | os.PathLike, outputs: Iterable[str]) -> str | None:
    """The first path under ``folder`` (sorted, relative, "/"-separated) that is not one of ``outputs``.

    Args:
        folder: the folder to look through (symbolic links in it are not followed).
        outputs: the files a writer put there, relative to ``folder`` ("a/b.wav"); the folders
            holding them are theirs too.
    Returns:
        The first other file, empty folder or symbolic link (always foreign); None if there is none.
    Raises:
        DataError: a folder in it cannot be read.
    """
    folder = Path(folder)
    outputs = set(outputs)
    theirs = {p.as_posix() for o in outputs for p in PurePosixPath(o).parents}
    found = []

    def unreadable(err: OSError):
        raise DataError(f"cannot read ({err.strerror or err})", err.filename)

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        base = Path(root)
        here = base.relative_to(folder).as_posix()
        if here != "." and here not in theirs and not dirs and not files:
            found.append(here)  # an empty folder of someone else's
        for name in dirs + files:
            rel = (base / name).relative_to(folder).as_posix()
            if (base / name).is_symlink() or (name in files and rel not in outputs):
                found.append(rel)
    return min(found, default=None)


def new_file_mode(tmp: Path) -> int:
    """Create ``tmp`` empty, as any program creates a file, and return the mode it was given.

    The umask is not read with ``os.umask(0)`` and put back: that call changes the whole process,
    so a file another thread created in between would get mode 0666. Instead the kernel applies
    the current umask (or the folder's default ACL) to a file opened with mode 0666, exactly as for
    any other program's files, on every write (a later ``os.umask`` is honoured). Writers then open
    this existing file, which keeps its mode; :func:`atomic_write` sets the mode again before the
    rename in case one replaced the file.

    Args:
        tmp: the temporary file to create (a stale one of the same name is removed first).
    Returns:
        Its permission bits, e.g. 0o644 under umask 022.
    """
    tmp.unlink(missing_ok=True)  # a leftover of a killed run would keep its own mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        return stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(path: str | os.PathLike, header: list[str], rows: list[list]) -> Path:
    """Write a CSV table (a header row, then ``rows``) atomically; returns the path."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    return Path(path)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_text(path: str | os.PathLike) -> str:
    """A text file's contents, written as UTF-16 (with BOM), UTF-8 or, failing those, Latin-1.

    Raises:
        DataError: naming ``path``: missing, unreadable, or not text (NUL bytes, bad UTF-16).
    """
    path = Path(path)
    return decode_text(read_bytes(path), path)


def read_bytes(path: Path) -> bytes:
    """Read a whole file, turning OS errors into a DataError naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except OSError as err:
        raise DataError(f"cannot read file ({err.strerror})", path) from None


def decode_text(raw: bytes, path: Path) -> str:
    """Decode text written as UTF-16 (with BOM), UTF-8 or, failing that, Latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError("text file is not valid UTF-16", path) from None
    if b"\x00" in raw:
        raise DataError("not a text file (holds NUL bytes)", path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
