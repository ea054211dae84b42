"""Files written whole or not at all, file hashes, CSV tables, and text files read in any encoding.

Every file gaia-audio writes goes through :func:`atomic_write`: the content is written to a
hidden temporary file in the destination's folder, flushed to disk, and renamed over the
destination. A crash, a full disk or Ctrl-C leaves the previous file (or none), never half of one.
The file ends with the mode any program's new file gets, 0666 less the umask (0644 under the
usual umask 022, 0640 under 027), whatever the writer did (safetensors writes 0600): colleagues
on a shared server read what the umask lets them read.
Text that users hand in (manifests, annotations) is read by :func:`read_text`, whatever editor
saved it.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from gaia_audio.errors import DataError, GaiaError


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
