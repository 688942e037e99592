"""End to end: the real ``feedsvc`` command in a subprocess on temp folders."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLE, feedsvc, snapshot, write_seeds
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"


def test_publish_on_the_sample_then_again_changes_nothing(project: Path) -> None:
    shutil.copy(SAMPLE, project / "seeds")
    first = feedsvc("publish", cwd=project)
    assert "1 new" in first.stderr
    out = project / "data" / "feeds"
    for rel in (
        "atom.xml",
        "rss.xml",
        "national/atom.xml",
        "national/rss.xml",
        "national/politics/atom.xml",
        "national/politics/rss.xml",
        "index.html",
        "national/index.html",
        "national/politics/index.html",
    ):
        assert (out / rel).is_file(), rel
    atom = etree.parse(str(out / "national" / "politics" / "atom.xml")).getroot()
    entries = atom.findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert entries[0].findtext(f"{ATOM}title", "").startswith("Top diplomats from Japan and Russia")
    assert entries[0].findtext(f"{ATOM}author/{ATOM}name") == "Daisuke Kikuchi"
    before = snapshot(out)
    time.sleep(0.05)
    second = feedsvc("publish", cwd=project)
    assert "1 unchanged" in second.stderr
    assert snapshot(out) == before  # same bytes and same mtimes: nothing rewritten


def test_duplicate_and_revision_through_the_cli(project: Path) -> None:
    seeds = project / "seeds"
    text = SAMPLE.read_text(encoding="utf-8")
    (seeds / "001_a.txt").write_text(text, encoding="utf-8")
    # the same text with CRLF and a BOM under another name: a duplicate
    (seeds / "002_b.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    # a typo fixed later: a revision of the same entry
    (seeds / "003_c.txt").write_text(
        text.replace("constructive, although", "constructive although"), encoding="utf-8"
    )
    result = feedsvc("ingest", "-v", cwd=project)
    assert "1 new, 1 revised, 1 duplicate, 0 unchanged, 0 rejected" in result.stderr
    status = json.loads(feedsvc("status", "--json", cwd=project).stdout)
    assert json.dumps(status)  # machine-readable
    assert "National / Politics" in json.dumps(status, ensure_ascii=False)


def test_rejected_files_are_reported_and_only_fail_with_strict(project: Path) -> None:
    shutil.copy(SAMPLE, project / "seeds")
    (project / "seeds" / "junk.txt").write_bytes(b"\x00\x01\x02binary\xff\xfe")
    (project / "seeds" / "empty.txt").write_bytes(b"")
    (project / "seeds" / "notes.md").write_text("ignored: not a seed pattern")
    result = feedsvc("publish", cwd=project)
    assert "junk.txt" in result.stderr and "empty.txt" in result.stderr
    assert "notes.md" not in result.stderr
    assert "Traceback" not in result.stderr
    status = feedsvc("status", cwd=project).stdout
    assert "junk.txt" in status and "empty.txt" in status
    # rejected files are not re-read until they change, so --strict passes now …
    assert feedsvc("publish", "--strict", cwd=project).returncode == 0
    # … and fails when a new bad file arrives
    (project / "seeds" / "more-junk.txt").write_bytes(b"\x00" * 10)
    strict = feedsvc("publish", "--strict", cwd=project, check=False)
    assert strict.returncode == 1
    assert "more-junk.txt" in strict.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[site]\nbase_url = 'nope'\n", "site.base_url"),
        ("[publish]\nentries = 5\n", "publish.entries"),
    ],
)
def test_bad_config_is_one_line_and_exit_2_before_anything_is_touched(
    project: Path, config: str, message: str
) -> None:
    (project / "config.toml").write_text(config)
    shutil.copy(SAMPLE, project / "seeds")
    result = feedsvc("publish", cwd=project, check=False)
    assert result.returncode == 2
    assert message in result.stderr and "config.toml" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / "data" / "feedsvc.db").exists()


def test_missing_seeds_folder_exit_3(project: Path) -> None:
    result = feedsvc("ingest", "--seeds", project / "nowhere", cwd=project, check=False)
    assert result.returncode == 3
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_flags_override_the_config(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    shutil.copytree(project / "seeds", other)
    shutil.copy(SAMPLE, other)
    feedsvc(
        "publish",
        "--seeds",
        other,
        "--db",
        tmp_path / "x" / "s.db",
        "--out",
        tmp_path / "o",
        cwd=project,
    )
    assert (tmp_path / "x" / "s.db").is_file()
    assert (tmp_path / "o" / "national" / "politics" / "atom.xml").is_file()
    assert not (project / "data" / "feeds").exists()


def test_help_everywhere(project: Path) -> None:
    for args in ([], ["ingest"], ["publish"], ["status"]):
        result = feedsvc(*args, "--help", cwd=project)
        assert "Usage:" in result.stdout


def _store_counts(db: Path) -> tuple[int, int, list[str]]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        files = [r[0] for r in conn.execute("SELECT path FROM files")]
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    conn.close()
    return entries, versions, files


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_large_batch_then_rerun(project: Path, tmp_path: Path) -> None:
    count = 4000
    write_seeds(project / "seeds", count)
    (project / "config.toml").write_text("[store]\nbatch_files = 500\n", encoding="utf-8")
    db = project / "data" / "feedsvc.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedsvc", "publish", "-q"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait until the ingest has committed some batches, then kill without warning
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                    done = c.execute("SELECT count(*) FROM files").fetchone()[0]
                c.close()
            except sqlite3.Error:
                done = 0
            if done >= 500:
                break
        time.sleep(0.02)
    time.sleep(random.Random(7).uniform(0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial_entries, _, partial_files = _store_counts(db)
    assert len(partial_files) < count, "the kill came too late to test anything"
    assert partial_entries == len(partial_files)
    # every feed file on disk (if any was written yet) is whole XML
    for feed in (project / "data" / "feeds").rglob("*.xml"):
        etree.parse(str(feed))

    feedsvc("publish", cwd=project)
    entries, versions, files = _store_counts(db)
    assert sorted(files) == sorted(p.name for p in (project / "seeds").iterdir())
    assert entries == versions == count

    # the same folder ingested cleanly gives the same entries
    clean = tmp_path / "clean.db"
    feedsvc("ingest", "--db", clean, cwd=project)
    with sqlite3.connect(db) as a, sqlite3.connect(clean) as b:
        q = "SELECT title FROM versions ORDER BY title"
        assert a.execute(q).fetchall() == b.execute(q).fetchall()
    a.close()
    b.close()


def test_output_is_whole_when_the_command_ends(project: Path) -> None:
    """The command leaves without the interpreter's teardown: what it printed
    to a pipe (far more than any buffer holds) must all be there, and its exit
    code kept."""
    sources = "".join(f'[[sources]]\nurl = "missing/{i}.xml"\nname = "feed-{i:04d}"\n'
                      f'section = "News / Section {i}"\n' for i in range(600))
    (project / "config.toml").write_text(sources, encoding="utf-8")
    out = feedsvc("sources", "--json", cwd=project).stdout
    assert len(out) > 200_000
    listing = json.loads(out)
    assert [s["name"] for s in listing] == [f"feed-{i:04d}" for i in range(600)]
    failed = feedsvc("ingest", "--only", "feeds", "--strict", "-q", cwd=project, check=False)
    assert failed.returncode == 1 and "600 source(s) failed" in failed.stderr


_MALLOC_PROBE = """
import ctypes, sys
from feedsvc.cli import commands as cli

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
            "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

if sys.argv[1] == "tuned":
    cli._keep_freed_memory()
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblks  # blocks served by an mmap of their own
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(ctypes.c_void_p(block))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_command_keeps_large_blocks_on_the_heap() -> None:
    """A megabyte (a feed's body) comes from the heap, not from an mmap of its
    own that is unmapped on free and faulted in again for the next feed."""
    def mmapped(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", _MALLOC_PROBE, mode], capture_output=True,
                             text=True, check=False)
        if "mallinfo2" in run.stderr:
            pytest.skip("not glibc 2.33 or later")
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    assert mmapped("default") == 1
    assert mmapped("tuned") == 0


def test_numpy_starts_no_thread_of_its_own_under_the_command() -> None:
    probe = ("import os, sys\nfrom feedsvc.cli import commands as cli\n"
             "if sys.argv[1] == 'tuned': cli._one_blas_thread()\n"
             "import numpy\nprint(len(os.listdir('/proc/self/task')))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}

    def threads(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", probe, mode], capture_output=True,
                                  text=True, check=True, env=env).stdout)

    assert threads("tuned") == 1
    if (os.cpu_count() or 1) > 1:
        assert threads("default") > 1
