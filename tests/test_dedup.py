"""Exact and near-duplicate detection: the pure parts, then decisions through a real store."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.config import SiteConfig
from feedsvc.dedup import (
    EMPTY,
    Candidate,
    K,
    Match,
    content_hash,
    decide,
    estimate,
    fingerprint,
    fingerprints,
    normalise,
    shingles,
    signature,
    similarity,
    verify,
)
from feedsvc.deduper import Deduper
from feedsvc.lsh import LshIndex, band_keys, bands_for
from feedsvc.models import Article, Decision, Entry, VersionBody
from feedsvc.store import SQLiteStore

TRAM = (
    "The city council voted 31 to 9 on Tuesday to build a light rail line between the central "
    "station and the harbour district, ending a debate that has run for more than a decade.",
    "The 14-kilometre line will have 19 stops and is expected to carry about 60,000 passengers "
    "a day when it opens, according to estimates prepared by the transport department.",
    "Construction is scheduled to begin next spring and to last four years. The council set "
    "aside 1.2 billion for the project, a third of which will come from the regional government.",
    "Shop owners along Harbour Road, where tracks will be laid in the middle of the street, "
    "asked for compensation during the works. The mayor said a fund would be set up for them.",
    "Opponents argued that electric buses would serve the same routes at a fraction of the cost "
    "and could be running within two years rather than five.",
    "Supporters pointed to cities of similar size where trams drew drivers out of their cars, "
    "and said the line would make it possible to close two car parks in the old town.",
    "A public consultation on the exact route through the university campus will open in "
    "March, and the final design is due to be approved by the end of next year.",
)

MARKETS_MONDAY = (
    "Tokyo stocks ended higher on Monday as exporters rallied on a weaker yen and investors "
    "welcomed better-than-expected factory output figures released before the opening bell.",
    "The 225-issue Nikkei Stock Average rose 312.45 points, or 1.38 percent, to close at "
    "22,931.60. The broader Topix index of all first-section issues gained 19.82 points, or "
    "1.11 percent, to 1,806.37.",
    "Rising issues outnumbered falling ones 1,502 to 503 on the first section, while 94 issues "
    "were unchanged. Volume rose to 1.48 billion shares from 1.31 billion on Friday.",
    "Toyota Motor climbed 2.4 percent and Honda Motor added 1.9 percent after the dollar "
    "touched 112 yen in early trading, its highest level in three weeks.",
    "Tokyo Electron and Advantest led chip-related shares higher, tracking overnight gains in "
    "their U.S. peers, while banks lagged as long-term bond yields edged down.",
    "Market players said trading could turn cautious later in the week ahead of the central "
    "bank's policy meeting and the release of U.S. employment data on Friday.",
)

MARKETS_TUESDAY = (
    "Tokyo stocks ended lower on Tuesday as profit-taking set in after the previous session's "
    "sharp gains, with real estate and retail shares under pressure through the afternoon.",
    "The 225-issue Nikkei Stock Average fell 187.02 points, or 0.82 percent, to close at "
    "22,744.58. The broader Topix index of all first-section issues lost 12.64 points, or "
    "0.70 percent, to 1,793.73.",
    "Falling issues outnumbered rising ones 1,388 to 611 on the first section, while 100 "
    "issues were unchanged. Volume slipped to 1.29 billion shares from 1.48 billion on Monday.",
    "Mitsui Fudosan dropped 3.1 percent and Aeon shed 2.2 percent after a government survey "
    "showed household spending shrank for a fourth straight month in October.",
    "Fast Retailing, the operator of the Uniqlo clothing chain, weighed most on the Nikkei, "
    "while shipping lines rose on hopes that freight rates have stopped falling.",
    "Dealers said the index was likely to stay in a narrow range until the outcome of the "
    "central bank's meeting on Thursday, with many investors reluctant to take new positions.",
)

EDITORIAL_ONE = (
    "The decision to close three rural hospitals at the same time was taken too quickly and "
    "explained too poorly. Patients in the valley now face a drive of more than an hour.",
    "Nobody disputes that the health service must save money, but savings that shift the cost "
    "onto ambulance crews and emergency departments are no savings at all.",
    "The ministry should publish the figures behind its choice and give the communities "
    "affected a real say in what replaces the wards that are to close.",
)

EDITORIAL_TWO = (
    "Few expected the peace talks to produce an agreement in their first week, and they did "
    "not. Yet the fact that both delegations stayed at the table is worth something.",
    "The mediators have wisely kept the agenda narrow: prisoner exchanges, humanitarian "
    "corridors, and a ceasefire along the northern front.",
    "Governments that have promised reconstruction money should make clear now that it "
    "depends on progress at these talks, and not on victory in the field.",
)


def article(paragraphs: tuple[str, ...], *, title: str = "Council approves tram line",
            section: tuple[str, ...] = ("National", "Transport")) -> Article:
    return Article(section=section, title=title, authors=("Mei Tanaka",), credit="Staff Writer",
                   paragraphs=paragraphs)


def with_paragraph(paras: tuple[str, ...], i: int, text: str) -> tuple[str, ...]:
    return (*paras[:i], text, *paras[i + 1:])


# ---------------------------------------------------------------------------
# content hash


def test_content_hash_covers_every_visible_field() -> None:
    base = article(TRAM)
    variants = [
        replace(base, section=("National",)),
        replace(base, title="Council approves tram line!"),
        replace(base, authors=("Mei Tanaka", "Jo Park")),
        replace(base, credit=None),
        replace(base, credit=""),
        replace(base, paragraphs=TRAM[:-1]),
    ]
    hashes = {content_hash(a) for a in [base, *variants]}
    assert len(hashes) == len(variants) + 1
    assert content_hash(base) == content_hash(article(tuple(TRAM)))
    assert len(content_hash(base)) == 16


def test_content_hash_is_not_fooled_by_moving_text_between_fields() -> None:
    a = Article(("A",), "t", ("x", "y"), None, ("p q",))
    b = Article(("A",), "t", ("x",), None, ("y", "p q"))
    c = Article(("A",), "t", ("x, y",), None, ("p", "q"))
    assert len({content_hash(a), content_hash(b), content_hash(c)}) == 3


texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)
articles = st.builds(
    Article, st.lists(texts, max_size=2).map(tuple), texts, st.lists(texts, max_size=2).map(tuple),
    st.none() | texts, st.lists(texts, max_size=3).map(tuple))


@given(articles, articles)
def test_content_hashes_are_equal_exactly_when_articles_are(a: Article, b: Article) -> None:
    assert (content_hash(a) == content_hash(b)) == (a == b)


# ---------------------------------------------------------------------------
# normalisation and shingles


def test_normalise_folds_case_punctuation_and_spacing() -> None:
    assert normalise(["  Hello,  WORLD!", "“Ça” — va?  政治\u3000です。"]) == \
        "hello world ça va 政治 です".encode()


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"])), max_size=4))
def test_normalised_text_is_words_separated_by_single_spaces(paras: list[str]) -> None:
    text = normalise(paras).decode()
    assert text == text.strip()
    assert "  " not in text
    assert all(ch == " " or ch.isalnum() for ch in text)


def test_shingles_are_sorted_unique_and_ignore_formatting() -> None:
    sh = shingles(TRAM)
    assert sh.dtype == np.uint64
    assert (np.diff(sh.astype(np.float64)) > 0).all()
    reformatted = tuple(p.upper().replace(" ", "  ") for p in TRAM)
    assert np.array_equal(shingles(reformatted), sh)


@pytest.mark.parametrize(("paras", "count"), [((), 0), (("",), 0), (("?!",), 0), (("Hi",), 1),
                                              (("Markets closed",), 7)])
def test_tiny_bodies_still_have_shingles(paras: tuple[str, ...], count: int) -> None:
    assert shingles(paras).size == count


# ---------------------------------------------------------------------------
# similarity


def test_identical_bodies_score_one_and_empty_bodies_zero() -> None:
    assert similarity(TRAM, TRAM) == pytest.approx(1.0)
    assert similarity((), ()) == 0.0
    assert similarity(TRAM, ()) == 0.0


def test_rewriting_one_of_seven_paragraphs_scores_about_six_sevenths() -> None:
    edited = with_paragraph(TRAM, 4, EDITORIAL_TWO[0])
    assert similarity(TRAM, edited) == pytest.approx(6 / 7, abs=0.04)


def test_daily_market_reports_sharing_template_are_far_apart() -> None:
    assert similarity(MARKETS_MONDAY, MARKETS_TUESDAY) < 0.5


def test_a_brief_inside_a_long_report_is_not_the_same_body() -> None:
    assert similarity(TRAM[:2], TRAM) < 0.6


# ---------------------------------------------------------------------------
# signatures


def test_signature_shape_and_empty_body() -> None:
    sig = signature(shingles(TRAM))
    assert sig.shape == (K,) and sig.dtype == np.uint64
    assert not (sig == EMPTY).any()
    assert (signature(shingles(())) == EMPTY).all()


def test_fingerprint_is_hash_and_signature() -> None:
    fp = fingerprint(article(TRAM))
    assert fp.content_hash == content_hash(article(TRAM))
    assert np.array_equal(fp.signature, signature(shingles(TRAM)))


_body_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@settings(max_examples=300)
@given(st.lists(st.lists(_body_text, max_size=3).map(tuple), max_size=6))
def test_fingerprints_of_many_equal_each_fingerprint(bodies: list[tuple[str, ...]]) -> None:
    # Empty, blank, tiny, ASCII, non-ASCII and astral bodies side by side.
    arts = [article(b) for b in bodies]
    many = fingerprints(arts)
    assert len(many) == len(arts)
    for art, fp in zip(arts, many, strict=True):
        one = fingerprint(art)
        assert fp.content_hash == one.content_hash
        assert np.array_equal(fp.signature, one.signature)


def test_fingerprints_of_many_real_bodies_and_edge_cases() -> None:
    bodies = [TRAM, (), ("",), ("  !! ",), ("ab",), ("x" * 7,), ("Ünïcode — text ✓",),
              ("\U0001d518nicode \U0001f600 astral",), MARKETS_MONDAY, EDITORIAL_ONE,
              ("\0\x01 a\x01b ",)]
    for group in (bodies, bodies[::-1], bodies[1:2], bodies[:1]):
        arts = [article(b) for b in group]
        assert all(a.content_hash == b.content_hash and np.array_equal(a.signature, b.signature)
                   for a, b in zip(fingerprints(arts), map(fingerprint, arts), strict=True))
    assert fingerprints([]) == []


def test_signature_ignores_order_and_repeats_of_shingles() -> None:
    sh = shingles(TRAM)
    shuffled = np.random.default_rng(7).permutation(np.concatenate([sh, sh[:50]]))
    assert np.array_equal(signature(shuffled), signature(sh))


def test_tiny_body_fills_every_bin_from_its_few_shingles() -> None:
    sh = shingles(("Markets closed",))
    sig = signature(sh)
    assert set(sig.tolist()) <= set(sh.tolist())
    assert np.array_equal(signature(shingles(("Markets  closed.",))), sig)


GREEK = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
         "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi"]
words = st.lists(st.sampled_from(GREEK), min_size=30, max_size=300)


@settings(derandomize=True, max_examples=60)
@given(words, st.integers(0, 100), st.integers(0, 100), words)
def test_signature_agreement_estimates_jaccard(base: list[str], cut: int, keep: int,
                                               extra: list[str]) -> None:
    a = " ".join(base)
    b = " ".join(base[: len(base) * keep // 100] + extra[: len(extra) * cut // 100])
    sa, sb = shingles([a]), shingles([b])
    if sb.size == 0:
        return
    exact = np.intersect1d(sa, sb).size / np.union1d(sa, sb).size
    # 64 bins: the standard deviation is at most 0.0625; 4 of them is a safe bound.
    assert abs(estimate(signature(sa), signature(sb)) - exact) <= 0.25


# ---------------------------------------------------------------------------
# LSH index


def sig_of(paras: tuple[str, ...]) -> np.ndarray:
    return signature(shingles(paras))


def test_bands_follow_the_threshold() -> None:
    assert bands_for(0.8) == (16, 4)
    assert bands_for(0.9) == (16, 4)
    assert bands_for(0.7) == (21, 3)
    assert bands_for(0.5) == (32, 2)


def test_index_finds_near_duplicates_and_not_strangers() -> None:
    index = LshIndex()
    index.add(1, sig_of(TRAM))
    index.add(2, sig_of(MARKETS_MONDAY))
    index.add(3, sig_of(EDITORIAL_ONE))
    assert index.query(sig_of(with_paragraph(TRAM, 3, "Shop owners were not consulted."))) == [1]
    assert index.query(sig_of(EDITORIAL_TWO)) == []
    assert len(index) == 3


def test_index_ranks_by_shared_bands_then_newest_and_limits() -> None:
    index = LshIndex()
    for key in range(1, 6):
        index.add(key, sig_of(TRAM))
    index.add(9, sig_of(TRAM[:-1]))
    assert index.query(sig_of(TRAM), limit=3) == [5, 4, 3]
    assert index.query(sig_of(TRAM))[-1] == 9


def test_empty_bodies_are_never_indexed_or_matched() -> None:
    index = LshIndex()
    index.add(1, sig_of(()))
    index.add(2, sig_of(()))
    assert index.query(sig_of(())) == []
    assert len(index) == 0


def test_bulk_build_and_merges_give_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [TRAM, MARKETS_MONDAY, MARKETS_TUESDAY, EDITORIAL_ONE, EDITORIAL_TWO, ()]
    bodies += [with_paragraph(TRAM, i, f"Paragraph {i} was rewritten.") for i in range(7)]
    sigs = np.stack([sig_of(b) for b in bodies])
    keys = np.arange(10, 10 + len(bodies))
    monkeypatch.setattr(LshIndex, "_MERGE_AT", 40)  # several merges over 13 bodies x 16 bands
    grown = LshIndex()
    for key, sig in zip(keys.tolist(), sigs, strict=True):
        grown.add(key, sig)
    built = LshIndex.from_arrays(keys, sigs)
    assert len(grown) == len(built) == len(bodies) - 1
    for sig in sigs:
        assert grown.query(sig, limit=50) == built.query(sig, limit=50)
    assert len(grown.query(sigs[0], limit=50)) == 8


def test_band_keys_of_many_bodies_answer_as_signatures_do() -> None:
    bodies = [TRAM, (), MARKETS_MONDAY, with_paragraph(TRAM, 2, "A rewritten paragraph.")]
    sigs = np.stack([sig_of(b) for b in bodies])
    keys = band_keys(sigs, 0.8)
    assert keys[1] is None  # an empty body has none
    by_sig, by_keys = LshIndex(), LshIndex()
    for key, (sig, bk) in enumerate(zip(sigs, keys, strict=True), start=1):
        assert by_keys.query_keys(bk) == by_sig.query(sig)
        by_sig.add(key, sig)
        by_keys.add_keys(key, bk)
    assert by_keys.query_keys(keys[0]) == by_sig.query(sigs[0]) == [1, 4]
    assert len(by_keys) == len(by_sig) == 3


# ---------------------------------------------------------------------------
# the decision (pure)


def test_decide_prefers_exact_duplicates_then_the_best_candidate() -> None:
    cands = [Candidate("a", 0.85), Candidate("b", 0.92), ("c", 0.92)]
    assert decide("x", cands, 0.8) == Match(Decision.DUPLICATE, "x", 1.0)
    assert decide(None, cands, 0.8) == Match(Decision.REVISED, "b", 0.92)
    assert decide(None, cands, 0.92) == Match(Decision.REVISED, "b", 0.92)
    assert decide(None, cands, 0.95) == Match(Decision.NEW, None, 0.92)
    assert decide(None, [], 0.8) == Match(Decision.NEW, None, 0.0)


def test_verify_scores_only_bodies_of_the_same_section() -> None:
    mine = article(TRAM)
    bodies = [VersionBody("a", mine.section, TRAM), VersionBody("b", ("Sports",), TRAM),
              VersionBody("c", mine.section, MARKETS_MONDAY)]
    found = verify(mine, bodies)
    assert [c.entry_id for c in found] == ["a", "c"]
    assert found[0].similarity == pytest.approx(1.0)
    assert found[1].similarity == pytest.approx(similarity(TRAM, MARKETS_MONDAY))


# ---------------------------------------------------------------------------
# decisions through a real store


class Ticker:
    """A clock that the test moves forward."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Ingest:
    """What the pipeline does with each parsed file, on a real store."""

    def __init__(self, path: Path, threshold: float = 0.8) -> None:
        self.clock = Ticker()
        self.store = SQLiteStore.open(path, clock=self.clock, site=SiteConfig())
        self.threshold = threshold

    def __call__(self, a: Article) -> tuple[Match, Entry | None]:
        # One run per article: candidates come from the store's band keys.
        deduper = Deduper(self.store, self.threshold)
        fp = fingerprint(a)
        dup = self.store.entry_for_content_hash(fp.content_hash)
        keys = deduper.band_keys([fp])[0]
        found = [] if dup else deduper.candidates(keys)
        match = decide(dup, verify(a, map(self.store.version_body, found)), self.threshold)
        entry = None
        with self.store.batch(), self.store.file_savepoint():
            if match.decision is Decision.NEW:
                entry = self.store.add_entry(a, content_hash=fp.content_hash,
                                             signature=fp.signature, source="seeds")
            elif match.decision is Decision.REVISED:
                assert match.entry_id is not None
                entry = self.store.add_revision(match.entry_id, a, content_hash=fp.content_hash,
                                                signature=fp.signature, source="seeds")
            if entry is not None:  # its keys in the same transaction, as ingest writes them
                deduper.added(entry.version, keys)
        return match, entry

    def later(self, minutes: int = 30) -> None:
        self.clock.now += timedelta(minutes=minutes)

    def entries(self) -> list[Entry]:
        return list(self.store.iter_entries())


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Ingest]:
    ing = Ingest(tmp_path / "store.db")
    yield ing
    ing.store.close()


def test_the_same_text_again_is_a_duplicate_and_changes_nothing(ingest: Ingest) -> None:
    first, entry = ingest(article(TRAM))
    assert first.decision is Decision.NEW and entry is not None
    ingest.later()
    again, none = ingest(article(tuple(TRAM)))
    assert again == Match(Decision.DUPLICATE, entry.id, 1.0)
    assert none is None
    assert ingest.entries() == [entry]


def test_typo_fix_is_a_revision_that_keeps_id_and_published(ingest: Ingest) -> None:
    _, entry = ingest(article(with_paragraph(TRAM, 1, TRAM[1].replace("passengers", "pasengers"))))
    assert entry is not None
    ingest.later(45)
    match, revised = ingest(article(TRAM))
    assert match.decision is Decision.REVISED and match.entry_id == entry.id
    assert match.similarity > 0.97
    assert revised is not None
    assert (revised.id, revised.seq, revised.page, revised.published) == \
        (entry.id, entry.seq, entry.page, entry.published)
    assert revised.updated == entry.updated + timedelta(minutes=45)
    assert revised.version != entry.version
    assert ingest.entries() == [revised]
    assert ingest.store.status().versions == 2


def test_a_stored_older_version_is_still_a_duplicate(ingest: Ingest) -> None:
    old = article(with_paragraph(TRAM, 1, TRAM[1].replace("passengers", "pasengers")))
    _, entry = ingest(old)
    ingest.later()
    _, revised = ingest(article(TRAM))
    ingest.later()
    match, _ = ingest(old)
    assert match == Match(Decision.DUPLICATE, entry.id if entry else None, 1.0)
    assert ingest.entries() == [revised]


def test_rewritten_headline_over_the_same_body_is_a_revision(ingest: Ingest) -> None:
    _, entry = ingest(article(TRAM))
    ingest.later()
    match, revised = ingest(article(TRAM, title="Tram line wins council vote after decade"))
    assert match.decision is Decision.REVISED and match.similarity == pytest.approx(1.0)
    assert revised is not None and entry is not None
    assert revised.id == entry.id
    assert revised.title == "Tram line wins council vote after decade"


def test_added_paragraph_is_a_revision(ingest: Ingest) -> None:
    _, entry = ingest(article(TRAM[:6]))
    ingest.later()
    match, revised = ingest(article(TRAM))
    assert match.decision is Decision.REVISED
    assert revised is not None and entry is not None and revised.id == entry.id


def test_edited_paragraph_is_a_revision(ingest: Ingest) -> None:
    _, entry = ingest(article(TRAM[:6]))
    edited = with_paragraph(
        TRAM[:6], 3,
        "Shop owners along Harbour Road asked the council for compensation during the works, "
        "saying trade would collapse. The mayor promised a fund but gave no figure for it.")
    match, _ = ingest(article(edited))
    assert match.decision is Decision.REVISED
    assert entry is not None and match.entry_id == entry.id


def test_a_one_line_body_is_still_found(ingest: Ingest) -> None:
    _, entry = ingest(article(("Markets closed.",), title="Holiday"))
    match, revised = ingest(article(("Markets closed",), title="Public holiday"))
    assert match.decision is Decision.REVISED and match.similarity == pytest.approx(1.0)
    assert entry is not None and revised is not None and revised.id == entry.id
    other, _ = ingest(article(("Markets open.",), title="Holiday"))
    assert other.decision is Decision.NEW


def test_pieces_sharing_a_title_stay_apart(ingest: Ingest) -> None:
    one, _ = ingest(article(EDITORIAL_ONE, title="Editorial", section=("Opinion",)))
    two, _ = ingest(article(EDITORIAL_TWO, title="Editorial", section=("Opinion",)))
    assert (one.decision, two.decision) == (Decision.NEW, Decision.NEW)
    assert len(ingest.entries()) == 2


def test_daily_market_reports_stay_apart(ingest: Ingest) -> None:
    title, section = "Tokyo stocks: Nikkei closing report", ("Business", "Markets")
    monday, _ = ingest(article(MARKETS_MONDAY, title=title, section=section))
    ingest.later(24 * 60)
    tuesday, _ = ingest(article(MARKETS_TUESDAY, title=title, section=section))
    assert (monday.decision, tuesday.decision) == (Decision.NEW, Decision.NEW)
    assert len({e.id for e in ingest.entries()}) == 2


def test_same_body_in_another_section_is_a_new_entry(ingest: Ingest) -> None:
    _, first = ingest(article(TRAM))
    match, second = ingest(article(TRAM, section=("Local",)))
    assert match.decision is Decision.NEW
    assert first is not None and second is not None and first.id != second.id


@pytest.mark.parametrize(("threshold", "decision"), [(0.8, Decision.REVISED), (0.9, Decision.NEW)])
def test_threshold_is_configurable(tmp_path: Path, threshold: float, decision: Decision) -> None:
    edited = with_paragraph(TRAM, 4, EDITORIAL_TWO[0])
    assert 0.82 < similarity(TRAM, edited) < 0.88
    ingest = Ingest(tmp_path / "store.db", threshold)
    ingest(article(TRAM))
    match, _ = ingest(article(edited))
    ingest.store.close()
    assert match.decision is decision


def test_the_index_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    first = Ingest(tmp_path / "store.db")
    _, entry = first(article(TRAM))
    first.store.close()
    second = Ingest(tmp_path / "store.db")
    match, _ = second(article(with_paragraph(TRAM, 0, TRAM[0].replace("31 to 9", "32 to 8"))))
    second.store.close()
    assert entry is not None and match == Match(Decision.REVISED, entry.id, match.similarity)


def test_revision_ids_keep_their_shape(ingest: Ingest) -> None:
    _, entry = ingest(article(TRAM))
    assert entry is not None
    assert re.fullmatch(r"tag:localhost,2026-11-27:national/transport/[0-9a-f]{16}", entry.id)


# ---------------------------------------------------------------------------
# the near-duplicate index in the store: band keys in an indexed table


TRAM_EDITED = (*TRAM[:-1], TRAM[-1] + " Work starts in spring.")


def keys_of(a: Article, threshold: float = 0.8) -> list[int]:
    keys = band_keys(fingerprint(a).signature.reshape(1, -1), threshold)[0]
    assert keys is not None
    return keys


def band_rows(path: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT bucket, version_id FROM bands"))


def test_a_later_run_finds_candidates_through_the_stored_band_keys(ingest: Ingest) -> None:
    _, entry = ingest(article(TRAM))
    _, other = ingest(article(MARKETS_MONDAY, title="Markets"))
    assert entry is not None and other is not None
    bands, _ = bands_for(0.8)
    # A new run, with nothing in memory: the table alone finds the version.
    assert ingest.store.versions_sharing(keys_of(article(TRAM))) == [(entry.version, bands)]
    assert Deduper(ingest.store, 0.8).candidates(keys_of(article(TRAM))) == [entry.version]
    edited = article(TRAM_EDITED)
    assert Deduper(ingest.store, 0.8).candidates(keys_of(edited))[0] == entry.version
    assert ingest.store.versions_sharing(keys_of(article(EDITORIAL_ONE))) == []
    assert ingest.store.versions_sharing([]) == []


def test_every_version_is_indexed_in_the_same_transaction(ingest: Ingest) -> None:
    _, first = ingest(article(TRAM))
    ingest.later()
    revised, second = ingest(article(TRAM_EDITED))
    assert revised.decision is Decision.REVISED and first and second
    bands, _ = bands_for(0.8)
    rows = band_rows(ingest.store.path)
    assert sorted({v for _, v in rows}) == [first.version, second.version]
    assert len(rows) == 2 * bands
    # A file whose transaction rolls back leaves no keys behind.
    deduper = Deduper(ingest.store, 0.8)
    with pytest.raises(RuntimeError), ingest.store.batch():
        entry = ingest.store.add_entry(article(EDITORIAL_ONE), source="seeds",
                                       content_hash=fingerprint(article(EDITORIAL_ONE)).content_hash,
                                       signature=fingerprint(article(EDITORIAL_ONE)).signature)
        deduper.added(entry.version, keys_of(article(EDITORIAL_ONE)))
        raise RuntimeError("killed")
    assert band_rows(ingest.store.path) == rows


def test_keys_are_rebuilt_for_a_store_from_before_the_table_and_a_new_threshold(
        tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    ing = Ingest(path)
    for text in (TRAM, MARKETS_MONDAY, EDITORIAL_ONE):
        ing(article(text, title=text[0][:30]))
    ing.store.close()
    written = band_rows(path)
    # The store as schema 3 left it: no table, no banding recorded.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE bands")
        conn.execute("DROP TABLE settings")
        conn.execute("PRAGMA user_version = 3")
    ing = Ingest(path)  # migrates: an empty table
    assert band_rows(path) == []
    edited = article(TRAM_EDITED, title=TRAM[0][:30])
    match, _ = ing(edited)  # the first run rebuilds the keys, then finds the revision
    assert match.decision is Decision.REVISED
    assert set(band_rows(path)) >= set(written)
    # Another threshold, another banding: every key is made again.
    with ing.store.batch():
        assert ing.store.ensure_bands(0.7) is True
    bands, _ = bands_for(0.7)
    assert bands != bands_for(0.8)[0]
    assert len(band_rows(path)) == 4 * bands
    ing.store.close()


def test_an_empty_store_has_no_keys_to_ask(ingest: Ingest) -> None:
    with ingest.store.batch():
        assert ingest.store.ensure_bands(0.8) is False
