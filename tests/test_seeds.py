"""Seed parsing and the folder scan: golden files, properties, real folders."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.config import SeedsConfig
from feedsvc.errors import InputError, SeedError
from feedsvc.models import Article
from feedsvc.seeds.decode import decode_seed
from feedsvc.seeds.parse import ParseOptions, parse_seed
from feedsvc.seeds.scan import SeedFile, scan_seeds, stat_seeds

GOLDEN = Path(__file__).parent / "golden" / "seeds"
DEFAULT = ParseOptions.from_config(SeedsConfig())


def _options(raw: dict[str, Any] | None) -> ParseOptions:
    raw = raw or {}
    return ParseOptions(
        boilerplate=tuple(re.compile(p) for p in raw.get("boilerplate", ["Coronavirus banner"])),
        default_section=tuple(raw.get("default_section", ())),
        max_bytes=raw.get("max_bytes", 16 * 1024 * 1024),
    )


def _golden_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.txt"))


# --------------------------------------------------------------------------- golden pairs


def test_golden_files_come_in_pairs() -> None:
    inputs = {p.stem for p in GOLDEN.glob("*.txt")}
    expected = {p.stem for p in GOLDEN.glob("*.json")}
    assert inputs == expected
    assert len(inputs) >= 50


@pytest.mark.parametrize("name", _golden_names())
def test_golden(name: str) -> None:
    data = (GOLDEN / f"{name}.txt").read_bytes()
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    options = _options(expected.pop("options", None))
    if "error" in expected:
        with pytest.raises(SeedError) as info:
            parse_seed(data, name=f"{name}.txt", options=options)
        assert info.value.where == f"{name}.txt"
        assert expected["error"] in info.value.message
        assert str(info.value).startswith(f"{name}.txt: ")
        return
    article = parse_seed(data, name=f"{name}.txt", options=options)
    assert article == Article(
        section=tuple(expected["section"]),
        title=expected["title"],
        authors=tuple(expected["authors"]),
        credit=expected["credit"],
        paragraphs=tuple(expected["paragraphs"]),
    )


def test_real_sample_is_the_repository_seed() -> None:
    repo_seed = Path(__file__).parents[1] / "seeds" / "000_dcdcf781fef505df.txt"
    if not repo_seed.exists():
        pytest.skip("the sample seed folder is not part of this checkout")
    assert repo_seed.read_bytes() == (GOLDEN / "real_sample_national_politics.txt").read_bytes()


# --------------------------------------------------------------------------- focused cases

BODY = "The foreign ministers met on Wednesday in Tokyo to discuss joint projects on the islands."


ABC = ("Alice Smith", "Bob Jones", "Carol White")


def _article(text: str, options: ParseOptions = DEFAULT) -> Article:
    return parse_seed(text.encode("utf-8"), name="t.txt", options=options)


@pytest.mark.parametrize(
    ("byline", "authors", "credit"),
    [
        ("by Alice Smith", ("Alice Smith",), None),
        ("By Alice Smith and Bob Jones", ("Alice Smith", "Bob Jones"), None),
        ("by Alice Smith, Bob Jones and Carol White", ABC, None),
        ("by Alice Smith, Bob Jones, and Carol White", ABC, None),
        ("By: Alice Smith, Bob Jones & Carol White", ABC, None),
        ("by Alice Smith (Kyodo)", ("Alice Smith",), "Kyodo"),
        ("by Alice Smith / AFP-JIJI", ("Alice Smith",), "AFP-JIJI"),
        ("BY ALICE SMITH AND BOB JONES", ("ALICE SMITH", "BOB JONES"), None),
        ("by Alice Smith & Bob Jones", ("Alice Smith", "Bob Jones"), None),
        ("by J.K. Rowling", ("J.K. Rowling",), None),
        ("by Ludwig van Beethoven", ("Ludwig van Beethoven",), None),
        ("by  Alice\u00a0  Smith ", ("Alice Smith",), None),
        ("by 菊池大輔", ("菊池大輔",), None),
        ("by Jane Doe, Staff Writer", ("Jane Doe",), "Staff Writer"),
        ("by Reuters", (), "Reuters"),
        ("By the Associated Press", (), "the Associated Press"),
    ],
)
def test_byline_shapes(byline: str, authors: tuple[str, ...], credit: str | None) -> None:
    article = _article(f"National\n\nA title\n\n{byline}\n\n{BODY}")
    assert (article.authors, article.credit) == (authors, credit)
    assert article.paragraphs == (BODY,)


@pytest.mark.parametrize(
    "first",
    [
        "By the time the polls closed, the coalition had won.",
        "By Wednesday, prices had fallen by 3 percent.",
        "by the way",
        "Tokyo stocks rose.",
        "“No comment.”",
        "Abe declined to comment",
        "Reuters reported the deal",
        "Staff Writer Alice Smith said the story was true.",
        "Press Freedom Day: what it means",
        "Writers gather in Kyoto (again)",
        "Tokyo 2020 Staff",
    ],
)
def test_short_first_body_paragraph_stays_body(first: str) -> None:
    article = _article(f"National\n\nA title\n\n{first}\n\n{BODY}")
    assert article.authors == ()
    assert article.credit is None
    assert article.paragraphs == (first, BODY)


@pytest.mark.parametrize(
    "credit",
    ["Staff Writer", "Staff Writers", "Contributing Writer", "Staff Report", "Kyodo", "Reuters",
     "AFP-JIJI", "Jiji, Kyodo, Bloomberg", "Bloomberg News", "Associated Press"],
)
def test_credit_alone_in_byline_place(credit: str) -> None:
    article = _article(f"National\n\nA title\n\n{credit}\n\n{BODY}")
    assert (article.authors, article.credit, article.paragraphs) == ((), credit, (BODY,))


@pytest.mark.parametrize("credit", ["Special to The Japan Times", "Tokyo Bureau Chief"])
def test_weak_credit_needs_a_byline(credit: str) -> None:
    with_byline = _article(f"National\n\nA title\n\nby Alice Smith\n\n{credit}\n\n{BODY}")
    assert (with_byline.credit, with_byline.paragraphs) == (credit, (BODY,))
    alone = _article(f"National\n\nA title\n\n{credit}\n\n{BODY}")
    assert (alone.credit, alone.paragraphs) == (None, (credit, BODY))


@pytest.mark.parametrize(
    ("line", "section"),
    [
        ("National", ("National",)),
        ("National / Politics", ("National", "Politics")),
        ("Life / Food & Drink / The Recipe Box", ("Life", "Food & Drink", "The Recipe Box")),
        ("World/U.S.", ("World", "U.S.")),
        ("Sports / Tokyo 2020", ("Sports", "Tokyo 2020")),
    ],
)
def test_section_levels(line: str, section: tuple[str, ...]) -> None:
    assert _article(f"{line}\n\nA title\n\n{BODY}").section == section


@pytest.mark.parametrize("line", ["National /", "/ Politics", "National // Politics", "/"])
def test_empty_section_segment_rejects(line: str) -> None:
    with pytest.raises(SeedError, match="invalid section"):
        _article(f"{line}\n\nA title\n\n{BODY}")


@pytest.mark.parametrize(
    "text",
    [
        f"Abe resigns\n\nby Alice Smith\n\n{BODY}",  # byline after the first block
        f"Abe Resigns\n\n{BODY}",  # a capitalised headline before prose
        f"Abe resigns after eight years\n\nKyodo\n\n{BODY}",  # a wire credit after it
        f"Why did Abe resign?\n\n{BODY}\n\n{BODY}",  # sentence punctuation
    ],
)
def test_headline_first_files_never_make_a_section(text: str) -> None:
    with pytest.raises(SeedError, match="no section line"):
        _article(text)
    options = ParseOptions(boilerplate=(), default_section=("Inbox",))
    article = _article(text, options)
    assert article.section == ("Inbox",)
    assert article.title == text.split("\n\n")[0]


def test_decode_seed_is_clean_text() -> None:
    data = b"\xef\xbb\xbfNational\r\nA\xc2\xa0b\rc\xef\xbb\xbf\r\n"
    assert decode_seed(data, name="x") == "National\nA\u00a0b\nc\n"
    assert decode_seed(b"caf\xe9 \x93x\x94", name="x") == "café “x”"
    with pytest.raises(SeedError) as info:
        decode_seed(b"a\x00b", name="dir/x.txt")
    assert info.value.where == "dir/x.txt"


def test_large_file_is_linear() -> None:
    # 5,000 paragraphs, some of them multi-line lists, well over a megabyte.
    body = "\n\n".join(
        f"Paragraph {i} " + "word " * 40 + ("\n- item a\n- item b" if i % 10 == 0 else "")
        for i in range(5000)
    )
    text = f"National / Politics\n\nA title\n\nby Alice Smith\n\n{body}\n"
    data = text.encode("utf-8")
    assert len(data) > 1_000_000
    article = parse_seed(data, name="big.txt", options=DEFAULT)
    assert len(article.paragraphs) == 5000
    assert article.paragraphs[10].endswith("word\n- item a\n- item b")
    # A megabyte-long single line is a body paragraph, never a byline or credit
    # (when the paragraph limit lets it through at all).
    line = "By " + "Alice " * 200_000
    roomy = replace(DEFAULT, max_paragraph_chars=2_000_000)
    article = _article(f"National\n\nA title\n\n{line}\n", roomy)
    assert article.paragraphs == (line.strip(),)


def test_size_limit_is_what_rejects_the_over_size_golden() -> None:
    data = (GOLDEN / "over_size_limit.txt").read_bytes()
    assert len(data) == 1500
    assert parse_seed(data, name="x", options=DEFAULT).title == "Title here"
    with pytest.raises(SeedError, match="too large"):
        parse_seed(data, name="x", options=ParseOptions(boilerplate=(), max_bytes=1499))
    assert parse_seed(data, name="x", options=ParseOptions(boilerplate=(), max_bytes=1500))


def test_from_config_compiles_patterns() -> None:
    cfg = SeedsConfig(boilerplate=("Coronavirus banner", r"Read more.*"),
                      default_section=("News",), max_bytes=2048)
    options = ParseOptions.from_config(cfg)
    assert [p.pattern for p in options.boilerplate] == ["Coronavirus banner", "Read more.*"]
    assert options.default_section == ("News",)
    assert options.max_bytes == 2048


# --------------------------------------------------------------------------- properties

FURNITURE = (re.compile("Coronavirus banner"), re.compile(r"Advert\w*"))
PROPERTY_OPTIONS = ParseOptions(boilerplate=FURNITURE, default_section=("Default",))
STRICT_OPTIONS = ParseOptions(boilerplate=FURNITURE)

# Lines that exercise the header rules, mixed with arbitrary text.
_LINES = st.one_of(
    st.sampled_from(
        [
            "", " ", "\u00a0", "\t\u3000", "National / Politics", "Life / Food & Drink / Recipes",
            "World", "/", "by Alice Smith", "By Alice Smith and Bob Jones", "BY A, B, and C",
            "Staff Writer", "Kyodo", "AFP-JIJI", "Special to The Japan Times",
            "Coronavirus banner", "  Coronavirus banner ", "Advertisement", "\ufeff",
            "By the time it ended, it was late.", "Tokyo stocks rose.", "- item",
            "A title with AT&amp;T",
        ]
    ),
    st.text(max_size=60),
)
_TEXTS = st.one_of(st.lists(_LINES, max_size=25).map("\n".join), st.text(max_size=300))


def _check_article(article: Article) -> None:
    strings = [*article.section, article.title, *article.authors, *article.paragraphs]
    if article.credit is not None:
        strings.append(article.credit)
    for s in strings:
        assert s, article
        assert s == s.strip(), article
        for bad in ("\r", "\ufeff", "\ufffd", "\x00"):
            assert bad not in s, article
    assert article.paragraphs
    assert "\n" not in article.title
    for p in article.paragraphs:
        assert all(line.strip() for line in p.split("\n")), p
        assert not any(f.fullmatch(p.strip()) for f in FURNITURE), p
        for line in p.split("\n"):
            assert not any(f.fullmatch(line.strip()) for f in FURNITURE), p


def _outcome(data: bytes, options: ParseOptions) -> Article | str:
    try:
        article = parse_seed(data, name="p.txt", options=options)
    except SeedError as exc:
        assert exc.where == "p.txt"
        assert exc.message
        # Adding a BOM or spaces to an empty file makes it blank: the same verdict.
        return "blank" if exc.message in ("empty file", "blank: whitespace only") else exc.message
    _check_article(article)
    return article


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_any_bytes_give_an_article_or_a_seed_error(data: bytes) -> None:
    _outcome(data, PROPERTY_OPTIONS)
    _outcome(data, STRICT_OPTIONS)


@settings(max_examples=300)
@given(_TEXTS, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
def test_any_text_in_any_encoding(text: str, encoding: str) -> None:
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    _outcome(data, PROPERTY_OPTIONS)


@settings(max_examples=300)
@given(_TEXTS.map(lambda t: t.replace("\r", "")))
def test_line_ends_bom_and_trailing_space_do_not_matter(text: str) -> None:
    expected = _outcome(text.encode("utf-8"), PROPERTY_OPTIONS)
    variants = [
        "\ufeff" + text,
        text.replace("\n", "\r\n"),
        text.replace("\n", "\r"),
        "\n".join(line + " \t\u00a0" for line in text.split("\n")),
    ]
    for variant in variants:
        assert _outcome(variant.encode("utf-8"), PROPERTY_OPTIONS) == expected


# --------------------------------------------------------------------------- folder scan


def _write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_scan_nested_sorted_by_file_name(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    _write(seeds / "b" / "001.txt", "one")
    _write(seeds / "a" / "002.txt")
    _write(seeds / "000.txt")
    _write(seeds / "c" / "d" / "001.txt")
    _write(seeds / "notes.md")
    _write(seeds / "001.txt.bak")
    (seeds / "dir.txt").mkdir()  # a folder whose name matches is not a file
    found = scan_seeds(seeds, "*.txt")
    assert [f.relpath for f in found] == ["000.txt", "b/001.txt", "c/d/001.txt", "a/002.txt"]
    first = found[1]
    assert first.path == seeds / "b" / "001.txt"
    assert first.path.is_absolute()
    st_ = (seeds / "b" / "001.txt").stat()
    assert (first.size, first.mtime_ns) == (3, st_.st_mtime_ns)
    assert all(isinstance(f, SeedFile) for f in found)


def test_scan_relative_folder_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    _write(tmp_path / "seeds" / "x.txt")
    monkeypatch.chdir(tmp_path)
    (found,) = scan_seeds(Path("seeds"), "*.txt")
    assert found.path == tmp_path / "seeds" / "x.txt"
    assert found.relpath == "x.txt"


def test_scan_skips_hidden_folders_and_files(tmp_path: Path) -> None:
    _write(tmp_path / ".git" / "a.txt")
    _write(tmp_path / "sub" / ".cache" / "b.txt")
    _write(tmp_path / ".#c.txt")
    _write(tmp_path / "sub" / "d.txt")
    assert [f.relpath for f in scan_seeds(tmp_path, "*.txt")] == ["sub/d.txt"]
    assert [f.relpath for f in scan_seeds(tmp_path, ".*.txt")] == [".#c.txt"]


def test_scan_pattern_is_matched_against_the_name_only(tmp_path: Path) -> None:
    _write(tmp_path / "2024" / "a.txt")
    _write(tmp_path / "2024" / "b.TXT")
    _write(tmp_path / "x2024.txt")
    assert [f.relpath for f in scan_seeds(tmp_path, "2024*")] == []
    assert [f.relpath for f in scan_seeds(tmp_path, "*.txt")] == ["2024/a.txt", "x2024.txt"]
    assert [f.relpath for f in scan_seeds(tmp_path, "[ab].*")] == ["2024/a.txt", "2024/b.TXT"]


@pytest.mark.parametrize("pattern", ["*.txt", "*", "*.t?t", "*[0-9].txt", "a*", "*.TXT", "b.txt"])
def test_scan_pattern_agrees_with_fnmatchcase(tmp_path: Path, pattern: str) -> None:
    names = ["a.txt", "b.txt", "a1.txt", "a.TXT", "a.tat", "notes.txt.bak", "txt", "x.txt2"]
    for name in names:
        _write(tmp_path / name)
    expected = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    assert [f.relpath for f in scan_seeds(tmp_path, pattern)] == expected


def test_scan_symlinks(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    outside = _write(tmp_path / "outside" / "secret.txt")
    _write(seeds / "real" / "a.txt")
    (seeds / "link_in.txt").symlink_to(seeds / "real" / "a.txt")
    (seeds / "link_out.txt").symlink_to(outside)
    (seeds / "dangling.txt").symlink_to(seeds / "missing.txt")
    (seeds / "loop1.txt").symlink_to(seeds / "loop2.txt")
    (seeds / "loop2.txt").symlink_to(seeds / "loop1.txt")
    (seeds / "outside_dir").symlink_to(outside.parent, target_is_directory=True)
    (seeds / "real" / "up").symlink_to(seeds, target_is_directory=True)  # a loop
    (seeds / "real" / "self").symlink_to(".", target_is_directory=True)
    found = scan_seeds(seeds, "*.txt")
    assert [f.relpath for f in found] == ["real/a.txt", "link_in.txt"]
    assert found[1].path == seeds / "link_in.txt"
    assert found[1].size == 1


def test_scan_through_a_symlinked_root(tmp_path: Path) -> None:
    _write(tmp_path / "data" / "a.txt")
    (tmp_path / "data" / "b.txt").symlink_to(tmp_path / "data" / "a.txt")
    (tmp_path / "seeds").symlink_to(tmp_path / "data", target_is_directory=True)
    found = scan_seeds(tmp_path / "seeds", "*.txt")
    assert [f.relpath for f in found] == ["a.txt", "b.txt"]
    assert found[0].path == tmp_path / "seeds" / "a.txt"


def _every_path(folder: Path) -> list[str]:
    """Every name below ``folder`` (links not followed), as a watcher may report them."""
    found = []
    for top, dirs, files in os.walk(folder):
        found += [os.path.join(top, n) for n in dirs + files]
    return found


@pytest.mark.parametrize("pattern", ["*.txt", ".*.txt", "a*"])
def test_naming_files_finds_what_a_scan_finds(tmp_path: Path, pattern: str) -> None:
    seeds = tmp_path / "seeds"
    outside = _write(tmp_path / "outside" / "secret.txt")
    _write(seeds / "real" / "a.txt")
    _write(seeds / "b" / "001.txt", "one")
    _write(seeds / ".git" / "a.txt")
    _write(seeds / "sub" / ".cache" / "b.txt")
    _write(seeds / ".#c.txt")
    _write(seeds / "notes.md")
    (seeds / "dir.txt").mkdir()
    (seeds / "link_in.txt").symlink_to(seeds / "real" / "a.txt")
    (seeds / "link_out.txt").symlink_to(outside)
    (seeds / "dangling.txt").symlink_to(seeds / "missing.txt")
    (seeds / "outside_dir").symlink_to(outside.parent, target_is_directory=True)
    (seeds / "real" / "self").symlink_to(".", target_is_directory=True)
    named = [*_every_path(seeds), str(outside), str(seeds / "gone.txt"),
             str(seeds / "outside_dir" / "secret.txt"), str(seeds / "real" / "self" / "a.txt"),
             str(seeds / "real" / ".." / ".." / "outside" / "secret.txt"), str(seeds)]
    assert stat_seeds(seeds, pattern, named) == scan_seeds(seeds, pattern)
    assert stat_seeds(seeds, pattern, []) == []
    some = [str(seeds / "b" / "001.txt"), str(seeds / "link_in.txt")]
    assert [f.relpath for f in stat_seeds(seeds, "*.txt", some)] == ["b/001.txt", "link_in.txt"]


def test_naming_files_through_a_symlinked_root(tmp_path: Path) -> None:
    _write(tmp_path / "data" / "a.txt")
    (tmp_path / "seeds").symlink_to(tmp_path / "data", target_is_directory=True)
    named = [str(tmp_path / "seeds" / "a.txt")]
    assert stat_seeds(tmp_path / "seeds", "*.txt", named) == scan_seeds(tmp_path / "seeds",
                                                                         "*.txt")


def test_scan_missing_or_wrong_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        scan_seeds(tmp_path / "nope", "*.txt")
    assert info.value.where == str(tmp_path / "nope")
    assert "not found" in info.value.message
    file = _write(tmp_path / "file.txt")
    with pytest.raises(InputError, match="not a folder"):
        scan_seeds(file, "*.txt")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_scan_unreadable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    _write(locked / "a.txt")
    locked.chmod(0)
    try:
        with pytest.raises(InputError) as info:
            scan_seeds(locked, "*.txt")
        assert info.value.where == str(locked)
    finally:
        locked.chmod(0o755)


def test_scan_empty_folder(tmp_path: Path) -> None:
    assert scan_seeds(tmp_path, "*.txt") == []

