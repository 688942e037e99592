"""No single entry stops a publish: whatever the ingest limits accept is
published whole."""

from __future__ import annotations

import random
from pathlib import Path

from conftest import feedsvc
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
