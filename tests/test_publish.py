"""Publishing through the real store into real folders.

Crashes are real too: a publish in a child process whose file-size limit is
lower than a feed is killed by the kernel (SIGXFSZ) in the middle of writing
that feed, after its pages and before the rename.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import snapshot
from lxml import etree
from test_store import add, revise

from feedsvc.atomic import TEMP_NAME
from feedsvc.config import Config, PublishConfig, SiteConfig, StoreConfig
from feedsvc.errors import PublishError
from feedsvc.models import Article, Entry, Section, SectionPath
from feedsvc.publish.output import STATE_FILE, OutputFolder
from feedsvc.publish.publisher import PublishReport, publish
from feedsvc.store import SQLiteStore, Store

SITE = SiteConfig(title="Test Times", base_url="http://localhost:8000/", author="Test Desk")
A = "{http://www.w3.org/2005/Atom}"
POLITICS: SectionPath = ("National", "Politics")
NATIONAL: SectionPath = ("National",)
MARKETS: SectionPath = ("Business", "Markets")


class Ticker:
    """The store's clock: moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Site:
    tmp: Path
    db: Path
    out: Path
    clock: Ticker
    config: Config

    def store(self, db: Path | None = None) -> Store:
        return SQLiteStore.open(db or self.db, clock=self.clock, site=self.config.site)

    def publish(self, config: Config | None = None, db: Path | None = None) -> PublishReport:
        with self.store(db) as store:
            return publish(store, config or self.config)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    out = tmp_path / "out"
    config = Config(site=SITE, store=StoreConfig(path=tmp_path / "feedsvc.db"),
                    publish=PublishConfig(folder=out, entries_per_feed=50, summary_chars=200))
    return Site(tmp_path, tmp_path / "feedsvc.db", out, Ticker(), config)


def article(n: int, section: SectionPath = POLITICS, **fields: object) -> Article:
    values: dict[str, object] = {
        "section": section, "title": f"Story {n}: Q&A <b>", "authors": ("Hana Sato",),
        "credit": "Staff Writer",
        "paragraphs": (f"Body of story {n} with <script>x</script> & more.", f"Second {n}.")}
    values.update(fields)
    return Article(**values)  # type: ignore[arg-type]


@pytest.fixture
def entries(site: Site) -> list[Entry]:
    """Six entries over five sections: root, national, national/politics, business, markets."""
    with site.store() as store:
        return [add(store, article(1)), add(store, article(2)), add(store, article(3)),
                add(store, article(4, NATIONAL)), add(store, article(5, MARKETS)),
                add(store, article(6, MARKETS))]


SECTION_DIRS = ("", "national", "national/politics", "business", "business/markets")


def section_files() -> set[str]:
    return {f"{d}/{name}".lstrip("/") for d in SECTION_DIRS
            for name in ("atom.xml", "rss.xml", "index.html")}


Snapshot = dict[str, tuple[bytes, int]]


def contents(folder: Path) -> dict[str, bytes]:
    return {path: data for path, (data, _) in snapshot(folder).items()}


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if k == "href" and v]


# ----------------------------------------------------------------------------- layout


def test_publishes_every_section_page_and_feed(site: Site, entries: list[Entry]) -> None:
    report = site.publish()
    assert (report.feeds_written, report.feeds_unchanged) == (10, 0)
    assert (report.pages_written, report.pages_unchanged) == (6 + 5, 0)
    assert report.files_removed == 0
    files = set(snapshot(site.out))
    assert files == section_files() | {e.page for e in entries} | {STATE_FILE}
    with site.store() as store:
        assert store.page_states() == {e.page: e.version for e in entries}
    for folder in SECTION_DIRS:
        prefix = f"{folder}/" if folder else ""
        atom = etree.parse(str(site.out / prefix / "atom.xml")).getroot()
        self_link = atom.find(f"{A}link[@rel='self']").get("href")
        assert self_link == f"{SITE.base_url}{prefix}atom.xml"
    national = etree.parse(str(site.out / "national" / "atom.xml")).getroot()
    ids = [e.findtext(A + "id") for e in national.findall(A + "entry")]
    assert sorted(ids) == sorted(e.id for e in entries if e.section[:1] == NATIONAL)


def test_every_link_between_pages_leads_to_a_file(site: Site, entries: list[Entry]) -> None:
    site.publish()
    for page in site.out.rglob("*.html"):
        parser = _Hrefs()
        parser.feed(page.read_text(encoding="utf-8"))
        for href in parser.hrefs:
            target = href.removeprefix(SITE.base_url) if href.startswith(SITE.base_url) \
                else href
            if "://" in target:
                continue
            base = site.out if target != href else page.parent
            assert (base / target).resolve().is_file(), f"{page}: {href}"


def test_feeds_keep_the_newest_entries(site: Site, entries: list[Entry]) -> None:
    config = replace(site.config, publish=replace(site.config.publish, entries_per_feed=2))
    site.publish(config)
    root = etree.parse(str(site.out / "atom.xml")).getroot()
    newest = sorted(entries, key=lambda e: (e.updated, e.seq), reverse=True)[:2]
    assert [e.findtext(A + "id") for e in root.findall(A + "entry")] == [e.id for e in newest]


def test_an_empty_store_publishes_an_empty_root_feed_once(site: Site) -> None:
    # A new deployment: readers can subscribe before the first article arrives.
    report = site.publish()
    assert (report.feeds_written, report.pages_written) == (2, 1)
    assert set(snapshot(site.out)) == {"atom.xml", "rss.xml", "index.html", STATE_FILE}
    with site.store() as store:
        created = store.created()
    atom = etree.parse(str(site.out / "atom.xml")).getroot()
    assert atom.tag == A + "feed" and atom.findall(A + "entry") == []
    # Dated by the store, never by the publish: the bytes do not change.
    assert datetime.fromisoformat(atom.findtext(A + "updated")) == created
    assert atom.find(f"{A}link[@rel='self']").get("href") == SITE.base_url + "atom.xml"
    channel = etree.parse(str(site.out / "rss.xml")).getroot().find("channel")
    assert channel.findall("item") == [] and channel.findtext("title") == SITE.title
    assert "Test Times" in (site.out / "index.html").read_text(encoding="utf-8")
    before = snapshot(site.out)
    site.clock.now += timedelta(days=3)
    again = site.publish()
    assert (again.feeds_written, again.pages_written, again.feeds_unchanged) == (0, 0, 2)
    assert snapshot(site.out) == before  # bytes and mtimes


def test_the_first_entry_replaces_the_empty_root_feed(site: Site) -> None:
    site.publish()
    with site.store() as store:
        entry = add(store, article(1))
    site.publish()
    atom = etree.parse(str(site.out / "atom.xml")).getroot()
    assert [e.findtext(A + "id") for e in atom.findall(A + "entry")] == [entry.id]
    assert datetime.fromisoformat(atom.findtext(A + "updated")) == entry.updated


def test_progress_counts_every_entry(site: Site, entries: list[Entry]) -> None:
    steps: list[int] = []
    with site.store() as store:
        publish(store, site.config, progress=steps.append)
    assert sum(steps) == len(entries) and all(n > 0 for n in steps)


# ----------------------------------------------------------------------------- no extra work


def test_publishing_twice_touches_nothing(site: Site, entries: list[Entry]) -> None:
    site.publish()
    before = snapshot(site.out)
    report = site.publish()
    assert snapshot(site.out) == before  # bytes and mtimes
    assert (report.feeds_written, report.pages_written, report.files_removed) == (0, 0, 0)
    assert (report.feeds_unchanged, report.pages_unchanged) == (10, 6 + 5)


def test_a_revision_rewrites_only_what_shows_it(site: Site, entries: list[Entry]) -> None:
    site.publish()
    before = snapshot(site.out)
    with site.store() as store:
        revised = revise(store, entries[0].id, article(1, paragraphs=("A new first paragraph.",)))
    report = site.publish()
    shown_in = ("", "national", "national/politics")
    assert changed(before, snapshot(site.out)) == {revised.page, STATE_FILE} | {
        f"{d}/{name}".lstrip("/") for d in shown_in
        for name in ("atom.xml", "rss.xml", "index.html")}
    assert (report.feeds_written, report.pages_written) == (6, 1 + 3)
    assert b"A new first paragraph." in (site.out / revised.page).read_bytes()


def test_a_changed_site_setting_rerenders_every_page(site: Site, entries: list[Entry]) -> None:
    site.publish()
    config = replace(site.config, site=replace(SITE, title="Renamed Times"))
    report = site.publish(config)
    assert (report.feeds_written, report.pages_written) == (10, 6 + 5)
    assert all(b"Renamed Times" in (site.out / e.page).read_bytes() for e in entries)


def test_a_damaged_state_file_costs_time_not_correctness(site: Site,
                                                          entries: list[Entry]) -> None:
    site.publish()
    (site.out / STATE_FILE).write_text("{not json", encoding="utf-8")
    before = snapshot(site.out)
    report = site.publish()
    assert changed(before, snapshot(site.out)) == {STATE_FILE}
    assert (report.feeds_written, report.pages_written) == (0, 0)


# ----------------------------------------------------------------------------- restore, remove


def test_a_deleted_output_folder_is_restored(site: Site, entries: list[Entry]) -> None:
    site.publish()
    first = contents(site.out)
    shutil.rmtree(site.out)
    report = site.publish()
    assert contents(site.out) == first
    assert (report.feeds_written, report.pages_written) == (10, 6 + 5)


def test_deleted_files_are_restored_and_nothing_else_written(site: Site,
                                                             entries: list[Entry]) -> None:
    site.publish()
    (site.out / entries[2].page).unlink()
    (site.out / "business" / "rss.xml").unlink()
    before = snapshot(site.out)
    report = site.publish()
    assert changed(before, snapshot(site.out)) == {entries[2].page, "business/rss.xml"}
    assert (report.feeds_written, report.pages_written) == (1, 1)


def test_stale_sections_lose_our_files_and_keep_everyone_else_s(site: Site,
                                                               entries: list[Entry]) -> None:
    site.publish()
    foreign = {"robots.txt": b"User-agent: *\n", "business/notes.txt": b"mine\n",
               "about/index.html": b"<!DOCTYPE html><title>About</title>\n",
               "about/atom.xml": b"<feed/>\n"}
    for name, data in foreign.items():
        (site.out / name).parent.mkdir(parents=True, exist_ok=True)
        (site.out / name).write_bytes(data)
    # Another store with only National / Politics takes over the folder.
    other = site.tmp / "other.db"
    with site.store(other) as store:
        add(store, article(9))
    report = site.publish(db=other)
    files = set(snapshot(site.out))
    assert report.files_removed == 2 * 3  # business and business/markets
    assert not (site.out / "business" / "markets").exists()
    assert {"business/atom.xml", "business/rss.xml", "business/index.html"}.isdisjoint(files)
    assert {n: (site.out / n).read_bytes() for n in foreign} == foreign
    assert {"national/index.html", "national/politics/atom.xml"} <= files
    # Pages are never removed: their URLs were published and stay valid.
    assert {e.page for e in entries} <= files


def test_leftover_temporary_files_are_removed(site: Site, entries: list[Entry]) -> None:
    site.publish()
    page_dir = (site.out / entries[0].page).parent
    ours = [site.out / "national" / ".atom.xml.4242.tmp", page_dir / ".abc.html.7.tmp",
            site.out / f".{STATE_FILE}.9.tmp"]
    theirs = [site.out / ".notes.txt.3.tmp", site.out / "national" / ".draft.html.5.tmp"]
    for path in ours + theirs:
        path.write_bytes(b"partial")
    report = site.publish()
    assert report.files_removed == len(ours)
    assert [p.exists() for p in ours + theirs] == [False] * len(ours) + [True] * len(theirs)


# ----------------------------------------------------------------------------- failures


@pytest.mark.parametrize("killed", [True, False], ids=["killed", "write-error"])
def test_a_failure_before_the_rename_leaves_the_old_file_whole(site: Site, killed: bool) -> None:
    """Killed: the kernel ends the process in the middle of writing the root
    feed's temporary file.  Write error: Python's default (SIGXFSZ ignored),
    the write fails with EFBIG and publish reports it."""
    big = tuple(f"Paragraph {i} " + "word " * 2000 for i in range(3))  # pages ~30 KB
    with site.store() as store:
        first = [add(store, article(n, paragraphs=big)) for n in range(6)]  # feeds > 150 KB
    site.publish()
    atom = site.out / "atom.xml"
    old = atom.read_bytes()
    assert len(old) > 150_000
    with site.store() as store:
        revised = revise(store, first[0].id, article(0, paragraphs=("Short now.", *big)))
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from feedsvc.config import Config, PublishConfig, SiteConfig
        from feedsvc.errors import PublishError
        from feedsvc.publish import publish
        from feedsvc.store import SQLiteStore
        # No file may grow past 100 KB: pages fit, the root feed does not.
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        if {killed!r}:
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        site = SiteConfig(title={SITE.title!r}, base_url={SITE.base_url!r}, author={SITE.author!r})
        config = Config(site=site, publish=PublishConfig(folder=Path({str(site.out)!r}),
                        summary_chars=200))
        with SQLiteStore.open(Path({str(site.db)!r}), site=site) as store:
            try:
                publish(store, config)
            except PublishError as exc:
                print(exc.where)
                sys.exit(3)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False)
    leftovers = [p.name for p in site.out.iterdir() if TEMP_NAME.fullmatch(p.name)]
    if killed:
        assert run.returncode == -signal.SIGXFSZ, run.stderr
        assert len(leftovers) == 1 and leftovers[0].startswith(".atom.xml.")
    else:
        assert (run.returncode, run.stdout) == (3, f"{atom}\n"), run.stderr
        assert leftovers == []
    # The small page was written; the root feed is the old one, whole.
    assert b"Short now." in (site.out / revised.page).read_bytes()
    assert atom.read_bytes() == old
    report = site.publish()
    assert report.files_removed == len(leftovers)
    assert not [p for p in site.out.iterdir() if TEMP_NAME.fullmatch(p.name)]
    assert b"Short now." in atom.read_bytes()
    etree.fromstring(atom.read_bytes())


def test_an_output_folder_that_is_a_file_is_refused(site: Site, entries: list[Entry]) -> None:
    site.out.write_text("not a folder", encoding="utf-8")
    with pytest.raises(PublishError) as caught:
        site.publish()
    assert caught.value.where == str(site.out)


def test_a_file_in_the_way_of_a_section_folder_is_refused(site: Site,
                                                           entries: list[Entry]) -> None:
    site.out.mkdir()
    (site.out / "business").write_text("in the way", encoding="utf-8")
    with pytest.raises(PublishError, match="cannot create folder") as caught:
        site.publish()
    assert caught.value.where == str(site.out / "business")


@pytest.mark.parametrize("slug_path", ["../x", "a/../../x", "/tmp/x", "..", "a/.."])
def test_a_section_folder_outside_the_output_is_refused(tmp_path: Path, slug_path: str) -> None:
    out = OutputFolder(tmp_path / "out")
    with pytest.raises(PublishError, match="outside the output folder"):
        out.section_dir(Section(("X",), slug_path, "tag:localhost,2026:feeds/x"))
    assert not (tmp_path / "x").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_a_symlink_out_of_the_output_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "news").symlink_to(tmp_path / "elsewhere")
    out = OutputFolder(tmp_path / "out")
    with pytest.raises(PublishError, match="outside the output folder"):
        out.section_dir(Section(("News",), "news", "tag:localhost,2026:feeds/news"))
    with pytest.raises(PublishError, match="outside the output folder"):
        out.page_path("news/2026/a.html")


@pytest.mark.parametrize("page", ["../x.html", "articles/../../x.html", "/etc/x.html",
                                  "articles/.hidden.html", "articles/x.txt", "x.html"])
def test_a_page_path_outside_the_output_is_refused(tmp_path: Path, page: str) -> None:
    out = OutputFolder(tmp_path / "out")
    with pytest.raises(PublishError):
        out.page_path(page)
    assert out.page_path("articles/2026/03/01/ab.html") == \
        f"{tmp_path / 'out'}/articles/2026/03/01/ab.html"


def test_two_sections_in_one_folder_are_refused(tmp_path: Path) -> None:
    out = OutputFolder(tmp_path / "out")
    out.section_dir(Section(("B",), "b", "tag:localhost,2026:feeds/b"))
    with pytest.raises(PublishError, match="share a folder"):
        out.section_dir(Section(("A", "B"), "a/../b", "tag:localhost,2026:feeds/a/b"))


# ----------------------------------------------------------------------------- one process or two


@contextmanager
def another_thread() -> Iterator[None]:
    """Keep a second thread alive: publish must then not fork."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.fixture
def in_thread() -> Iterator[None]:
    with another_thread():
        yield


def test_one_process_writes_what_two_write(site: Site) -> None:
    """A fresh folder with 30 pages and 12 sections is written by two processes;
    a caller that runs threads gets it done in one, with the same bytes."""
    with site.store() as store:
        for n in range(30):
            add(store, article(n, ("World", f"Region {n % 10}")))
    assert threading.active_count() == 1
    two = site.publish()
    other = replace(site.config, publish=replace(site.config.publish, folder=site.tmp / "one"))
    with another_thread():
        one = site.publish(other)
    assert contents(site.tmp / "one") == contents(site.out)
    assert replace(one, duration=0) == replace(two, duration=0) == \
        PublishReport(24, 0, 30 + 12, 0, 0, duration=0)


def test_a_section_that_cannot_be_written_is_reported_by_either_process(site: Site) -> None:
    with site.store() as store:
        for n in range(10):
            add(store, article(n, ("World", f"Region {n}")))
    # Sections are built in order (root, world, world/region-0, ...) and shared
    # out alternately: "world" is the second process's.
    (site.out / "world" / "atom.xml" / "in-the-way").mkdir(parents=True)
    with pytest.raises(PublishError) as caught:
        site.publish()
    assert caught.value.where == str(site.out / "world" / "atom.xml")


@pytest.mark.parametrize("threads", [False, True], ids=["two-processes", "one-process"])
def test_a_page_that_cannot_be_written_is_reported_with_its_path(
    site: Site, entries: list[Entry], threads: bool, request: pytest.FixtureRequest
) -> None:
    if threads:
        request.getfixturevalue("in_thread")
    blocked = site.out / entries[0].page  # seq 1: the second process's share
    (blocked / "in-the-way").mkdir(parents=True)
    with pytest.raises(PublishError) as caught:
        site.publish()
    assert caught.value.where == str(blocked)
    assert not (site.out / "atom.xml").exists()  # no feed links to a missing page


def test_a_publish_stopped_half_way_keeps_what_it_did(site: Site, entries: list[Entry],
                                                      in_thread: None) -> None:
    class Stop(Exception):
        pass

    def stop(n: int) -> None:
        raise Stop

    with site.store() as store, pytest.raises(Stop):
        publish(store, site.config, progress=stop)
    with site.store() as store:
        assert store.page_states() == {e.page: e.version for e in entries}
    assert not (site.out / "atom.xml").exists()
    report = site.publish()
    assert (report.pages_written, report.feeds_written) == (5, 10)  # indexes and feeds


def test_many_entries_all_get_pages(site: Site) -> None:
    with site.store() as store:
        made = [add(store, article(n, MARKETS if n % 3 else POLITICS)) for n in range(40)]
    report = site.publish()
    assert report.pages_written == 40 + 5
    assert all((site.out / e.page).is_file() for e in made)
    assert all(re.fullmatch(r"articles/\d{4}/\d\d/\d\d/[0-9a-f]{16}\.html", e.page)
               for e in made)
    assert os.stat(site.out / made[0].page).st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
