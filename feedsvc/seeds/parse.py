"""Seed files: bytes → :class:`~feedsvc.models.Article` (pure: the folder scan is
:mod:`feedsvc.seeds.scan`).

A seed file is plain text scraped from a news page::

    National / Politics                 section path (1 to n levels, "/"-separated)

    Top diplomats … meet in Tokyo       title (a multi-line block is joined with spaces)

    by Daisuke Kikuchi                  byline (optional)

    Staff Writer                        credit / role line (optional)

    The foreign ministers …             body paragraphs, blank-line separated

    Coronavirus banner                  page furniture (configured patterns), dropped

Decoding
    :func:`~feedsvc.seeds.decode.decode_seed`: UTF-8, UTF-16 with a BOM or clean
    Windows-1252; bytes that are not clean text reject the file.

Blocks
    Blank lines (nothing but Unicode white space, no-break spaces and
    zero-width spaces included) separate blocks; a run of them is one
    separator.  Lines that match a boilerplate pattern as a whole (after
    trimming) are dropped wherever they stand, also inside a block, before
    anything else is decided.  Inside a block single newlines are kept (lists);
    each line loses its trailing white space and the indentation common to all
    lines.

Header heuristic (position and shape decide, never a word alone)
    *Byline*: one line of at most 200 characters: ``by``/``By``/``BY`` (an
    optional colon) and white space, then names separated by ``,``
    ``, and`` `` and `` ``&`` ``/`` or brackets.  Every name has at most six
    words, each capitalised or a name particle (de, van, bin …); no digits, no
    ``!?;:`` or quotes, periods only in initials and abbreviations (``J.K.``,
    ``Jr.``).  "By the time the polls closed, …" fails on its lower-case
    words.  A part that is a strong credit (``by Jane Doe, Staff Writer``,
    ``by Alice Smith (Kyodo)``, ``by Reuters``) is the credit, not an author;
    ``Jr.``/``III`` join the name before them.  Inner white space of names is
    collapsed.

    *Credit*: one line of at most 80 characters and eight words, no digits, no
    sentence punctuation (``.!?;:``, quotes, brackets), every word capitalised
    (or a connector such as "of", "the", or "dpa") and at least one known word:
    a wire name (Kyodo, Reuters, AFP, Jiji, Bloomberg …), a role word (Writer,
    Correspondent, Editor, Report, Staff, Contributor, Columnist, Bureau,
    News, Press …) or a publication word (Times, Post, Shimbun …).  A credit is
    *strong* when every word is a wire name, role word or connector ("Staff
    Writer", "AFP-JIJI", "Jiji, Kyodo, Bloomberg"), otherwise *weak*
    ("Special to The Japan Times").  After a byline a weak credit is accepted;
    standing alone in the byline's place (a wire credit) it must be strong.
    So a short first body paragraph ("Tokyo stocks rose.", a quote, "Abe
    declined to comment", "The Washington Post") is never a credit: when in
    doubt, it is body.

    *Order after the title*: byline, then credit; or a strong credit, then a
    byline; or one block of two lines, byline and credit.

    *Section line*: the first block is the section path unless the file starts
    directly with its title, which is the case when the second block is a
    byline (and the third is not: then the second is a title like "By
    Design"), or a strong credit (and the third is neither byline nor credit),
    or when the first block does not look like a section: more than one line,
    a segment over 60 characters or six words, sentence punctuation.  A path
    without ``/`` must also be capitalised words, and the block after it must
    not read like prose (eight words or more ending in a period) unless a
    byline or credit follows that block, so "Abe resigns" or "Abe Resigns"
    followed by a body paragraph is a title, not a section.  What stays
    ambiguous by shape: a capitalised one-level headline followed by a short
    line ("Abe Resigns" / "Tokyo stocks rose.") reads as section and title.
    Files without a section line are filed under
    ``ParseOptions.default_section`` or rejected when that is empty.  Empty
    segments ("National / / Politics") reject the file; inner white space of
    segments is collapsed (the path is an identity).

Titles and paragraphs are kept exactly as written (no unescaping), only
trimmed.  A block longer than ``ParseOptions.max_paragraph_chars`` rejects the
file: no article has a paragraph of a hundred thousand characters, while a
dump (a page's scripts, base64, a log) written as one line does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ..config import SeedsConfig
from ..errors import ConfigError, SeedError
from ..models import Article, SectionPath
from .decode import decode_seed

__all__ = ["ParseOptions", "parse_seed"]


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How seed files are parsed (see the module docstring for the rules)."""

    #: a line matching one of these with ``.fullmatch()`` after trimming is dropped
    boilerplate: tuple[re.Pattern[str], ...]
    #: section of files that start with their title; ``()`` rejects such files
    default_section: SectionPath = ()
    max_bytes: int = 16 * 1024 * 1024
    #: a longer block (paragraph, title …) rejects the file
    max_paragraph_chars: int = 100_000

    @classmethod
    def from_config(cls, cfg: SeedsConfig) -> ParseOptions:
        try:
            patterns = tuple(re.compile(p) for p in cfg.boilerplate)
        except re.error as exc:
            raise ConfigError(f"seeds.boilerplate: invalid regular expression: {exc}") from None
        return cls(
            boilerplate=patterns,
            default_section=cfg.default_section,
            max_bytes=cfg.max_bytes,
            max_paragraph_chars=cfg.max_paragraph_chars,
        )


# --------------------------------------------------------------------------- blocks

# Every white-space character (str.isspace, all of them lie below U+3001) plus
# the zero-width spaces that scraped pages leave on otherwise empty lines.
_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\u200b\u2060"
_SPACE_NOT_LF = _SPACE.replace("\n", "")
# A newline followed by one or more blank lines: the separator of two blocks.
_BLOCK_SEPARATOR = re.compile(r"\n(?:[%s]*+\n)+" % re.escape(_SPACE_NOT_LF))  # noqa: UP031

_Match = Callable[[str], re.Match[str] | None]
_REGEX_SYNTAX = re.compile(r"[.^$*+?{}\[\]\\|()]")


@dataclass(frozen=True, slots=True)
class _Furniture:
    """The boilerplate patterns, split for speed: plain words are a set lookup."""

    literals: frozenset[str]
    match: _Match | None  # fullmatch of the other patterns, combined
    #: lengths of the literals: comparing lengths first spares hashing every paragraph
    lengths: frozenset[int]

    def __call__(self, line: str) -> bool:
        if len(line) in self.lengths and line in self.literals:
            return True
        return self.match is not None and self.match(line) is not None


@lru_cache(maxsize=32)
def _furniture(patterns: tuple[re.Pattern[str], ...]) -> _Furniture:
    literal = [p for p in patterns if p.flags == re.UNICODE and not _REGEX_SYNTAX.search(p.pattern)]
    regexes = [p for p in patterns if p not in literal]
    words = frozenset(p.pattern for p in literal)
    return _Furniture(words, _combined_fullmatch(regexes), frozenset(map(len, words)))


def _combined_fullmatch(patterns: list[re.Pattern[str]]) -> _Match | None:
    if not patterns:
        return None
    if len(patterns) == 1:
        return patterns[0].fullmatch
    flags = {p.flags for p in patterns}
    if len(flags) == 1:
        try:
            return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), flags.pop()).fullmatch
        except re.error:  # inline global flags or group references that do not combine
            pass

    def first_fullmatch(line: str) -> re.Match[str] | None:
        for pattern in patterns:
            found = pattern.fullmatch(line)
            if found is not None:
                return found
        return None

    return first_fullmatch


def _blocks(text: str, furniture: _Furniture) -> list[str]:
    """Blank-line separated blocks, trimmed, with furniture lines dropped."""
    # Splitting on "\n\n" is exact (two newlines always lie inside a block
    # separator) and cheap.  When every chunk is a single line after trimming,
    # as in almost every seed file, that is all there is to do.
    chunks = [chunk.strip(_SPACE) for chunk in text.split("\n\n")]
    for chunk in chunks:
        if "\n" in chunk:
            return _blocks_with_lines(text, furniture)
    literals, lengths, match = furniture.literals, furniture.lengths, furniture.match
    chunks = [c for c in chunks if c and (len(c) not in lengths or c not in literals)]
    return chunks if match is None else [c for c in chunks if match(c) is None]


def _blocks_with_lines(text: str, furniture: _Furniture) -> list[str]:
    """:func:`_blocks` for text with multi-line blocks or blank lines made of spaces."""
    blocks: list[str] = []
    for chunk in text.split("\n\n"):
        # Not trimmed first: the first line's indentation counts for the block.
        for raw in _BLOCK_SEPARATOR.split(chunk) if "\n" in chunk else (chunk,):
            block = _multi_line_block(raw, furniture) if "\n" in raw else raw.strip(_SPACE)
            if block and not furniture(block):
                blocks.append(block)
    return blocks


def _multi_line_block(raw: str, furniture: _Furniture) -> str:
    lines = [line.rstrip(_SPACE) for line in raw.split("\n")]
    # Blank lines can only stand at the edges here (left over from splitting).
    lines = [line for line in lines if line and not furniture(line.lstrip(_SPACE))]
    if not lines:
        return ""
    # Remove the indentation all lines share, so that an indented list keeps its
    # shape and its first line does not lose more than the others.
    indents = [line[: len(line) - len(line.lstrip(_SPACE))] for line in lines]
    common = len(os.path.commonprefix(indents))  # noqa: RUF071 (character-wise is the point)
    # The caller also tests the whole block: a pattern may span lines.
    return "\n".join(line[common:] for line in lines).strip(_SPACE)


# --------------------------------------------------------------------------- header shapes

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WIRES = _words(
    "kyodo reuters afp ap jiji bloomberg xinhua yonhap dpa efe ansa tass interfax upi"
    " nikkei kyodo-news afp-jiji associated agence france-presse"
)
_ROLES = _words(
    "writer writers correspondent correspondents editor editors reporter reporters"
    " report reports reporting staff contributor contributors contributing columnist"
    " columnists bureau news press wire wires service services agency agencies desk"
    " chief senior special photographer photographers freelance guest"
)
_PUBLICATIONS = _words(
    "times post journal herald tribune guardian telegraph shimbun chronicle gazette"
    " economist observer"
)
_CONNECTORS = _words("and of the for to from with in at a an on &")
_PARTICLES = _words(
    "de del della der den di da das do dos du la le van von ter ten bin binti al el y e zu st"
)
_SUFFIXES = _words("jr jr. sr sr. ii iii iv")
_STRONG_WORDS = _WIRES | _ROLES | _CONNECTORS
_KNOWN_WORDS = _WIRES | _ROLES | _PUBLICATIONS
_LOWER_CASE_OK = _CONNECTORS | {"dpa"}

_CREDIT_FORBIDDEN = re.compile(r"[\d.!?;:\"“”„«»()\[\]@#]")
_BYLINE = re.compile(r"by:?\s+(.+)", re.IGNORECASE)
_BYLINE_FORBIDDEN = re.compile(r"[\d!?;:\"“”„«»\[\]@#]")
_BYLINE_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s*[/&()]\s*|\s+and\s+", re.IGNORECASE)
_ABBREVIATION = re.compile(r"(?:[^\W\d_]{1,3}\.)+")
_SECTION_FORBIDDEN = re.compile(r"[!?;:\"“”„«»()\[\]@#]")

_WEAK, _STRONG = 1, 2  # credit strengths; 0 is "not a credit"


def _capitalised(word: str) -> bool:
    """True unless the word starts with a lower-case letter (scripts without case pass)."""
    return not word[:1].islower()


def _credit_strength(line: str) -> int:
    """0: not a credit; _WEAK or _STRONG (see the module docstring)."""
    if len(line) > 80 or "\n" in line or _CREDIT_FORBIDDEN.search(line):
        return 0
    tokens = line.replace(",", " ").replace("/", " ").split()
    if not 0 < len(tokens) <= 8:
        return 0
    # Lower-casing adds no white space, so ``lows`` lines up with ``tokens``.
    lows = line.lower().replace(",", " ").replace("/", " ").split()
    words = set(lows)
    if words.isdisjoint(_KNOWN_WORDS) and (
        "-" not in line or set("-".join(lows).split("-")).isdisjoint(_KNOWN_WORDS)
    ):
        return 0  # the common case, names and headlines: no known word at all
    for token, low in zip(tokens, lows, strict=False):
        if token[0].islower() and low not in _LOWER_CASE_OK:
            return 0
    if all(w in _STRONG_WORDS or set(w.split("-")) <= _STRONG_WORDS for w in words):
        return _STRONG  # "AFP-JIJI": every part of a hyphenated word counts
    return _WEAK


def _name_shaped(name: str) -> bool:
    words = name.split()
    if not 1 <= len(words) <= 6 or len(name) > 60:
        return False
    for word in words:
        if "." in word and not _ABBREVIATION.fullmatch(word):
            return False
        if not _capitalised(word) and word.lower() not in _PARTICLES:
            return False
    return True


def _byline(block: str) -> tuple[tuple[str, ...], str | None] | None:
    """``(authors, credit named in the byline)`` when the block is a byline."""
    if len(block) > 200 or block[:2].lower() != "by" or "\n" in block:
        return None
    m = _BYLINE.fullmatch(block)
    if m is None or _BYLINE_FORBIDDEN.search(m.group(1)):
        return None
    authors: list[str] = []
    credits: list[str] = []
    names = " ".join(m.group(1).split())
    several = "," in names or "/" in names or "&" in names or "(" in names
    several = several or " and " in names.lower()
    for part in _BYLINE_SPLIT.split(names) if several else (names,):
        if not part:
            continue
        if part.lower() in _SUFFIXES and authors:
            authors[-1] = f"{authors[-1]}, {part}"
        elif _credit_strength(part) == _STRONG:
            credits.append(part)
        elif _name_shaped(part):
            authors.append(part)
        else:
            return None
    if not authors and not credits:
        return None
    return tuple(authors), (", ".join(credits) if credits else None)


def _is_prose(block: str) -> bool:
    """A sentence-like body paragraph rather than a headline."""
    return block.rstrip("\"'\u201d\u2019)").endswith(".") and len(block.split()) >= 8


def _section(block: str, *, prose_follows: bool, name: str) -> SectionPath | None:
    """The section path when ``block`` has the shape of a section line."""
    if len(block) > 200 or "\n" in block or _SECTION_FORBIDDEN.search(block):
        return None
    if block[-1] == "," or (
        block[-1] == "." and not _ABBREVIATION.fullmatch(block.split()[-1].split("/")[-1])
    ):
        return None
    if "/" not in block:
        words = block.split()
        if prose_follows or len(block) > 60 or len(words) > 6:
            return None
        for word in words:
            if word[0].islower() and word.lower() not in _CONNECTORS:
                return None
        return (" ".join(words),)
    # Inner runs of white space become one space: the path is an identity.
    segments = [" ".join(s.split()) for s in block.split("/")]
    for segment in segments:
        if len(segment) > 60 or segment.count(" ") > 5:
            return None
    if "" in segments:
        raise SeedError(f"invalid section: empty segment in {block!r}", where=name)
    return tuple(segments)


# --------------------------------------------------------------------------- parse


def parse_seed(data: bytes, *, name: str, options: ParseOptions) -> Article:
    """Parse one seed file; raises :class:`SeedError` (``where=name``) to reject it."""
    if len(data) > options.max_bytes:
        raise SeedError(f"too large: {len(data)} bytes (limit {options.max_bytes})", where=name)
    text = decode_seed(data, name=name)
    if not text:
        raise SeedError("empty file", where=name)
    blocks = _blocks(text, _furniture(options.boilerplate))
    if not blocks:
        reason = "only page furniture" if text.strip(_SPACE) else "blank: whitespace only"
        raise SeedError(reason, where=name)
    longest = max(map(len, blocks))
    if longest > options.max_paragraph_chars:
        raise SeedError(f"paragraph too long: {longest} characters"
                        f" (limit {options.max_paragraph_chars})", where=name)

    second, third = _at(blocks, 1), _at(blocks, 2)
    section: SectionPath | None = None
    if second is None or not _title_first(second, third):
        # Prose after a one-level section candidate makes the candidate the
        # title, unless an attribution follows: then the prose is in title place.
        prose = second is not None and _is_prose(second) and not _is_attribution(third)
        section = _section(blocks[0], prose_follows=prose, name=name)

    at = 0 if section is None else 1
    if section is None:
        if not options.default_section:
            raise SeedError("no section line (file starts with its title)", where=name)
        section = options.default_section
    if at >= len(blocks):
        raise SeedError("no title", where=name)
    title = blocks[at]
    if "\n" in title:
        title = " ".join(line.strip(_SPACE) for line in title.split("\n"))
    at += 1

    authors, credit, at = _attribution(blocks, at)
    if at >= len(blocks):
        raise SeedError("no body paragraph", where=name)
    return Article(
        section=section,
        title=title,
        authors=authors,
        credit=credit,
        paragraphs=tuple(blocks[at:]),
    )


def _at(blocks: list[str], i: int) -> str | None:
    return blocks[i] if i < len(blocks) else None


def _attribution(blocks: list[str], at: int) -> tuple[tuple[str, ...], str | None, int]:
    """``(authors, credit, index of the first body block)`` from the blocks after the title.

    A byline, then a credit; or a credit (strong, as no byline vouches for
    it), then perhaps a byline.
    """
    authors: tuple[str, ...] = ()
    credit: str | None = None
    byline = _byline_block(blocks[at]) if at < len(blocks) else None
    if byline is not None:
        authors, credit = byline
        at += 1
    if at < len(blocks) and _credit_strength(blocks[at]) >= (_WEAK if byline else _STRONG):
        credit = " ".join(blocks[at].split())
        at += 1
        if byline is None and at < len(blocks):
            late = _byline_block(blocks[at])
            if late is not None:
                authors = late[0]
                at += 1
    return authors, credit, at


def _byline_block(block: str) -> tuple[tuple[str, ...], str | None] | None:
    """A byline, or a byline line directly followed by a credit line in one block."""
    if "\n" not in block:
        return _byline(block)
    lines = block.split("\n")
    if len(lines) != 2:
        return None
    byline, credit = _byline(lines[0].strip(_SPACE)), lines[1].strip(_SPACE)
    if byline is None or not _credit_strength(credit):
        return None
    return byline[0], " ".join(credit.split())


def _is_attribution(block: str | None) -> bool:
    return block is not None and (_byline_block(block) is not None or _credit_strength(block) > 0)


def _title_first(second: str, third: str | None) -> bool:
    """Whether the second block is in byline/credit position of a file without section line.

    A byline (not followed by another one: then the second block is a title
    such as "By Design"), or a strong credit that is not followed by a byline
    or credit (then the second block is a credit-like title).
    """
    if _byline_block(second):
        return not (third and _byline_block(third))
    if _credit_strength(second) == _STRONG:
        return not _is_attribution(third)
    return False
