"""Write N synthetic seed files shaped like the real sample, deterministically.

    .venv/bin/python bench/gen_seeds.py --n 100000 bench/out/seeds

File names are ``<zero-padded sequence>_<16 hex>.txt`` so name order is scrape
order.  The mix: new articles (sections with a Zipf skew, bylines in every
form the sample family uses, wire credits, editorials and daily market
reports sharing a title or a template), ~3 % revisions of earlier articles
(written later in the sequence), ~3 % duplicates of earlier files (some with
other line endings, BOM, encoding or page furniture), ~0.2 % junk.  Some files
are CRLF, have a BOM or are cp1252.

The manifest (``<dir>.manifest.json`` beside the folder unless ``--manifest`` says otherwise)
records for every file the decision a correct ingest makes, the article
("entry") it belongs to and, for revisions, the edit and the word-3-gram
Jaccard similarity to the version it revises.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from textgen import TextGen

BANNER = "Coronavirus banner"

# (path, weight before the Zipf skew is applied by rank order)
SECTIONS = [
    "National", "National / Politics", "National / Crime & Legal", "National / Science & Health",
    "National / Social Issues", "National / Media", "National / Obituaries", "National / History",
    "Business", "Business / Economy", "Business / Markets", "Business / Corporate",
    "Business / Tech", "Business / Financial Markets / Bonds", "Business / Economy / Trade",
    "World", "World / Asia Pacific", "World / Asia Pacific / Politics",
    "World / Asia Pacific / Social Issues", "World / Europe", "World / Americas",
    "World / Middle East", "World / Africa", "World / Politics", "World / Science & Health",
    "Sports", "Sports / Baseball", "Sports / Baseball / MLB", "Sports / Soccer",
    "Sports / Sumo", "Sports / Tennis", "Sports / Figure Skating", "Sports / Rugby",
    "Sports / Basketball", "Sports / Olympics", "Sports / More Sports / Golf",
    "Opinion", "Opinion / Editorials", "Opinion / Commentary", "Opinion / Letters",
    "Life", "Life / Food & Drink", "Life / Travel", "Life / Style & Design", "Life / Lifestyle",
    "Life / Digital", "Life / Language", "Life / Environment", "Culture", "Culture / Film",
    "Culture / Music", "Culture / Books", "Culture / Art", "Culture / Stage",
    "Culture / Entertainment News", "Community", "Community / Our Lives", "Community / Issues",
    "Community / How-tos", "Reference / Q & A", "Reference / Multimedia", "Events / Kansai",
]
EDITORIAL_SECTION = "Opinion / Editorials"
MARKETS_SECTION = "Business / Markets"
WIRES = ["Kyodo", "Reuters", "AFP-JIJI", "Bloomberg", "AP", "JIJI"]
CREDITS = ["Staff Writer", "Staff Writer", "Staff Writer", "Staff Writer", "Senior Staff Writer",
           "Contributing Writer", "Special to the paper", "Staff Report"]

P_REVISION, P_DUPLICATE, P_JUNK = 0.03, 0.03, 0.002


@dataclass(slots=True)
class Article:
    section: str
    title: str
    byline: str | None
    credit: str | None
    paragraphs: list[str]
    banner: bool


@dataclass(slots=True)
class Style:
    """How an article is put into bytes: none of this is content."""

    crlf: bool = False
    bom: bool = False
    cp1252: bool = False
    final_newline: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str  # new | revision | duplicate | junk
    entry: int = -1  # article number (each new file mints one)


Kept = tuple[Article, Style, str]  # an article's latest version, its style, its file


def render(a: Article, s: Style) -> bytes:
    parts = [a.section, a.title]
    if a.byline:
        parts.append(a.byline)
    if a.credit:
        parts.append(a.credit)
    parts.extend(a.paragraphs)
    if a.banner:
        parts.append(BANNER)
    text = "\n\n".join(parts) + ("\n" if s.final_newline else "")
    if s.crlf:
        text = text.replace("\n", "\r\n")
    if s.cp1252:
        return text.encode("cp1252", errors="replace")
    return ("\ufeff" if s.bom else "").encode() + text.encode()


def cp1252_ok(a: Article) -> bool:
    try:
        "".join([a.title, *a.paragraphs, a.byline or ""]).encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def shingles(a: Article) -> set[tuple[str, ...]]:
    words = " ".join(a.paragraphs).split()
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def jaccard(a: Article, b: Article) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / max(1, len(sa | sb))


class Generator:
    def __init__(self, seed: int) -> None:
        self.t = TextGen(seed)
        self.py = self.t.py
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(SECTIONS))]
        order = SECTIONS[:]
        self.py.shuffle(order)  # which sections are popular is part of the seed
        for hot in ("National / Politics", "Business / Economy", "World / Asia Pacific"):
            order.remove(hot)
            order.insert(0, hot)
        self.sections, self.section_weights = order, weights

    def reseed(self, seed: int) -> None:
        self.t.reseed(seed)

    # -- new articles -------------------------------------------------------------

    def _size(self) -> int:
        return max(700, min(12_000, int(self.py.lognormvariate(8.25, 0.35))))

    def _paragraph_count(self) -> int:
        r = self.py.random()
        if r < 0.08:
            return self.py.randrange(1, 5)
        if r < 0.9:
            return self.py.randrange(5, 21)
        return self.py.randrange(21, 31)

    def _credit_fields(self) -> tuple[str | None, str | None]:
        r = self.py.random()
        if r < 0.62:
            return self.t.byline(), self.py.choice(CREDITS)
        if r < 0.70:
            return self.t.byline(), self.py.choice(WIRES)
        if r < 0.93:
            return None, self.py.choice(WIRES)
        return None, None

    def new_article(self) -> tuple[Article, str]:
        py, t = self.py, self.t
        topic = t.rare_words(py.randrange(6, 20))
        r = py.random()
        if r < 0.02:
            return self._market_report(topic), "market"
        if r < 0.035:
            paras = t.body(self._paragraph_count(), self._size(), topic)
            return Article(EDITORIAL_SECTION, "Editorial", None, None, paras,
                           py.random() < 0.5), "editorial"
        section = py.choices(self.sections, weights=self.section_weights)[0]
        byline, credit = self._credit_fields()
        n = self._paragraph_count()
        paras = t.body(n, self._size(), topic)
        return Article(section, t.title(topic), byline, credit, paras, py.random() < 0.45), "plain"

    def _market_report(self, topic: list[str]) -> Article:
        py = self.py
        up = py.random() < 0.5
        verb = "rose" if up else "fell"
        nikkei = py.uniform(15_000, 24_000)
        day = py.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
        pts, pct = py.uniform(1, 600), py.uniform(0.01, 3)
        template = [
            f"The benchmark Nikkei 225 average {verb} {pts:.2f} points, or {pct:.2f} percent, "
            f"to close at {nikkei:,.2f} on {day}.",
            f"The broader Topix index {verb} {pts / 13:.2f} points, or {pct * 0.9:.2f} percent, "
            f"to {nikkei / 13.5:,.2f}. Advancing issues outnumbered declining ones "
            f"{py.randrange(200, 1800):,} to {py.randrange(200, 1800):,} on the first section, "
            f"with {py.randrange(30, 200)} issues unchanged.",
            f"Volume came to {py.uniform(0.8, 2.5):.2f} billion shares, compared with "
            f"{py.uniform(0.8, 2.5):.2f} billion shares on the previous trading day.",
        ]
        extra = self.t.body(py.randrange(2, 9), self._size() // 2, topic)
        mood = "Stocks rise" if up else "Stocks fall"
        title = py.choice(["Tokyo stocks", f"{mood} in Tokyo", "Market report"])
        return Article(MARKETS_SECTION, title, None, py.choice(("Kyodo", "JIJI")),
                       template + extra, py.random() < 0.3)

    def style(self) -> Style:
        py = self.py
        return Style(
            crlf=py.random() < 0.05,
            bom=py.random() < 0.03,
            cp1252=py.random() < 0.01,
            final_newline=py.random() < 0.5,
        )

    # -- revisions ---------------------------------------------------------------

    def revise(self, a: Article) -> tuple[Article, str]:
        py, t = self.py, self.t
        paras = list(a.paragraphs)
        topic = t.rare_words(6)
        edit = py.choices(
            ("typo", "headline", "add_paragraph", "edit_paragraph", "headline+typo", "byline"),
            weights=(35, 18, 15, 20, 8, 4),
        )[0]
        if edit == "add_paragraph" and len(paras) < 5:
            edit = "typo"
        new = replace(a, paragraphs=paras)
        if "typo" in edit:
            i = py.randrange(len(paras))
            words = paras[i].split(" ")
            j = max(range(len(words)), key=lambda k: (len(words[k]), py.random()))
            words[j] = typo(words[j], py.randrange(len(words[j]) - 1) if len(words[j]) > 1 else 0)
            paras[i] = " ".join(words)
        if "headline" in edit:
            new.title = t.title(topic)
        if edit == "add_paragraph":
            paras.insert(py.randrange(1, len(paras) + 1), t.paragraph(py.randrange(1, 4), topic))
        if edit == "edit_paragraph":
            i = py.randrange(len(paras))
            sentences = paras[i].split(". ")
            sentences[py.randrange(len(sentences))] = t.sentence(topic).rstrip(".")
            paras[i] = ". ".join(sentences)
            if not paras[i].endswith((".", "?", "\u201d")):
                paras[i] += "."
        if edit == "byline":
            new.byline = t.byline()
            new.credit = py.choice(CREDITS)
        if py.random() < 0.2:
            new.banner = not new.banner  # page furniture changes between scrapes too
        return new, edit


def typo(word: str, k: int) -> str:
    """``word`` with the letters at ``k`` and ``k + 1`` swapped, and always changed:
    swapping two equal letters would make the "revision" an exact duplicate."""
    if len(word) < 2 or word[k] == word[k + 1]:
        k = next((i for i in range(len(word) - 1) if word[i] != word[i + 1]), -1)
    if k < 0:
        return word + word[-1:]
    return word[:k] + word[k + 1] + word[k] + word[k + 2 :]


def plan_files(n: int, seed: int) -> tuple[list[Plan], list[int]]:
    """Decide each file's kind and which article it belongs to, before writing.

    Revisions and duplicates target recent articles (most corrections come
    within hours), now and then an old one.  Also counts, per article, how many
    later files derive from it, so only those articles are kept in memory.
    """
    py = random.Random(seed)
    plans: list[Plan] = []
    refs: list[int] = []  # per article: later files derived from it
    for i in range(n):
        r = py.random()
        if i < 20 or r >= P_REVISION + P_DUPLICATE + P_JUNK:
            plans.append(Plan("new", entry=len(refs)))
            refs.append(0)
            continue
        if r < P_JUNK:
            plans.append(Plan("junk"))
            continue
        back = int(py.expovariate(1 / 400)) if py.random() < 0.9 else py.randrange(len(refs))
        entry = max(0, len(refs) - 1 - back)
        refs[entry] += 1
        plans.append(Plan("revision" if r < P_JUNK + P_REVISION else "duplicate", entry=entry))
    return plans, refs


def file_name(seed: int, i: int, width: int) -> str:
    # The hex part stands for the scraped URL's hash; it is derived from the
    # sequence number alone so that any worker can name any file.
    tag = hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).hexdigest()
    return f"{i:0{width}d}_{tag}.txt"


def junk(py_rand: TextGen, kind: str) -> bytes:
    py = py_rand.py
    if kind == "empty":
        return b""
    if kind == "blank":
        return b"\n\r\n  \n\t\n"
    if kind == "banner_only":
        return BANNER.encode() + b"\n"
    if kind == "png":
        return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + py.randbytes(py.randrange(500, 6000))
    return bytes([0]) + py.randbytes(py.randrange(200, 8000))


def dup_variant(gen: Generator, a: Article, s: Style) -> tuple[Style, Article, str]:
    py = gen.py
    r = py.random()
    if r < 0.6:
        return s, a, "exact"
    if r < 0.75:
        return replace(s, crlf=not s.crlf), a, "line_endings"
    if r < 0.85 and not s.cp1252:
        return replace(s, bom=not s.bom), a, "bom"
    if r < 0.95:
        return replace(s, final_newline=not s.final_newline), replace(a, banner=not a.banner), \
            "furniture"
    if cp1252_ok(a):
        return replace(s, cp1252=not s.cp1252, bom=False), a, "encoding"
    return s, a, "exact"


BLOCK = 1000

_worker: Generator | None = None


def _block(args: tuple[int, Path, int, int, list[tuple[int, Plan, bool]]]) -> tuple[
    list[tuple[int, dict[str, object]]], dict[int, Kept], Counter[str]
]:
    """Write one block's new and junk files (in a worker process)."""
    global _worker
    seed, out, width, block, items = args
    if _worker is None:
        _worker = Generator(seed)
    gen = _worker
    gen.reseed(seed * 1_000_003 + block)
    records: list[tuple[int, dict[str, object]]] = []
    kept: dict[int, Kept] = {}
    counts: Counter[str] = Counter()
    for i, p, needed in items:
        name = file_name(seed, i, width)
        rec: dict[str, object] = {"file": name, "kind": p.kind}
        if p.kind == "new":
            article, flavour = gen.new_article()
            style = gen.style()
            style.cp1252 = style.cp1252 and cp1252_ok(article)
            data = render(article, style)
            rec.update(expected="new", entry=p.entry, flavour=flavour)
            if needed:
                kept[p.entry] = (article, style, name)
            counts[f"new:{flavour}"] += 1
            counts.update(f"style:{f}" for f in ("crlf", "bom", "cp1252") if getattr(style, f))
        else:
            kind = gen.py.choice(("empty", "blank", "banner_only", "png", "binary"))
            data = junk(gen.t, kind)
            rec.update(expected="rejected", flavour=kind)
            counts[f"junk:{kind}"] += 1
        (out / name).write_bytes(data)
        counts["bytes"] += len(data)
        records.append((i, rec))
    return records, kept, counts


def _derived(gen: Generator, seed: int, out: Path, width: int, plans: list[Plan],
             refs: list[int], kept: dict[int, Kept],
             records: list[dict[str, object]], counts: Counter[str]) -> None:
    """Write revisions and duplicates in sequence order: each builds on the latest version."""
    gen.reseed(seed ^ 0xD1FF)
    for i, p in enumerate(plans):
        if p.kind not in ("revision", "duplicate"):
            continue
        name = file_name(seed, i, width)
        base, style, base_name = kept[p.entry]
        rec: dict[str, object] = {"file": name, "kind": p.kind, "entry": p.entry, "of": base_name}
        if p.kind == "revision":
            article, edit = gen.revise(base)
            content = (article.title, article.byline, article.credit, article.paragraphs)
            if content == (base.title, base.byline, base.credit, base.paragraphs):
                raise AssertionError(f"revision {name} does not change {base_name}")
            if gen.py.random() < 0.1:
                style = gen.style()  # scraped through another path this time
                style.cp1252 = style.cp1252 and cp1252_ok(article)
            data = render(article, style)
            kept[p.entry] = (article, style, name)
            sim = round(jaccard(base, article), 4)
            rec.update(expected="revised", flavour=edit, similarity=sim)
            counts[f"revision:{edit}"] += 1
        else:
            style, article, variant = dup_variant(gen, base, style)
            data = render(article, style)
            rec.update(expected="duplicate", flavour=variant)
            counts[f"duplicate:{variant}"] += 1
        counts.update(f"style:{f}" for f in ("crlf", "bom", "cp1252") if getattr(style, f))
        refs[p.entry] -= 1
        if not refs[p.entry]:
            del kept[p.entry]
        (out / name).write_bytes(data)
        counts["bytes"] += len(data)
        records[i] = rec


def generate(n: int, out: Path, seed: int, manifest_path: Path | None,
             jobs: int | None = None) -> dict[str, object]:
    """Write the files; the result is the same whatever ``jobs`` is."""
    started = time.monotonic()
    plans, refs = plan_files(n, seed)
    width = max(6, len(str(n - 1)))
    out.mkdir(parents=True, exist_ok=True)
    blocks = []
    for b in range(0, n, BLOCK):
        items = [(i, plans[i], refs[plans[i].entry] > 0 if plans[i].kind == "new" else False)
                 for i in range(b, min(n, b + BLOCK)) if plans[i].kind in ("new", "junk")]
        blocks.append((seed, out, width, b // BLOCK, items))
    records: list[dict[str, object]] = [{} for _ in range(n)]
    kept: dict[int, Kept] = {}
    counts: Counter[str] = Counter()
    jobs = jobs or os.cpu_count() or 1
    with multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else nullcontext() as pool:
        results = pool.imap(_block, blocks) if pool else map(_block, blocks)
        for recs, block_kept, block_counts in results:
            for i, rec in recs:
                records[i] = rec
            kept.update(block_kept)
            counts.update(block_counts)
    _derived(Generator(seed), seed, out, width, plans, refs, kept, records, counts)
    elapsed = time.monotonic() - started
    decisions = Counter(str(r["expected"]) for r in records)
    summary: dict[str, object] = {
        "n": n,
        "seed": seed,
        "seconds": round(elapsed, 2),
        "articles": len(refs),
        "expected": dict(sorted(decisions.items())),
        "mix": dict(sorted(counts.items())),
    }
    if manifest_path is not None:
        manifest_path.write_text(json.dumps({**summary, "files": records}, ensure_ascii=False))
    return summary


def print_summary(summary: dict[str, object]) -> None:
    n = int(summary["n"])  # type: ignore[call-overload]
    mix = summary["mix"]
    assert isinstance(mix, dict)
    print(f"{n} files, {summary['articles']} articles, {mix['bytes'] / n:,.0f} bytes/file "
          f"on average, in {summary['seconds']} s (seed {summary['seed']})")
    print("expected decisions: " + ", ".join(f"{k} {v}" for k, v in summary["expected"].items()))  # type: ignore[attr-defined]
    for key, value in mix.items():
        if key != "bytes":
            print(f"  {key:28} {value:7d}  {100 * value / n:6.2f} %")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="target folder (must be empty or absent)")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20180411)
    ap.add_argument("--manifest", type=Path, help="default: <out>.manifest.json")
    ap.add_argument("--no-manifest", action="store_true")
    ap.add_argument("--force", action="store_true", help="empty a non-empty target folder first")
    ap.add_argument("--jobs", type=int, help="worker processes (default: one per core)")
    args = ap.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            ap.error(f"{args.out} is not empty (use --force to replace it)")
        shutil.rmtree(args.out)
    default = args.out.with_name(args.out.name + ".manifest.json")
    manifest = None if args.no_manifest else (args.manifest or default)
    print_summary(generate(args.n, args.out, args.seed, manifest, args.jobs))


if __name__ == "__main__":
    main()
