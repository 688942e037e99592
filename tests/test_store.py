"""The SQLite store on real files: schema, minted identity, transactions, reading."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.cli.status import render_store_status
from feedsvc.clock import fixed_clock
from feedsvc.config import SiteConfig
from feedsvc.dedup import fingerprint
from feedsvc.errors import StoreError
from feedsvc.models import Article, Decision, Entry, FileOutcome, VersionBody
from feedsvc.store import (
    MIGRATIONS,
    BulkWriter,
    Encoded,
    FileState,
    RunInfo,
    SourceItem,
    SourceState,
    SQLiteStore,
    Store,
)

SITE = SiteConfig(base_url="https://News.Example.org:8443/feeds/")
DAY = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


class Ticker:
    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Ticker:
    return Ticker()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "feedsvc.db"


@pytest.fixture
def store(db: Path, clock: Ticker) -> Iterator[Store]:
    with SQLiteStore.open(db, clock=clock, site=SITE) as s:
        yield s


def art(n: int, section: tuple[str, ...] = ("National", "Politics"), **kw: object) -> Article:
    fields: dict[str, object] = {
        "section": section, "title": f"Story {n}", "authors": ("A. Writer",), "credit": None,
        "paragraphs": (f"Body of story number {n}.", f"Second paragraph of story {n}.")}
    fields.update(kw)
    return Article(**fields)  # type: ignore[arg-type]


def add(store: Store, a: Article) -> Entry:
    fp = fingerprint(a)
    return store.add_entry(a, content_hash=fp.content_hash, signature=fp.signature,
                           source="seeds")


def revise(store: Store, entry_id: str, a: Article) -> Entry:
    fp = fingerprint(a)
    return store.add_revision(entry_id, a, content_hash=fp.content_hash,
                              signature=fp.signature, source="seeds")


def sql(db: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    """Run one statement on the file directly, behind the store's back."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def user_version(db: Path) -> int:
    [(version,)] = sql(db, "PRAGMA user_version")
    assert isinstance(version, int)
    return version


# ---------------------------------------------------------------------------
# opening and migrations


def test_open_creates_folder_and_migrates_from_empty(store: Store, db: Path) -> None:
    assert db.is_file()
    assert user_version(db) == len(MIGRATIONS)
    tables = {r[0] for r in sql(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert sql(db, "PRAGMA journal_mode") == [("wal",)]
    assert {"sections", "entries", "versions", "files", "runs", "pages"} <= tables
    assert store.sections()[0].path == ()
    assert store.integrity_check() == []


def test_reopening_changes_nothing(db: Path, clock: Ticker) -> None:
    with SQLiteStore.open(db, clock=clock, site=SITE) as s:
        add(s, art(1))
        before = s.sections()
    clock.now += timedelta(days=3)
    with SQLiteStore.open(db, clock=clock, site=SITE) as s:
        assert s.sections() == before
        assert s.status().entries == 1
    assert user_version(db) == len(MIGRATIONS)


def test_a_newer_schema_is_refused(db: Path) -> None:
    SQLiteStore.open(db, site=SITE).close()
    sql(db, f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    for readonly in (False, True):
        with pytest.raises(StoreError, match="newer") as err:
            SQLiteStore.open(db, site=SITE, readonly=readonly)
        assert err.value.where == str(db)


@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, readonly: bool) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"these are not the bytes of a database\n" * 100)
    with pytest.raises(StoreError, match="not a database") as err:
        SQLiteStore.open(junk, site=SITE, readonly=readonly)
    assert err.value.where == str(junk)


def test_readonly_needs_an_existing_store_and_never_creates_one(db: Path) -> None:
    with pytest.raises(StoreError) as err:
        SQLiteStore.open(db, site=SITE, readonly=True)
    assert err.value.where == str(db)
    assert not db.exists()


def test_readonly_reads_but_cannot_write(db: Path) -> None:
    with SQLiteStore.open(db, site=SITE) as s:
        add(s, art(1))
    before = db.read_bytes()
    with SQLiteStore.open(db, site=SITE, readonly=True) as ro:
        assert ro.status().entries == 1
        assert [e.title for e in ro.iter_entries()] == ["Story 1"]
        with pytest.raises(StoreError):
            add(ro, art(2))
    assert db.read_bytes() == before


def test_an_old_schema_is_not_upgraded_by_a_reader(db: Path) -> None:
    db.parent.mkdir()
    sql(db, "CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="schema version 0"):
        SQLiteStore.open(db, site=SITE, readonly=True)
    assert user_version(db) == 0


# ---------------------------------------------------------------------------
# minted identity


def test_entry_ids_pages_and_feed_ids(store: Store) -> None:
    entry = add(store, art(1))
    m = re.fullmatch(r"tag:news\.example\.org,2026-11-27:national/politics/([0-9a-f]{16})",
                     entry.id)
    assert m, entry.id
    assert entry.page == f"articles/2026/11/27/{m[1]}.html"
    assert entry.published == entry.updated == DAY
    assert [(s.path, s.slug_path, s.feed_id) for s in store.sections()] == [
        ((), "", "tag:news.example.org,2026-11-27:feeds"),
        (("National",), "national", "tag:news.example.org,2026-11-27:feeds/national"),
        (("National", "Politics"), "national/politics",
         "tag:news.example.org,2026-11-27:feeds/national/politics"),
    ]


def test_ids_stay_unique_when_their_hash_would_clash(store: Store) -> None:
    a, b = art(1), art(2)
    fp = fingerprint(a)
    first = add(store, a)
    second = store.add_entry(b, content_hash=fp.content_hash, signature=fp.signature,
                             source="seeds")
    third = store.add_entry(b, content_hash=fp.content_hash, signature=fp.signature,
                            source="seeds")
    assert len({first.id, second.id, third.id}) == len({first.page, second.page, third.page}) == 3


def test_root_entries_have_no_section_in_their_id(store: Store) -> None:
    entry = add(store, art(1, section=()))
    assert re.fullmatch(r"tag:news\.example\.org,2026-11-27:[0-9a-f]{16}", entry.id)


def test_identity_is_permanent_across_revisions_reopen_and_config(db: Path,
                                                                  clock: Ticker) -> None:
    with SQLiteStore.open(db, clock=clock, site=SITE) as s:
        entry = add(s, art(1))
        feeds = s.sections()
    clock.now += timedelta(days=40)
    with SQLiteStore.open(db, clock=clock, site=SiteConfig(base_url="http://elsewhere.test/")) as s:
        revised = revise(s, entry.id, art(1, title="Story 1, updated"))
        added = add(s, art(2, section=("National", "Politics", "Diet")))
        assert s.sections()[:3] == feeds
        assert s.sections()[3].feed_id == \
            "tag:elsewhere.test,2027-01-06:feeds/national/politics/diet"
    assert (revised.id, revised.page, revised.published) == (entry.id, entry.page, entry.published)
    assert revised.updated == DAY + timedelta(days=40)
    assert added.id.startswith("tag:elsewhere.test,2027-01-06:national/politics/diet/")
    assert added.page.startswith("articles/2027/01/06/")


def test_colliding_and_unsafe_section_names_get_distinct_safe_slugs(store: Store) -> None:
    for section in [("Food & Drink",), ("Food - Drink",), ("政治",), ("..",), ("/",),
                    ("National", ".."), ("Articles",)]:
        add(store, art(len(section[-1]), section=section, title=section[-1]))
    slugs = {s.path: s.slug_path for s in store.sections()}
    assert slugs[("Food & Drink",)] == "food-drink"
    assert slugs[("Food - Drink",)].startswith("food-drink-")
    assert re.fullmatch(r"section-[0-9a-f]{6}", slugs[("政治",)])
    assert re.fullmatch(r"national/section-[0-9a-f]{6}", slugs[("National", "..")])
    assert slugs[("Articles",)] != "articles"
    assert len(set(slugs.values())) == len(slugs)
    for slug_path in slugs.values():
        assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", part)
                   for part in slug_path.split("/") if slug_path)


def test_same_name_under_different_parents_may_share_a_slug(store: Store) -> None:
    add(store, art(1, section=("National", "Politics")))
    add(store, art(2, section=("World", "Politics")))
    slugs = {s.path: s.slug_path for s in store.sections()}
    assert slugs[("World", "Politics")] == "world/politics"


def test_revision_must_stay_in_its_section(store: Store) -> None:
    entry = add(store, art(1))
    with pytest.raises(StoreError, match="section"):
        revise(store, entry.id, art(1, section=("World",)))
    with pytest.raises(StoreError, match="no entry"):
        revise(store, "tag:nowhere,2026-01-01:x", art(1))


def test_updated_never_goes_backwards(store: Store, clock: Ticker) -> None:
    entry = add(store, art(1))
    clock.now -= timedelta(hours=2)
    assert revise(store, entry.id, art(1, title="Changed")).updated == entry.updated


# ---------------------------------------------------------------------------
# versions, hashes, files


def test_versions_are_all_kept_and_found_by_hash(store: Store) -> None:
    entry = add(store, art(1))
    revised = revise(store, entry.id, art(1, title="Story 1, updated"))
    for a in (art(1), art(1, title="Story 1, updated")):
        assert store.entry_for_content_hash(fingerprint(a).content_hash) == entry.id
    assert store.entry_for_content_hash(b"\0" * 16) is None
    assert store.version_body(entry.version) == VersionBody(entry.id, entry.section,
                                                            entry.paragraphs)
    with pytest.raises(StoreError):
        store.version_body(999)
    assert store.version_bodies([revised.version, 999, entry.version]) == [
        store.version_body(revised.version), store.version_body(entry.version)]
    assert store.version_bodies([]) == []


def test_file_states_round_trip_and_update(store: Store) -> None:
    entry = add(store, art(1))
    store.record_file("a/one.txt", size=10, mtime_ns=5, raw_hash=b"r1",
                      outcome=FileOutcome("a/one.txt", Decision.NEW, entry.id))
    store.record_file("two.txt", size=3, mtime_ns=6, raw_hash=b"r2",
                      outcome=FileOutcome("two.txt", Decision.REJECTED, None, "no title"))
    store.record_file("a/one.txt", size=11, mtime_ns=7, raw_hash=b"r3",
                      outcome=FileOutcome("a/one.txt", Decision.UNCHANGED, entry.id))
    assert store.file_states() == {
        "a/one.txt": FileState(11, 7, b"r3", Decision.UNCHANGED, entry.id, None),
        "two.txt": FileState(3, 6, b"r2", Decision.REJECTED, None, "no title"),
    }
    assert store.file_states(source="remote") == {}
    # What a scan compares: the same files, only their size and mtime.
    odd = os.fsdecode(b"caf\xe9/\xff.txt")  # a name that is not UTF-8
    store.record_file(odd, size=4, mtime_ns=8, raw_hash=b"r4",
                      outcome=FileOutcome(odd, Decision.REJECTED, None, "not text"))
    assert store.file_stats() == {"a/one.txt": (11, 7), "two.txt": (3, 6), odd: (4, 8)}
    assert store.file_stats() == {k: (s.size, s.mtime_ns) for k, s in store.file_states().items()}
    assert store.file_stats(source="remote") == {}
    assert store.entry_for_raw_hash(b"r3") == entry.id
    assert store.entry_for_raw_hash(b"r2") is None
    assert store.entry_for_raw_hash(b"r1") is None


def test_a_file_cannot_point_at_a_missing_entry(store: Store) -> None:
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.record_file("x.txt", size=1, mtime_ns=1, raw_hash=b"r",
                          outcome=FileOutcome("x.txt", Decision.NEW, "tag:missing"))


# ---------------------------------------------------------------------------
# transactions


def test_a_failed_file_rolls_back_alone(store: Store) -> None:
    with store.batch():
        kept = add(store, art(1))
        with pytest.raises(RuntimeError), store.file_savepoint():
            add(store, art(2, section=("Sports", "Sumo")))
            store.record_file("2.txt", size=1, mtime_ns=1, raw_hash=b"2",
                              outcome=FileOutcome("2.txt", Decision.NEW, None))
            raise RuntimeError("parser blew up after the write")
        after = add(store, art(3, section=("Sports",)))
    assert [e.id for e in store.iter_entries()] == [kept.id, after.id]
    assert store.file_states() == {}
    assert [s.path for s in store.sections()] == [(), ("National",), ("National", "Politics"),
                                                  ("Sports",)]
    assert store.integrity_check() == []


def test_a_failed_batch_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.batch():
        add(store, art(1))
        raise RuntimeError
    assert store.status().entries == 0
    assert [s.path for s in store.sections()] == [()]
    add(store, art(1))  # section nodes are minted afresh
    assert store.sections()[-1].slug_path == "national/politics"


def test_batches_do_not_nest(store: Store) -> None:
    with store.batch(), pytest.raises(StoreError, match="already open"), store.batch():
        pass


def test_a_killed_process_loses_only_its_open_batch(db: Path) -> None:
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from feedsvc.config import SiteConfig
        from feedsvc.dedup import fingerprint
        from feedsvc.models import Article
        from feedsvc.store import SQLiteStore
        s = SQLiteStore.open(Path({str(db)!r}), site=SiteConfig())
        def add(n):
            a = Article(("A",), f"t{{n}}", (), None, (f"body {{n}}",))
            fp = fingerprint(a)
            with s.file_savepoint():
                s.add_entry(a, content_hash=fp.content_hash, signature=fp.signature, source="x")
        with s.batch():
            add(1)
        with s.batch():
            add(2)
            os._exit(9)
    """)
    subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    with SQLiteStore.open(db, site=SITE) as s:
        assert [e.title for e in s.iter_entries()] == ["t1"]
        assert s.integrity_check() == []


# ---------------------------------------------------------------------------
# reading for the publisher


def test_a_reader_sees_sections_that_a_writer_mints_later(db: Path) -> None:
    with SQLiteStore.open(db, site=SITE) as writer:
        add(writer, art(1))
        with SQLiteStore.open(db, site=SITE, readonly=True) as reader:
            entry = add(writer, art(2, section=("Sports", "Sumo")))
            assert [e.section for e in reader.iter_entries()][-1] == ("Sports", "Sumo")
            assert reader.sections()[-1].slug_path == "sports/sumo"
            assert reader.feed_entries(("Sports",), 5)[0].id == entry.id


def test_feed_entries_newest_first_with_descendants_and_limits(store: Store,
                                                              clock: Ticker) -> None:
    sections = [("National", "Politics"), ("National",), ("World",), ("National", "Politics")]
    entries = []
    for n, section in enumerate(sections):
        entries.append(add(store, art(n, section=section)))
        clock.now += timedelta(minutes=1)
    same_time = add(store, art(9, section=("National", "Economy")))  # ties on updated: seq
    clock.now += timedelta(minutes=1)
    revised = revise(store, entries[0].id, art(0, title="Story 0, updated"))

    def ids(section: tuple[str, ...], limit: int = 50) -> list[str]:
        return [e.id for e in store.feed_entries(section, limit)]

    assert ids(("National",)) == [revised.id, same_time.id, entries[3].id, entries[1].id]
    assert ids(("National", "Politics")) == [revised.id, entries[3].id]
    assert ids(()) == [revised.id, same_time.id, entries[3].id, entries[2].id, entries[1].id]
    assert ids((), 2) == [revised.id, same_time.id]
    assert ids(("Nowhere",)) == []
    assert store.feed_entries(("National", "Politics"), 1)[0] == revised


def test_feed_entries_breaks_ties_by_seq(store: Store) -> None:
    first, second = add(store, art(1)), add(store, art(2))
    assert [e.seq for e in store.feed_entries((), 10)] == [second.seq, first.seq]


def test_iter_entries_streams_all_or_some_in_seq_order(store: Store) -> None:
    made = [add(store, art(n)) for n in range(7)]
    assert list(store.iter_entries()) == made
    assert list(store.iter_entries({made[5].seq, made[2].seq, 999})) == [made[2], made[5]]
    assert list(store.iter_entries([])) == []


def test_page_states(store: Store) -> None:
    assert store.page_states() == {}
    store.mark_pages_published([("articles/a.html", 1), ("articles/b.html", 2)])
    store.mark_pages_published([("articles/a.html", 5)])
    assert store.page_states() == {"articles/a.html": 5, "articles/b.html": 2}


def test_status(store: Store, clock: Ticker) -> None:
    run = store.start_run("ingest")
    add(store, art(1))
    entry = add(store, art(2, section=("World",)))
    revise(store, entry.id, art(2, section=("World",), title="again"))
    store.record_file("bad.txt", size=1, mtime_ns=1, raw_hash=b"b",
                      outcome=FileOutcome("bad.txt", Decision.REJECTED, None, "empty file"))
    clock.now += timedelta(seconds=5)
    store.finish_run(run, {"new": 2, "revised": 1, "rejected": 1}, None)
    status = store.status()
    assert status.entries_by_section == {"National / Politics": 1, "World": 1}
    assert (status.entries, status.versions) == (2, 3)
    assert status.last_run == RunInfo("ingest", DAY, DAY + timedelta(seconds=5),
                                      {"new": 2, "rejected": 1, "revised": 1}, None)
    assert status.rejected == (("bad.txt", "empty file"),)
    assert render_store_status(status).splitlines() == [
        "entries: 2 (3 versions)",
        "  National / Politics  1",
        "  World                1",
        "last run: ingest, started 2026-11-27 09:30:00 UTC, finished 2026-11-27 09:30:05:"
        " new 2, rejected 1, revised 1",
        "rejected files: 1",
        "  bad.txt: empty file",
        "hidden entries: 0",
    ]


def test_status_of_an_unfinished_failed_run(store: Store) -> None:
    store.finish_run(store.start_run("publish"), {}, "disk full")
    store.start_run("ingest")
    status = store.status()
    last = status.last_run
    assert last is not None and (last.kind, last.finished, last.counts) == ("ingest", None, {})
    assert "last run: ingest, started 2026-11-27 09:30:00 UTC, unfinished: nothing done" in \
        render_store_status(status)


def test_integrity_check_reports_broken_invariants(db: Path) -> None:
    with SQLiteStore.open(db, clock=fixed_clock(DAY), site=SITE) as s:
        one, two = add(s, art(1)), add(s, art(2))
        assert s.integrity_check() == []
    # behind the store's back (a plain connection does not enforce foreign keys)
    sql(db, "DELETE FROM versions WHERE id = ?", one.version)
    sql(db, "UPDATE versions SET entry_seq = 99 WHERE id = ?", two.version)
    with SQLiteStore.open(db, site=SITE) as s:
        assert s.integrity_check() == [f"versions row {two.version}: missing entries row",
                                       f"entry {one.id}: has no version",
                                       f"entry {two.id}: has no version"]


# ---------------------------------------------------------------------------
# bulk writes: a batch's rows planned in memory, written when it commits


def rows_in_transaction(store: Store, table: str) -> int:
    """Rows as the store's own connection sees them inside its open transaction."""
    count: int = store._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


def bulk_add(writer: BulkWriter, a: Article) -> tuple[str, int]:
    fp = fingerprint(a)
    return writer.add_entry(a, content_hash=fp.content_hash,
                            encoded=Encoded.of(a, fp.signature), source="seeds")


def test_a_bulk_batch_sees_its_own_rows_before_they_are_written(store: Store, db: Path) -> None:
    before = add(store, art(1))
    a, b = art(2), art(2, title="Story 2, corrected")
    with store.bulk() as writer:
        entry_id, version = bulk_add(writer, a)
        assert rows_in_transaction(store, "entries") == 1  # planned, not written
        assert writer.entry_for_content_hash(fingerprint(a).content_hash) == entry_id
        assert writer.entry_for_content_hash(fingerprint(art(1)).content_hash) == before.id
        fp = fingerprint(b)
        revised = writer.add_revision(entry_id, b, content_hash=fp.content_hash,
                                      encoded=Encoded.of(b, fp.signature), source="seeds")
        assert revised == (entry_id, version + 1)
        bodies = writer.version_bodies([version, before.version, 999])
        assert bodies == [VersionBody(entry_id, a.section, a.paragraphs),
                          VersionBody(before.id, a.section, art(1).paragraphs)]
        writer.record_file("two.txt", size=1, mtime_ns=2, raw_hash=b"raw-two",
                           outcome=FileOutcome("two.txt", Decision.NEW, entry_id=entry_id))
        assert writer.entry_for_raw_hash(b"raw-two") == entry_id
    # written as the per-file calls would have: consecutive numbers, latest text current
    assert sql(db, "SELECT seq, id FROM entries ORDER BY seq") == [
        (before.seq, before.id), (before.seq + 1, entry_id)]
    assert sql(db, "SELECT id, title FROM versions ORDER BY id")[1:] == [
        (version, "Story 2"), (version + 1, "Story 2, corrected")]
    assert store.entry_for_raw_hash(b"raw-two") == entry_id
    current = list(store.iter_entries())[-1]
    assert (current.id, current.title, current.version) == (entry_id, b.title, version + 1)
    assert store.integrity_check() == []


def test_a_bulk_batch_that_raises_writes_nothing(store: Store, db: Path) -> None:
    with pytest.raises(RuntimeError), store.bulk() as writer:
        bulk_add(writer, art(1))
        raise RuntimeError("boom")
    assert sql(db, "SELECT count(*) FROM entries") == [(0,)]
    with store.bulk() as writer:  # the numbers it handed out are handed out again
        assert bulk_add(writer, art(1))[1] == 1


def test_bulk_ids_stay_unique_when_their_hash_would_clash(store: Store) -> None:
    fp = fingerprint(art(1))
    first = add(store, art(1))
    with store.bulk() as writer:
        ids = [writer.add_entry(art(n), content_hash=fp.content_hash,
                                encoded=Encoded.of(art(n), fp.signature), source="seeds")[0]
               for n in (2, 3)]
    pages = {e.page for e in store.iter_entries()}
    assert len({first.id, *ids}) == len(pages) == 3


def remote_item(key: str, source: str = "wire") -> SourceItem:
    return SourceItem(source=source, key=key, original_id=key, original_link=None,
                      norm_link=f"example.org/{key}", item_hash=key.encode(),
                      published=DAY, updated=None, feed_updated=DAY)


def add_remote(store: Store, a: Article, key: str) -> Entry:
    fp = fingerprint(a)
    return store.add_remote_entry(a, remote_item(key), link=None, content_html="<p>x</p>",
                                  content_hash=fp.content_hash, signature=fp.signature)


def test_new_remote_entries_are_held_until_anything_else_asks(store: Store, db: Path) -> None:
    store.save_source_state(SourceState(name="wire", url="https://example.org/feed"))
    with store.batch():
        store.save_source_state(SourceState(name="wire", url="https://example.org/feed"))
        one = add_remote(store, art(1), "a")
        two = add_remote(store, art(2), "b")
        assert rows_in_transaction(store, "entries") == 0  # held
        # any other call of the store sees them, written in one go
        assert store.entry_for_link("example.org/b") == (two.id, two.section, "wire")
        assert rows_in_transaction(store, "entries") == 2
        assert sql(db, "SELECT count(*) FROM entries") == [(0,)]  # not committed yet
    rows = sql(db, "SELECT e.id, o.key, o.source FROM entries e"
                   " JOIN source_entries o ON o.id = e.origin ORDER BY e.seq")
    assert rows == [(one.id, "a", "wire"), (two.id, "b", "wire")]
    assert store.integrity_check() == []


def test_held_remote_entries_go_with_a_failed_savepoint(store: Store, db: Path) -> None:
    with store.batch():
        store.save_source_state(SourceState(name="wire", url="https://example.org/feed"))
        kept = add_remote(store, art(1), "a")
        with pytest.raises(RuntimeError), store.file_savepoint():
            add_remote(store, art(2), "b")
            raise RuntimeError("this source failed")
        after = add_remote(store, art(3), "c")
    assert [k for (k,) in sql(db, "SELECT key FROM source_entries ORDER BY id")] == ["a", "c"]
    assert {e.id for e in store.iter_entries()} == {kept.id, after.id}
    assert store.integrity_check() == []


def test_a_remote_entry_outside_a_transaction_is_written_at_once(store: Store, db: Path) -> None:
    with store.batch():
        store.save_source_state(SourceState(name="wire", url="https://example.org/feed"))
    entry = add_remote(store, art(1), "a")
    assert sql(db, "SELECT id FROM entries") == [(entry.id,)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text()))
def test_string_lists_are_encoded_exactly_as_json_dumps_would(items: list[str]) -> None:
    """Stored lists (authors, paragraphs, section paths) keep the encoding of
    every earlier version of the store, and read back as written."""
    from feedsvc.store import decode_strings, encode_strings

    assert encode_strings(items) == json.dumps(items)
    assert encode_strings(iter(items)) == json.dumps(items)
    assert decode_strings(encode_strings(items)) == tuple(items)
