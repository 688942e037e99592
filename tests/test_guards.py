"""Exit codes and guards: the real CLI in a subprocess refuses what it must,
with the documented exit code and one line naming what is at fault."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import feedsvc, seed_text

from feedsvc.config import SiteConfig, load_config
from feedsvc.daemon.heartbeat import read_heartbeat
from feedsvc.errors import ConfigError
from feedsvc.store.lock import LOCK_NAME

WRITERS = (["ingest"], ["publish"], ["run", "--once"])


def _corrupt_paragraphs(db: Path) -> None:
    """Damage what a stored version's paragraphs decode from (a store altered
    behind feedsvc's back): SQLite still accepts the row, feedsvc cannot read it."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE versions SET paragraphs = 'not a list'")
    conn.close()


def test_run_once_exits_70_when_a_job_crashes(project: Path) -> None:
    text = seed_text(random.Random(3), title="Original headline")
    (project / "seeds" / "001.txt").write_text(text)
    feedsvc("run", "--once", cwd=project)
    _corrupt_paragraphs(project / "data" / "feedsvc.db")
    # a revision of the stored article: its near-duplicate check reads the damaged row
    revised = text.replace("Original headline", "Original headline, revised") + "\nMore.\n"
    (project / "seeds" / "002.txt").write_text(revised)
    result = feedsvc("run", "--once", cwd=project, check=False)
    assert result.returncode == 70, result.stderr
    assert "seeds: internal error" in result.stderr and "Traceback" in result.stderr
    beat = read_heartbeat(project / "data")
    assert beat is not None
    seeds = beat.job("seeds")
    assert seeds is not None and seeds.last_error is not None
    assert seeds.last_error.startswith("internal error: JSONDecodeError")


def test_run_once_exits_with_the_documented_code_of_a_failed_job(project: Path) -> None:
    (project / "blocker").write_text("a file where the output folder's parent should be\n")
    (project / "config.toml").write_text('[publish]\nfolder = "blocker/feeds"\n')
    (project / "seeds" / "001.txt").write_text(seed_text(random.Random(4)))
    result = feedsvc("run", "--once", cwd=project, check=False)
    assert result.returncode == 3, result.stderr
    assert "publish:" in result.stderr and "blocker" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("store_path", ["blocker/feedsvc.db", "blocker/data/feedsvc.db"])
def test_a_data_folder_under_a_file_is_an_io_error_not_a_lock(project: Path,
                                                                store_path: str) -> None:
    (project / "blocker").write_text("not a folder\n")
    (project / "config.toml").write_text(f'[store]\npath = "{store_path}"\n')
    folder = (project / store_path).parent
    for args in WRITERS:
        result = feedsvc(*args, cwd=project, check=False)
        assert result.returncode == 3, (args, result.stderr)
        assert f"{folder}: " in result.stderr and "data folder" in result.stderr
        assert "another" not in result.stderr and "Traceback" not in result.stderr


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made immutable for the block: nothing can be created in it,
    not even by root (for whom a folder's mode bits change nothing)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make a folder read-only here: {done.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("used_before", [False, True])
def test_a_read_only_data_folder_is_an_io_error_not_a_lock(project: Path,
                                                            used_before: bool) -> None:
    folder = project / "data"
    if used_before:  # the store and the lock files exist: the folder only refuses new files
        feedsvc("run", "--once", cwd=project)
    else:
        folder.mkdir()
    with read_only(folder):
        for args in WRITERS:
            result = feedsvc(*args, cwd=project, check=False)
            assert result.returncode == 3, (args, result.stderr)
            assert f"{folder}: " in result.stderr and "not writable" in result.stderr
            assert "another" not in result.stderr


def test_only_a_held_lock_exits_5(project: Path) -> None:
    (project / "data").mkdir()
    fd = os.open(project / "data" / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = feedsvc("ingest", "--wait", "0", cwd=project, check=False)
    finally:
        os.close(fd)
    assert result.returncode == 5 and "another feedsvc process" in result.stderr


def _refused(project: Path, config: str, key: str) -> None:
    """``publish`` refuses ``config`` with exit 2, one line naming ``key`` and
    the file, before anything is read or written."""
    (project / "config.toml").write_text(config)
    (project / "seeds" / "001.txt").write_text(seed_text(random.Random(5)))
    result = feedsvc("publish", cwd=project, check=False)
    assert result.returncode == 2, result.stderr
    assert f"config.toml: key '{key}'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (project / "data").exists()


@pytest.mark.parametrize("url", ["http://[::1/", "http://news.example.org:99999/",
                                 "http://news.example.org:port/"])
def test_an_unparsable_url_is_a_configuration_error(project: Path, url: str) -> None:
    _refused(project, f'[site]\nbase_url = "{url}"\n', "site.base_url")
    _refused(project, f'[[sources]]\nurl = "{url}"\nsection = "World"\n', "sources[0].url")


BAD_BASE_URLS = [
    "http://news.example.org/my feeds/",  # a space
    "http://news.example.org/\tfeeds/",  # a tab
    "http://editor:secret@news.example.org/",  # credentials
    "http://@news.example.org/",
    "http://news.example.org/?page=1",  # a query, even an empty one
    "http://news.example.org/?",
    "http://news.example.org/#top",
    "ftp://news.example.org/",  # not http(s)
    "http:///feeds/",  # no host
    "http://[::1]/",  # not a DNS name: no tag: authority
    "http://news_room.example.org/",
    "http://news.example.org./",
    "http://-news.example.org/",
    "http://bücher.example/",  # non-ASCII (write xn--)
    "http://news.example.org/caf%C3%A9/100%/",  # a bare %
    "http://news.example.org/<feeds>/",
    "http://news.example.org:0/",
]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_a_base_url_that_would_make_invalid_ids_is_refused(tmp_path: Path, url: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[site]\nbase_url = {url!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "'site.base_url'" in str(err.value) and str(config) in str(err.value)
    with pytest.raises(ConfigError, match=r"site\.base_url"):  # a program's own SiteConfig too
        SiteConfig(base_url=url)


@pytest.mark.parametrize("url", ["https://news.example.org/", "http://localhost:8000/",
                                 "http://127.0.0.1:8080/feeds", "https://xn--bcher-kva.example/",
                                 "https://News.Example.org:8443/caf%C3%A9/~news/"])
def test_ordinary_base_urls_are_accepted(tmp_path: Path, url: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[site]\nbase_url = "{url}"\n')
    site = load_config(config).site
    assert site.base_url.rstrip("/") == url.rstrip("/") and site.base_url.endswith("/")


@pytest.mark.parametrize(("config", "key"), [
    ('[publish]\nfolder = "seeds"\n', "publish.folder"),
    ('[publish]\nfolder = "."\n', "publish.folder"),  # above the seeds and the store
    ('[publish]\nfolder = "seeds/.."\n', "publish.folder"),
    ('[publish]\nfolder = "public"\n', "publish.folder"),  # a link to the seeds folder
    ('[store]\npath = "data/feeds/feedsvc.db"\n', "store.path"),  # inside the output
    ('[store]\npath = "www/feedsvc.db"\n[publish]\nfolder = "pub"\n',
     "store.path"),  # inside it through a link
])
def test_folders_that_would_publish_or_destroy_what_they_should_not_are_refused(
        project: Path, config: str, key: str) -> None:
    (project / "public").symlink_to("seeds")
    (project / "pub").mkdir()
    (project / "www").symlink_to("pub")
    _refused(project, config, key)
    assert sorted(p.name for p in project.iterdir()) == ["config.toml", "pub", "public",
                                                          "seeds", "www"]
    assert not any((project / "pub").iterdir())


@pytest.mark.parametrize("folder", ["/", "/..", "root-link"])
def test_the_root_folder_is_never_the_output_folder(tmp_path: Path, folder: str) -> None:
    # In process: on code without the check, the command would publish into /.
    (tmp_path / "root-link").symlink_to("/")
    config = tmp_path / "config.toml"
    config.write_text(f'[publish]\nfolder = "{folder}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert str(err.value).startswith(f"{config}: key 'publish.folder': ")
    assert "root folder" in str(err.value)


def test_the_check_runs_on_the_folders_the_options_leave(project: Path) -> None:
    (project / "seeds" / "001.txt").write_text(seed_text(random.Random(6)))
    for args, option in ((["--out", "seeds/feeds/.."], "--out"),
                         (["--db", "data/feeds/store.db"], "--db"),
                         (["--seeds", "data/feeds/in"], "--seeds")):
        for command in (["publish"], ["run", "--once"]):
            result = feedsvc(*command, *args, cwd=project, check=False)
            assert result.returncode == 2, (command, args, result.stderr)
            assert result.stderr.startswith(f"feedsvc: error: option {option}: "), result.stderr
            assert "config.toml" not in result.stderr
    assert not (project / "data").exists()
    # a file's clash that the options undo is no clash
    (project / "config.toml").write_text('[publish]\nfolder = "seeds"\n')
    feedsvc("publish", "--out", "out", cwd=project)
    assert (project / "out" / "atom.xml").is_file()
    assert sorted(p.name for p in (project / "seeds").iterdir()) == ["001.txt"]


def _foreign_db(path: Path, user_version: int) -> bytes:
    """Another application's SQLite database; returns its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, password TEXT)")
        conn.execute("INSERT INTO users (name, password) VALUES ('ada', 'x')")
        conn.execute(f"PRAGMA user_version = {user_version:d}")
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("user_version", [0, 1, 2, 99])
def test_another_applications_database_is_refused_and_left_as_it_was(
        project: Path, user_version: int) -> None:
    db = project / "other" / "app.db"
    before = _foreign_db(db, user_version)
    (project / "seeds" / "001.txt").write_text(seed_text(random.Random(7)))
    for args in (["ingest"], ["publish"], ["status"], ["run", "--once"]):
        result = feedsvc(*args, "--db", db, cwd=project, check=False)
        assert result.returncode == 4, (args, result.stderr)
        assert f"{db}: not a feedsvc store" in result.stderr and "users" in result.stderr
        assert "Traceback" not in result.stderr
        assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
    conn.close()
    assert tables == [("users",)]


@pytest.mark.parametrize("kind", ["empty file", "empty database"])
def test_an_empty_file_or_database_becomes_a_new_store(project: Path, kind: str) -> None:
    db = project / "data" / "feedsvc.db"
    db.parent.mkdir()
    db.touch()
    if kind == "empty database":
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE scratch (x)")
        conn.execute("DROP TABLE scratch")
        conn.close()
        assert db.stat().st_size > 0
    (project / "seeds" / "001.txt").write_text(seed_text(random.Random(8), title="Kept"))
    feedsvc("publish", cwd=project)
    assert "Kept" in (project / "data" / "feeds" / "atom.xml").read_text()
