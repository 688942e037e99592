"""Atomic replacement on a real file system: untouched when equal, whole when not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from feedsvc.atomic import TEMP_NAME, same_content, temp_name, write_if_changed


def temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if TEMP_NAME.fullmatch(p.name)]


@pytest.mark.parametrize("durable", [True, False])
def test_writes_a_new_file_readable_by_all(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "atom.xml"
    assert write_if_changed(target, b"<feed/>", durable=durable)
    assert target.read_bytes() == b"<feed/>"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o644 & ~mask
    assert temps(tmp_path) == []


def test_identical_content_is_not_touched(tmp_path: Path) -> None:
    target = tmp_path / "rss.xml"
    write_if_changed(target, b"same")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    before = target.stat()
    assert not write_if_changed(target, b"same")
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, 1_000_000_000)


@pytest.mark.parametrize("new", [b"other", b"same!", b"longer content"])
def test_changed_content_replaces_the_file(tmp_path: Path, new: bytes) -> None:
    target = tmp_path / "index.html"
    write_if_changed(target, b"same?")
    inode = target.stat().st_ino
    assert write_if_changed(str(target), new, durable=False)
    assert target.read_bytes() == new
    # A new inode: the old file was replaced by a rename, never rewritten in place.
    assert target.stat().st_ino != inode
    assert temps(tmp_path) == []


def test_known_absent_skips_the_comparison(tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    target.write_bytes(b"same")
    inode = target.stat().st_ino
    # The caller's word is taken: a file that appeared since its scan is replaced.
    assert write_if_changed(target, b"same", durable=False, known_absent=True)
    assert target.read_bytes() == b"same" and target.stat().st_ino != inode


def test_same_content(tmp_path: Path) -> None:
    target = tmp_path / "a"
    assert not same_content(str(target), b"")
    target.write_bytes(b"abc")
    assert same_content(str(target), b"abc")
    assert not same_content(str(target), b"abd")
    assert not same_content(str(target), b"abcd")
    assert not same_content(str(tmp_path), b"abc")


def test_temporary_names_are_recognisable() -> None:
    name = temp_name("atom.xml")
    match = TEMP_NAME.fullmatch(name)
    assert match is not None and match["target"] == "atom.xml"
    assert match["pid"] == str(os.getpid())


def test_a_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "atom.xml"
    target.mkdir()
    (target / "keep").write_bytes(b"x")
    with pytest.raises(IsADirectoryError):
        write_if_changed(target, b"<feed/>")
    assert temps(tmp_path) == []
    assert (target / "keep").read_bytes() == b"x"


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path) -> None:
    """A file-size limit makes the write of the temporary file fail half-way."""
    target = tmp_path / "atom.xml"
    target.write_bytes(b"old and whole")
    script = textwrap.dedent(f"""
        import resource
        from feedsvc.atomic import write_if_changed
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_if_changed({str(target)!r}, b"x" * 100_000)
        except OSError as exc:
            print(exc.strerror)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert run.stdout == "File too large\n"
    assert target.read_bytes() == b"old and whole"
    assert temps(tmp_path) == []
