"""Taking one entry out of publishing and back: ``feedsvc entries`` and the
library functions under it, on real stores, real seed files, a real feed
server on 127.0.0.1 and the real command line."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from conftest import feedsvc, seed_text, snapshot
from lxml import etree
from pytest_httpserver import HTTPServer
from test_fetch import http, route, server  # noqa: F401  (fixtures)
from werkzeug import Response

from feedsvc.cli.entries import printable
from feedsvc.config import load_config
from feedsvc.errors import EntryError
from feedsvc.publish import publish
from feedsvc.remote.ingest import ingest_sources
from feedsvc.seeds.ingest import ingest_seeds
from feedsvc.store import Store, open_store
from feedsvc.store.admin import hide_entry, list_entries, unhide_entry
from feedsvc.store.lock import writer_lock
from feedsvc.store.schema import MIGRATIONS

A = "{http://www.w3.org/2005/Atom}"
SECTIONS = ("National / Politics", "National", "Business / Markets")


def _seeds(project: Path) -> list[Path]:
    rng = random.Random(11)
    paths = []
    for i, section in enumerate(SECTIONS):
        path = project / "seeds" / f"{i:03d}.txt"
        path.write_text(seed_text(rng, section=section, title=f"Story number {i}"),
                        encoding="utf-8")
        paths.append(path)
    return paths


def _entries(project: Path, *args: str) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(
        feedsvc("entries", "--json", *args, cwd=project).stdout)
    return listed


def _by_title(project: Path) -> dict[str, str]:
    return {str(e["title"]): str(e["id"]) for e in _entries(project)}


def _feed_ids(path: Path) -> list[str]:
    return [e.findtext(A + "id") for e in etree.parse(str(path)).getroot().iter(A + "entry")]


def _every_feed(out: Path) -> dict[str, list[str]]:
    """Entry ids of every Atom feed, and the guids of every RSS feed, by file."""
    found = {p.relative_to(out).as_posix(): _feed_ids(p) for p in out.rglob("atom.xml")}
    for p in out.rglob("rss.xml"):
        found[p.relative_to(out).as_posix()] = [
            g.text or "" for g in etree.parse(str(p)).getroot().iter("guid")]
    return found


@pytest.fixture
def published(project: Path) -> Path:
    _seeds(project)
    feedsvc("publish", cwd=project)
    return project


def test_entries_lists_and_finds_without_the_lock(published: Path) -> None:
    project = published
    everything = _entries(project)
    assert [e["title"] for e in everything] == ["Story number 2", "Story number 1",
                                                "Story number 0"]  # newest first
    assert set(everything[0]) == {"id", "section", "title", "source", "published", "updated",
                                  "page", "hidden"}
    assert {e["source"] for e in everything} == {"seeds"} and everything[0]["hidden"] is None
    config = load_config(project / "config.toml")
    with writer_lock(config.data_dir, wait=0):  # read-only, like status: no lock needed
        national = _entries(project, "--section", "national")
        assert [e["title"] for e in national] == ["Story number 1", "Story number 0"]
        assert _entries(project, "--section", "national / POLITICS")[0]["title"] == \
            "Story number 0"
        assert [e["title"] for e in _entries(project, "--search", "NUMBER 1")] == \
            ["Story number 1"]
        assert len(_entries(project, "--limit", "1")) == 1
        assert _entries(project, "--source", "elsewhere") == []
        assert _entries(project, "--hidden") == []
        text = feedsvc("entries", cwd=project).stdout
        assert str(everything[0]["id"]) in text and "Story number 2" in text
    unknown = feedsvc("entries", "--section", "Sports", cwd=project, check=False)
    assert unknown.returncode == 2 and "no section 'Sports'" in unknown.stderr


def test_hide_takes_an_entry_out_of_everything_and_unhide_puts_it_back(published: Path) -> None:
    project = published
    out = project / "data" / "feeds"
    before = snapshot(out)
    politics = _by_title(project)["Story number 0"]
    page = str(_entries(project, "--search", politics)[0]["page"])
    assert (out / page).is_file()
    assert any(politics in ids for ids in _every_feed(out).values())

    result = feedsvc("entries", "hide", politics, cwd=project)
    assert f"{politics}: hidden" in result.stdout
    status = feedsvc("status", cwd=project).stdout
    assert f"hidden entries: 1\n  {politics}\n" in status
    assert json.loads(feedsvc("status", "--json", cwd=project).stdout)["hidden"] == [politics]
    assert [e["id"] for e in _entries(project, "--hidden")] == [politics]
    assert _entries(project, "--hidden")[0]["hidden"] is not None

    feedsvc("publish", cwd=project)
    feeds = _every_feed(out)
    assert all(politics not in ids for ids in feeds.values())
    assert len(feeds["atom.xml"]) == 2 and len(feeds["national/atom.xml"]) == 1
    # Its section had nothing else: its files go, as any empty section's do.
    assert "national/politics/atom.xml" not in feeds
    assert not (out / page).exists()
    for index in out.rglob("index.html"):
        assert page.rsplit("/", 1)[1] not in index.read_text(encoding="utf-8")
    # Kept in the store, whole.
    with sqlite3.connect(project / "data" / "feedsvc.db") as conn:
        assert conn.execute("SELECT count(*) FROM entries WHERE id = ?",
                            (politics,)).fetchone() == (1,)

    # Nothing changed since: nothing is written.
    hidden_state = snapshot(out)
    feedsvc("publish", cwd=project)
    assert snapshot(out) == hidden_state

    again = feedsvc("entries", "hide", politics, cwd=project)
    assert "was hidden already" in again.stdout
    feedsvc("entries", "unhide", page, cwd=project)  # a page path names it too
    assert "hidden entries: 0" in feedsvc("status", cwd=project).stdout
    feedsvc("publish", cwd=project)
    after = snapshot(out)
    # Every file is back with the same bytes as before it was hidden.
    assert {p: data for p, (data, _) in after.items()} == \
        {p: data for p, (data, _) in before.items()}


def test_an_unknown_id_is_a_clear_error(published: Path) -> None:
    for command in ("hide", "unhide"):
        result = feedsvc("entries", command, "tag:nowhere,2026:nothing", cwd=published,
                         check=False)
        assert result.returncode == 2, result.stderr
        assert "no entry 'tag:nowhere,2026:nothing'" in result.stderr
        assert "Traceback" not in result.stderr


def test_hide_waits_for_the_writer_lock(published: Path) -> None:
    entry = next(iter(_by_title(published).values()))
    config = load_config(published / "config.toml")
    with writer_lock(config.data_dir, wait=0):
        result = feedsvc("entries", "hide", entry, "--wait", "0", cwd=published, check=False)
    assert result.returncode == 5, result.stderr
    assert _entries(published, "--hidden") == []


def test_a_hidden_entry_stays_hidden_through_revisions_and_duplicates(project: Path) -> None:
    paths = _seeds(project)
    config = load_config(project / "config.toml")
    with open_store(config) as store:
        ingest_seeds(store, config)
        entry = list_entries(store, search="Story number 0")[0]
        assert hide_entry(store, entry.id).changed
    # A copy of the file (a duplicate) and an edited file (a revision).
    original = paths[0].read_text(encoding="utf-8")
    (project / "seeds" / "100.txt").write_text(original, encoding="utf-8")
    paths[0].write_text(original.replace("Story number 0", "Story number 0, updated"),
                        encoding="utf-8")
    with open_store(config) as store:
        report = ingest_seeds(store, config)
        assert (report.counts["revised"], report.counts["duplicate"]) == (1, 1)
        (info,) = list_entries(store, hidden=True)
        assert (info.id, info.title) == (entry.id, "Story number 0, updated")
        publish(store, config)
        assert store.has_unpublished() is False
    out = config.publish.folder
    assert all(entry.id not in ids for ids in _every_feed(out).values())


def test_hide_and_unhide_make_a_publish_due_once(project: Path) -> None:
    _seeds(project)
    config = load_config(project / "config.toml")
    with open_store(config) as store:
        ingest_seeds(store, config)
        publish(store, config)
        assert not store.has_unpublished()
        entry = list_entries(store, limit=1)[0]
        hide_entry(store, entry.id)
        assert store.has_unpublished()  # how the daemon learns of it
        publish(store, config)
        assert not store.has_unpublished()
        assert not hide_entry(store, entry.id).changed
        assert not store.has_unpublished()
        unhide_entry(store, entry.id)
        assert store.has_unpublished()
        with pytest.raises(EntryError, match="no entry"):
            hide_entry(store, "nothing")


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title><link>https://wire.example.org/</link>
<description>Wire</description>
<item><title>{title}</title><link>https://wire.example.org/a/1</link><guid>wire-1</guid>
<description>{text}</description><pubDate>Fri, 20 Nov 2026 12:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_a_remote_revision_is_stored_and_stays_hidden(
        tmp_path: Path, http: HTTPServer) -> None:  # noqa: F811
    current = {"body": RSS.format(title="Harbour reopens", text="The harbour reopened today "
                                  "after the storm, officials said on Friday.")}
    url = route(http, "/wire.xml", lambda _r: Response(
        current["body"], headers={"Content-Type": "application/rss+xml"}))
    (tmp_path / "seeds").mkdir()
    (tmp_path / "config.toml").write_text(
        f'[fetch]\nmin_interval = 1\n[[sources]]\nurl = "{url}"\nname = "wire"\n'
        'section = "World"\n', encoding="utf-8")
    config = load_config(tmp_path / "config.toml")

    def ingest(store: Store) -> None:
        ingest_sources(store, config, force=True)

    with open_store(config) as store:
        ingest(store)
        (entry,) = list_entries(store, source="wire")
        hide_entry(store, entry.id)
    current["body"] = RSS.format(title="Harbour reopens fully", text="The harbour reopened "
                                 "today after the storm, officials said on Friday evening.")
    with open_store(config) as store:
        ingest(store)
        (info,) = list_entries(store, source="wire")
        assert (info.id, info.title, info.hidden is not None) == \
            (entry.id, "Harbour reopens fully", True)
        publish(store, config)
    with sqlite3.connect(config.store.path) as conn:
        assert conn.execute("SELECT count(*) FROM versions").fetchone() == (2,)
    assert _feed_ids(config.publish.folder / "atom.xml") == []


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("Plain title, 日本語") == "Plain title, 日本語"
    assert printable("a\x1b[2Jb\nc\u202ed\uffff") == "a\\x1b[2Jb\\x0ac\\u202ed\\uffff"


def test_a_store_from_before_hiding_is_upgraded_with_every_entry_shown(
        published: Path) -> None:
    db = published / "data" / "feedsvc.db"
    with sqlite3.connect(db) as conn:  # back to schema 2, as the previous release left it
        conn.execute("ALTER TABLE entries DROP COLUMN hidden")
        conn.execute("DROP TABLE counters")
        conn.execute("DROP TABLE bands")  # and what later schemas added
        conn.execute("DROP TABLE settings")
        conn.execute("PRAGMA user_version = 2")
    config = load_config(published / "config.toml")
    with open_store(config) as store:
        assert [i.hidden for i in list_entries(store)] == [None, None, None]
        assert not store.has_unpublished()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
