"""Hostile input at the boundary: characters no feed can carry, huge text,
file names that are not text, and files that change between scan and read.

Whatever arrives, an input is ingested or rejected with a reason, and every
later publish still exits 0 with every feed well-formed.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import feedsvc, seed_text, write_seeds
from hypothesis import event, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.config import load_config
from feedsvc.localread import read_regular_file
from feedsvc.names import from_store_key, printable, store_key
from feedsvc.publish import publish
from feedsvc.seeds import prepare as prep
from feedsvc.seeds.ingest import ingest_seeds
from feedsvc.seeds.parse import ParseOptions
from feedsvc.seeds.scan import SeedFile, scan_seeds
from feedsvc.store import SQLiteStore, open_store
from feedsvc.xmltext import drop_unpublishable, first_unpublishable

BODY = ("The council met on Tuesday and agreed a budget for the harbor, the school"
        " and the museum after a long debate that lasted well into the evening.")


def seed(title: str = "Harbor budget agreed", *, section: str = "National",
         byline: str = "by Hana Sato", body: str = BODY) -> str:
    return f"{section}\n\n{title}\n\n{byline}\n\n{body}\n"


def parse_feeds(out: Path) -> list[Path]:
    """Every feed below ``out``, each parsed as XML without recovery (raises if one is not)."""
    feeds = sorted(out.rglob("*.xml"))
    for path in feeds:
        etree.fromstring(path.read_bytes(), etree.XMLParser(recover=False, resolve_entities=False))
    return feeds


def log_lines_are_ours(stderr: str) -> None:
    """Every line of stderr is one of feedsvc's own log lines; no escape reaches a terminal."""
    assert "\x1b" not in stderr and "\x9b" not in stderr
    for line in stderr.splitlines():
        assert line.startswith("feedsvc: "), line


# ----------------------------------------------------------------------------- characters


def test_the_policy_is_xml_and_html_text() -> None:
    bad = ["\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9b", "\ud800", "\udce9",
           "\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff"]
    good = ["\t", "\n", "\r", " ", "\xa0", "\ud7ff", "\ue000", "\ufdcf", "\ufdf0", "\ufffd",
            "\U00010000", "\U0001f600", "\U0001fffd", "\U0010fffd"]
    for ch in bad:
        assert first_unpublishable(f"ab{ch}c{ch}") == ch
        assert drop_unpublishable(f"ab{ch}c{ch}") == "abc"
    for ch in good:
        assert first_unpublishable(f"ab{ch}c") is None
        assert drop_unpublishable(f"ab{ch}c") == f"ab{ch}c"


@pytest.mark.parametrize(
    ("where", "char", "reason"),
    [
        ("title", "\ufffe", "noncharacter U+FFFE"),
        ("body", "\uffff", "noncharacter U+FFFF"),
        ("byline", "\ufdd0", "noncharacter U+FDD0"),
        ("section", "\U0001fffe", "noncharacter U+1FFFE"),
        ("title", "\x1b", "control character U+001B"),
        ("body", "\x85", "control character U+0085"),
    ],
)
def test_a_seed_holding_what_no_feed_can_carry_is_rejected_and_publishing_goes_on(
        project: Path, where: str, char: str, reason: str) -> None:
    parts = {"title": f"Harbor {char} budget", "body": f"{BODY} {char}",
             "byline": f"by Hana {char}Sato", "section": f"National{char}"}
    kwargs = {where: parts[where]}
    (project / "seeds" / "bad.txt").write_text(seed(**kwargs), encoding="utf-8")
    (project / "seeds" / "bad-utf16.txt").write_text(seed(**kwargs), encoding="utf-16")
    (project / "seeds" / "good.txt").write_text(seed("Good one"), encoding="utf-8")
    result = feedsvc("publish", cwd=project)  # exits 0
    assert f"rejected bad.txt: not text: {reason}" in result.stderr
    assert f"rejected bad-utf16.txt: not text: {reason}" in result.stderr
    feeds = parse_feeds(project / "data" / "feeds")
    assert b"Good one" in (project / "data" / "feeds" / "atom.xml").read_bytes()
    assert len(feeds) == 4  # root and National, Atom and RSS
    assert feedsvc("publish", cwd=project).returncode == 0  # and every later one


HOSTILE_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire{esc}</title><link>https://wire.example/</link>
<description>d</description>
<item><title>Raw escape{esc}[31m in a title</title><link>https://wire.example/1</link>
<guid>w-1</guid><category>Pol{esc}itics</category>
<description>Body with a raw control {ctl} character.</description></item>
<item><title>Reference to a noncharacter &#xFFFE; in a title</title>
<link>https://wire.example/2</link><guid>w-2</guid>
<description>Body &#x1; with a reference to a control.</description></item>
</channel></rss>"""

ESCAPED_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Clean wire</title><link>https://clean.example/</link>
<description>d</description>
<item><title>Escaped references in HTML</title><link>https://clean.example/1</link>
<guid>c-1</guid>
<description>&lt;p&gt;one &amp;#1; two &amp;#xFFFE; three \x85 four \ufdd0 five&lt;/p&gt;
</description></item></channel></rss>"""


def test_a_remote_document_cannot_store_what_no_feed_can_carry(project: Path) -> None:
    # The first document is not well-formed (raw controls): feedparser's
    # fallback reads it and keeps them.  The second is well-formed: lxml reads
    # it, and the sanitizer turns the escaped references into characters.
    hostile = project / "hostile.xml"
    hostile.write_text(HOSTILE_FEED.format(esc="\x1b", ctl="\x01"), encoding="utf-8")
    escaped = project / "escaped.xml"
    escaped.write_text(ESCAPED_FEED, encoding="utf-8")
    (project / "config.toml").write_text(
        f'[[sources]]\nurl = "{hostile}"\nname = "hostile"\nsection = "World"\n'
        f'[[sources]]\nurl = "{escaped}"\nname = "escaped"\nsection = "World"\n',
        encoding="utf-8")
    feedsvc("publish", cwd=project)  # exits 0
    out = project / "data" / "feeds"
    parse_feeds(out)
    atom = (out / "atom.xml").read_text(encoding="utf-8")
    pages = "".join(p.read_text(encoding="utf-8") for p in (out / "articles").rglob("*.html"))
    for text in (atom, pages):
        assert first_unpublishable(text) is None
        assert "Raw escape[31m in a title" in text
        assert "Reference to a noncharacter" in text and "with a reference to a control" in text
        assert "one  two  three  four  five" in text


# ----------------------------------------------------------------------------- huge text


def test_huge_single_line_bodies_are_rejected_by_name_and_publishing_goes_on(
        project: Path) -> None:
    seeds = project / "seeds"
    (seeds / "one-line.txt").write_text(seed(body="word " * 3_000_000), encoding="utf-8")
    (seeds / "ampersands.txt").write_text(seed(body="&" * 3_000_000), encoding="utf-8")
    (seeds / "good.txt").write_text(seed("Good one"), encoding="utf-8")
    assert (seeds / "one-line.txt").stat().st_size > 15_000_000
    result = feedsvc("publish", cwd=project)  # exits 0
    assert ("rejected ampersands.txt: paragraph too long: 3000000 characters (limit 100000)"
            in result.stderr)
    assert "rejected one-line.txt: paragraph too long: 14999999 characters" in result.stderr
    parse_feeds(project / "data" / "feeds")
    assert b"Good one" in (project / "data" / "feeds" / "atom.xml").read_bytes()
    assert feedsvc("publish", "--strict", cwd=project).returncode == 0  # remembered verdicts


def test_the_paragraph_limit_is_configurable(project: Path) -> None:
    long = "A sentence of an unusually long paragraph. " * 60  # 2,580 characters
    (project / "seeds" / "long.txt").write_text(seed(body=long), encoding="utf-8")
    (project / "config.toml").write_text("[seeds]\nmax_paragraph_chars = 2000\n")
    result = feedsvc("ingest", cwd=project)
    assert "rejected long.txt: paragraph too long: 2579 characters (limit 2000)" in result.stderr
    (project / "config.toml").write_text("[seeds]\nmax_paragraph_chars = 10\n")
    bad = feedsvc("ingest", cwd=project, check=False)
    assert bad.returncode == 2 and "seeds.max_paragraph_chars" in bad.stderr


# ----------------------------------------------------------------------------- file names


NASTY_NAMES = [
    b"caf\xe9.txt",  # Latin-1, not UTF-8
    b"\xff\xfe\x80.txt",
    b"two\nfeedsvc: ERROR: a fake line.txt",
    b"\x1b[31mred\x1b[0m.txt",
    b"csi\xc2\x9b31m.txt",  # U+009B, the one-character CSI
    b"back\\xe9.txt",  # what printable() writes for caf\xe9: must stay apart
    b"bidi\xe2\x80\xaetxt.exe.txt",  # U+202E right-to-left override
    b"%E9.txt",
]


def write_nasty(seeds: Path, *, rejected: bool = True) -> dict[bytes, str]:
    """A good seed under each nasty name and, with ``rejected``, an empty file
    under the same name in a subfolder (rejected files are listed by status)."""
    written: dict[bytes, str] = {}
    folder = os.fsencode(seeds)
    os.makedirs(folder + b"/sub\xe9", exist_ok=True)
    for i, name in enumerate(NASTY_NAMES):
        path = folder + b"/" + name
        with open(path, "wb") as fh:
            fh.write(seed_text(random.Random(i), section="National").encode())
        written[name] = "new"
        if rejected:
            with open(folder + b"/sub\xe9/" + name, "wb"):
                pass
            written[b"sub\xe9/" + name] = "rejected"
    return written


def check_names_everywhere(project: Path, written: dict[bytes, str]) -> None:
    db = project / "data" / "feedsvc.db"
    keys = [k for (k,) in sqlite3.connect(db).execute("SELECT path FROM files")]
    assert len(set(keys)) == len(keys)
    with SQLiteStore.open(db, site=load_config(None).site, readonly=True) as store:
        states = store.file_states()
    by_name = {os.fsencode(rel): st.decision.value for rel, st in states.items()}
    for name, decision in written.items():
        assert by_name[name] == decision  # the exact bytes came back
    status = feedsvc("status", cwd=project).stdout
    assert "\x1b" not in status and "\x9b" not in status
    rejected = [line for line in status.splitlines() if "empty file" in line]
    assert sorted(rejected) == sorted(
        f"  {printable(os.fsdecode(n))}: empty file" for n, d in written.items()
        if d == "rejected")
    doc = json.loads(feedsvc("status", "--json", cwd=project).stdout)
    shown = {path for path, _ in doc["rejected"]}
    assert shown == {printable(os.fsdecode(n)) for n, d in written.items() if d == "rejected"}
    assert r"sub\xe9/caf\xe9.txt" in shown and r"sub\xe9/back\\xe9.txt" in shown
    assert r"sub\xe9/two\u000afeedsvc: ERROR: a fake line.txt" in shown


def test_any_file_name_is_ingested_kept_exactly_and_shown_escaped(project: Path) -> None:
    written = write_nasty(project / "seeds")
    result = feedsvc("ingest", "-v", cwd=project)
    assert f"{len(NASTY_NAMES)} new, 0 revised, 0 duplicate, 0 unchanged," in result.stderr
    log_lines_are_ours(result.stderr)
    assert r"rejected sub\xe9/\u001b[31mred\u001b[0m.txt: empty file" in result.stderr
    check_names_everywhere(project, written)
    again = feedsvc("publish", cwd=project)
    assert f"0 new, 0 revised, 0 duplicate, {len(written)} unchanged" in again.stderr
    parse_feeds(project / "data" / "feeds")


def test_nasty_names_in_a_batch_read_by_the_worker_processes(project: Path) -> None:
    count = prep.POOL_MIN_FILES
    write_seeds(project / "seeds", count)
    written = write_nasty(project / "seeds")
    result = feedsvc("ingest", cwd=project)
    assert f"{count + len(NASTY_NAMES)} new, 0 revised" in result.stderr
    assert f"{len(NASTY_NAMES)} rejected" in result.stderr
    log_lines_are_ours(result.stderr)
    check_names_everywhere(project, written)


def test_store_keys_round_trip_and_never_collide() -> None:
    names = [os.fsdecode(n) for n in NASTY_NAMES] + ["a.txt", "sub/a.txt", "%2F.txt"]
    names += [os.fsdecode(b"sub\xe9/" + n) for n in NASTY_NAMES]
    keys = [store_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    assert [from_store_key(k) for k in keys] == names
    for key in keys:
        key.encode("utf-8")  # storable
    shown = [printable(n) for n in names]
    assert len(set(shown)) == len(shown) and all(s.isprintable() for s in shown)


# ----------------------------------------------------------------------------- races


# Runs the real command with the scan wrapped: right after the scan, the file
# named in argv[2] is replaced by a FIFO, or moved away (the window between
# scan and read, made wide).
RACE = """
import os, sys
from pathlib import Path
import feedsvc.seeds.ingest as pipeline
from feedsvc.cli.commands import main

action, victim = sys.argv[1], sys.argv[2]
real_scan = pipeline.scan_seeds

def scan(folder, pattern):
    files = real_scan(folder, pattern)
    path = Path(folder) / victim
    if action == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        path.rename(path.with_name(path.name + ".away"))
    return files

pipeline.scan_seeds = scan
sys.argv = ["feedsvc", *sys.argv[3:]]
main()
"""


def race(project: Path, action: str, victim: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RACE, action, victim, *args], cwd=project,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("action", ["fifo", "vanish"])
def test_a_file_gone_between_scan_and_read_is_reported_and_read_when_back(
        project: Path, action: str) -> None:
    seeds = project / "seeds"
    (seeds / "victim.txt").write_text(seed_text(random.Random(1), title="The victim"))
    (seeds / "other.txt").write_text(seed_text(random.Random(2)))
    before = (seeds / "victim.txt").read_bytes(), (seeds / "victim.txt").stat().st_mtime_ns
    result = race(project, action, "victim.txt", "publish", "--strict")
    assert result.returncode == 1, result.stderr  # reported as a rejected input …
    reason = "not a regular file" if action == "fifo" else "No such file or directory"
    assert f"rejected victim.txt: cannot read: {reason}" in result.stderr
    assert "1 new" in result.stderr
    # … but not remembered: nothing is recorded of it
    assert "victim.txt" not in feedsvc("status", cwd=project).stdout
    # Back as it was, same bytes and mtime: it is read, not skipped as unchanged.
    if action == "fifo":
        (seeds / "victim.txt").unlink()
    else:
        (seeds / "victim.txt.away").rename(seeds / "victim.txt")
    (seeds / "victim.txt").write_bytes(before[0])
    os.utime(seeds / "victim.txt", ns=(before[1], before[1]))
    again = feedsvc("publish", cwd=project)
    assert "1 new, 0 revised, 0 duplicate, 1 unchanged, 0 rejected" in again.stderr
    assert b"The victim" in (project / "data" / "feeds" / "atom.xml").read_bytes()


def test_a_fifo_file_source_does_not_hang_the_run(project: Path) -> None:
    fifo = project / "wire.xml"
    os.mkfifo(fifo)
    (project / "config.toml").write_text(
        f'[[sources]]\nurl = "{fifo}"\nname = "wire"\nsection = "World"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "feedsvc", "ingest", "--only", "feeds"],
                            cwd=project, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "not a regular file" in feedsvc("sources", cwd=project).stdout


def test_reading_refuses_what_the_scan_did_not_see(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text(seed(), encoding="utf-8")
    (tmp_path / "a.txt").write_text(seed(), encoding="utf-8")
    (tmp_path / "link.txt").symlink_to("target.txt")
    files = {f.relpath: f for f in scan_seeds(tmp_path, "*.txt")}
    assert files["link.txt"].followed and not files["a.txt"].followed
    # a.txt becomes a link after the scan: not followed
    (tmp_path / "a.txt").unlink()
    (tmp_path / "a.txt").symlink_to("target.txt")
    options = ParseOptions(boilerplate=())
    swapped = prep.prepare(files["a.txt"], options)
    assert swapped.unread and swapped.problem is not None
    assert swapped.problem.startswith("cannot read: Too many levels of symbolic links")
    assert prep.prepare(files["link.txt"], options).article is not None
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(tmp_path / "fifo", 10)
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(tmp_path, 10)
    gone = SeedFile(tmp_path, "gone.txt", 10, 1)
    assert prep.prepare(gone, options).unread


def test_content_verdicts_are_still_remembered(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "empty.txt").write_bytes(b"")
    (tmp_path / "seeds" / "big.txt").write_bytes(b"x" * 2048)
    (tmp_path / "config.toml").write_text("[seeds]\nmax_bytes = 1024\n")
    config = load_config(tmp_path / "config.toml")
    with open_store(config) as store:
        first = ingest_seeds(store, config)
        assert first.counts["rejected"] == 2
        second = ingest_seeds(store, config)
        assert second.counts == {"unchanged": 2}


# ----------------------------------------------------------------------------- property


_NASTY_CHARS = ["\x00", "\x01", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9b", "\xa0", "\u2028",
                "\u202e", "\ufdd0", "\ufeff", "\ufffd", "\ufffe", "\uffff", "\U0001fffe",
                "\U0010ffff", "\ud800", "\udce9", "\udcff", "&", "<", "]]>", "/", "\\", "\r",
                "\t", "\n", "\n\n", "by ", "Staff Writer"]
_ANY_TEXT = st.lists(st.one_of(st.characters(exclude_categories=()),
                               st.sampled_from(_NASTY_CHARS)), max_size=20).map("".join)
# Every plane, combining marks, format and bidirectional characters, private
# use, unassigned code points: all a feed can carry (half the examples, so
# that many are accepted and published).
_TEXT_CHAR = st.characters(exclude_categories=("Cc", "Cs")).filter(
    lambda c: ord(c) & 0xFFFE != 0xFFFE and not 0xFDD0 <= ord(c) <= 0xFDEF)
_FIELD = st.one_of(st.lists(_TEXT_CHAR, min_size=1, max_size=20).map("".join), _ANY_TEXT)


def _raw(text: str) -> bytes:
    """Text as bytes on disk: an escaped surrogate is its byte, any other one its
    (invalid) UTF-8 form."""
    return b"".join(bytes([ord(ch) - 0xDC00]) if 0xDC80 <= ord(ch) <= 0xDCFF
                    else ch.encode("utf-8", "surrogatepass") for ch in text)


@settings(max_examples=40, deadline=None)
@given(section=_FIELD, title=_FIELD, body=_FIELD, name=_ANY_TEXT)
def test_any_text_anywhere_publishes_or_is_rejected_with_a_reason(
        section: str, title: str, body: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "seeds").mkdir()
        file_name = b"n" + _raw(name).replace(b"/", b"").replace(b"\0", b"")[:200] + b".txt"
        content = f"{section}\n\n{title}\n\nby Hana Sato\n\n{BODY} {body}\n"
        with open(os.fsencode(root / "seeds") + b"/" + file_name, "wb") as fh:
            fh.write(_raw(content))
        config = load_config(None).with_overrides(
            seeds=root / "seeds", db=root / "data" / "feedsvc.db", out=root / "out")
        # A file whose first block does not read as a section is filed here.
        config = replace(config, seeds=replace(config.seeds, default_section=("Misc",)))
        with open_store(config) as store:
            report = ingest_seeds(store, config)
            assert report.counts.get("new", 0) + len(report.rejected) == 1
            event("accepted" if report.counts.get("new") else "rejected")
            for outcome in report.rejected:
                assert outcome.message
                assert outcome.path == os.fsdecode(file_name)
                assert printable(outcome.path).isprintable()
            assert set(store.file_states()) == {os.fsdecode(file_name)}
            publish(store, config)
        parse_feeds(root / "out")
        for path in (root / "out").rglob("*"):
            if path.is_file():
                assert first_unpublishable(path.read_text(encoding="utf-8")) is None


def test_named_files_are_ingested_alone_and_the_scan_brings_the_rest(project: Path) -> None:
    rng = random.Random(13)
    seeds = project / "seeds"
    (seeds / "old.txt").write_text(seed_text(rng, title="Already stored"), encoding="utf-8")
    config = load_config(project / "config.toml")
    with open_store(config) as store:
        assert ingest_seeds(store, config).counts == {"new": 1, "unchanged": 0}
        (seeds / "named.txt").write_text(seed_text(rng, title="Named by the watcher"),
                                         encoding="utf-8")
        (seeds / "unnamed.txt").write_text(seed_text(rng, title="Missed by the watcher"),
                                           encoding="utf-8")
        named = ingest_seeds(store, config, paths={str(seeds / "named.txt"),
                                                   str(seeds / "old.txt"),
                                                   str(project / "config.toml")})
        assert named.counts == {"new": 1, "unchanged": 1}
        assert set(store.file_stats_of(["named.txt", "unnamed.txt"])) == {"named.txt"}
        assert ingest_seeds(store, config).counts == {"new": 1, "unchanged": 2}
        titles = sorted(e.title for e in store.iter_entries())
    assert titles == ["Already stored", "Missed by the watcher", "Named by the watcher"]
