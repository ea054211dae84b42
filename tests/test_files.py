"""The one atomic write, hashes, CSV and text decoding (gaia_audio/io/files.py)."""
from __future__ import annotations

import errno
import hashlib

import pytest

from gaia_audio.errors import AudioError, DataError, GaiaError
from gaia_audio.io import files


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    files.write_text(path, "first")
    assert path.read_text() == "first"
    with pytest.raises(RuntimeError), files.atomic_write(path) as tmp:
        tmp.write_text("half of the sec")
        raise RuntimeError("interrupted")
    assert path.read_text() == "first" and sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]
    files.write_text(path, "second")
    assert path.read_text() == "second" and len(list(path.parent.iterdir())) == 1


def test_a_full_disk_is_a_one_line_error_of_the_callers_kind(tmp_path, monkeypatch):
    path = tmp_path / "out.wav"
    path.write_text("old")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(AudioError, match="disk full while writing; the previous file is intact") as err:
        with files.atomic_write(path, error=AudioError) as tmp:
            tmp.write_text("new")
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    with pytest.raises(GaiaError, match="disk full"), files.atomic_write(path) as tmp:
        tmp.write_text("new")


def test_csv_and_hash(tmp_path):
    path = files.write_csv(tmp_path / "t.csv", ["a", "b"], [[1, "x,y"], [2, ""]])
    assert path.read_bytes() == b'a,b\r\n1,"x,y"\r\n2,\r\n'
    assert files.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("raw,text", [("é".encode("utf-16"), "é"), ("\ufeffé".encode(), "é"), (b"\xe9", "é")])
def test_read_text_decodes_utf16_utf8_and_latin1(tmp_path, raw, text):
    (tmp_path / "t.txt").write_bytes(raw)
    assert files.read_text(tmp_path / "t.txt") == text


def test_read_text_refuses_binary_and_missing_files(tmp_path):
    (tmp_path / "b.bin").write_bytes(b"ab\x00cd")
    with pytest.raises(DataError, match="not a text file"):
        files.read_text(tmp_path / "b.bin")
    with pytest.raises(DataError, match="file not found"):
        files.read_text(tmp_path / "none.txt")
