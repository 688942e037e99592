"""No single entry stops a publish: whatever the ingest limits accept is
published whole, and an entry the renderers still fail on (a store written
by an older feedsvc) is left out, named, and everything else is published."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from conftest import feedsvc, seed_text
from lxml import etree

A = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
# The test reads our 40 MB feeds back; libxml2 refuses text nodes over 10 MB without this.
HUGE = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


def _atom(path: Path) -> etree._Element:
    return etree.parse(str(path), HUGE).getroot()


def _entry_ids(path: Path) -> list[str]:
    return [e.findtext(A + "id") for e in _atom(path).iter(A + "entry")]


def test_articles_the_limits_accept_are_published_whole(project: Path) -> None:
    # An operator may raise seeds.max_paragraph_chars up to seeds.max_bytes:
    # whatever that lets in must still publish.
    (project / "config.toml").write_text("[seeds]\nmax_paragraph_chars = 16777216\n",
                                         encoding="utf-8")
    ampersands = "&" * (3 << 20)  # 3 MiB, 15 MiB once escaped for HTML and then XML
    rng = random.Random(3)
    line = " ".join(rng.choice(["harbor", "rail", "yen", "typhoon"]) for _ in range(3_000_000))
    line = line[: 15 << 20]  # one 15 MiB line, under the 16 MiB seeds.max_bytes
    seeds = project / "seeds"
    (seeds / "001.txt").write_text(f"National\n\nAmpersands\n\n{ampersands}\n", encoding="utf-8")
    (seeds / "002.txt").write_text(f"National\n\nOne long line\n\n{line}\n", encoding="utf-8")
    result = feedsvc("publish", cwd=project, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ingest: 2 new" in result.stderr
    out = project / "data" / "feeds"
    for folder in (out, out / "national"):
        atom = {e.findtext(A + "title"): e.findtext(A + "content")
                for e in _atom(folder / "atom.xml").iter(A + "entry")}
        assert atom["Ampersands"] == f"<p>{'&amp;' * (3 << 20)}</p>"
        assert atom["One long line"] == f"<p>{line}</p>"
        rss = etree.parse(str(folder / "rss.xml"), HUGE).getroot()
        contents = {i.findtext("title"): i.findtext(CONTENT) for i in rss.iter("item")}
        assert contents == atom
    pages = sorted((out / "articles").rglob("*.html"), key=lambda p: p.stat().st_size)
    assert len(pages) == 2
    assert f"<p>{'&amp;' * (3 << 20)}</p>" in pages[0].read_text(encoding="utf-8")
    assert f"<p>{line}</p>" in pages[1].read_text(encoding="utf-8")


def _poison(db: Path, entry_id: str, sql: str) -> None:
    """Corrupt one entry behind the ingest's back, as an older feedsvc could have."""
    with sqlite3.connect(db) as conn:
        assert conn.execute(sql, (entry_id,)).rowcount == 1


def _ids(project: Path) -> dict[str, str]:
    """Entry id by title, from the store."""
    with sqlite3.connect(project / "data" / "feedsvc.db") as conn:
        return dict(conn.execute(
            "SELECT v.title, e.id FROM entries e JOIN versions v ON v.entry_seq = e.seq"))


def _write_seeds(project: Path, sections: dict[str, str], start: int = 0) -> None:
    rng = random.Random(start)
    for i, (title, section) in enumerate(sections.items(), start):
        (project / "seeds" / f"{i:03d}.txt").write_text(
            seed_text(rng, section=section, title=title), encoding="utf-8")


def test_an_entry_that_cannot_be_rendered_is_left_out_and_named(project: Path) -> None:
    _write_seeds(project, {"Cabinet meets": "National / Politics",
                           "Shares rise": "Business / Markets",
                           "Rice harvest": "Life"})
    feedsvc("publish", cwd=project)
    ids = _ids(project)
    db = project / "data" / "feedsvc.db"
    poisoned = ids["Shares rise"]
    # U+FFFF is not an XML character: feeds cannot carry it.
    _poison(db, poisoned, "UPDATE versions SET title = title || char(65535)"
                          " WHERE entry_seq = (SELECT seq FROM entries WHERE id = ?)")
    _write_seeds(project, {"Budget passes": "National / Politics"}, start=10)

    result = feedsvc("publish", cwd=project, check=False)
    assert result.returncode == 6, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 3  # the root, Business and Business / Markets
    assert all(poisoned in line and "XML compatible" in line for line in warnings)
    assert any("'business/markets'" in line for line in warnings)

    out = project / "data" / "feeds"
    feeds = {p.relative_to(out).as_posix(): p for p in out.rglob("*.xml")}
    assert set(feeds) == {f"{d}{name}" for d in ("", "national/", "national/politics/",
                                                 "business/", "business/markets/", "life/")
                          for name in ("atom.xml", "rss.xml")}
    for path in feeds.values():  # every feed written whole and well-formed
        text = etree.tostring(etree.parse(str(path)))
        assert poisoned.encode() not in text
    # Written by this very publish: the new entry is in them.
    budget = _ids(project)["Budget passes"]
    assert _entry_ids(out / "atom.xml") == [budget, ids["Rice harvest"], ids["Cabinet meets"]]
    assert _entry_ids(out / "national" / "politics" / "atom.xml")[0] == budget
    assert _entry_ids(out / "business" / "atom.xml") == []
    assert "Shares rise" not in (out / "index.html").read_text(encoding="utf-8")

    # Still there: reported again by the next publish, not forgotten.
    again = feedsvc("publish", cwd=project, check=False)
    assert again.returncode == 6 and poisoned in again.stderr

    feedsvc("entries", "hide", poisoned, cwd=project)
    fixed = feedsvc("publish", cwd=project, check=False)
    assert fixed.returncode == 0, fixed.stderr
    assert "WARNING" not in fixed.stderr
    assert not (out / "business").exists()


def test_an_entry_whose_page_cannot_be_rendered_is_named(project: Path) -> None:
    _write_seeds(project, {"Cabinet meets": "National / Politics",
                           "Shares rise": "Business / Markets"})
    feedsvc("publish", cwd=project)
    ids = _ids(project)
    # A date without an offset: no page or feed can say when it was published.
    _poison(project / "data" / "feedsvc.db", ids["Cabinet meets"],
            "UPDATE entries SET published = '2026-01-01T00:00:00', page = 'articles/x.html'"
            " WHERE id = ?")
    result = feedsvc("publish", cwd=project, check=False)
    assert result.returncode == 6, result.stderr
    assert f"entry {ids['Cabinet meets']}: its page was not written: ValueError: naive" \
        in result.stderr
    out = project / "data" / "feeds"
    assert not (out / "articles" / "x.html").exists()
    assert _entry_ids(out / "atom.xml") == [ids["Shares rise"]]
    # Not recorded as written: the next publish tries again and says so again.
    again = feedsvc("publish", cwd=project, check=False)
    assert again.returncode == 6 and "its page was not written" in again.stderr


def test_run_once_exits_6_when_an_entry_is_left_out(project: Path) -> None:
    _write_seeds(project, {"Cabinet meets": "National / Politics", "Shares rise": "Business"})
    feedsvc("publish", cwd=project)
    poisoned = _ids(project)["Shares rise"]
    _poison(project / "data" / "feedsvc.db", poisoned,
            "UPDATE versions SET title = title || char(65535)"
            " WHERE entry_seq = (SELECT seq FROM entries WHERE id = ?)")
    _write_seeds(project, {"Budget passes": "National / Politics"}, start=10)

    result = feedsvc("run", "--once", cwd=project, check=False)
    assert result.returncode == 6, result.stderr[-2000:]
    assert poisoned in result.stderr and "Traceback" not in result.stderr
    budget = _ids(project)["Budget passes"]
    assert budget in _entry_ids(project / "data" / "feeds" / "atom.xml")

    feedsvc("entries", "hide", poisoned, cwd=project)
    assert feedsvc("run", "--once", cwd=project, check=False).returncode == 0
