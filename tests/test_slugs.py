"""Section slugs: safe, bounded, unique among siblings."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.store.slugs import MAX_LEN, mint_slug, slug_candidates

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def first(name: str, n: int = 3) -> list[str]:
    return list(itertools.islice(slug_candidates(name), n))


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Politics", "politics"),
        ("Food & Drink", "food-drink"),
        ("  Business / Markets  ", "business-markets"),
        ("Ça va, señor", "ca-va-senor"),
        ("\uff34\uff4f\uff4b\uff59\uff4f \uff12\uff10\uff12\uff16", "tokyo-2026"),  # full width
        ("C++", "c"),
        ("Editorial_Board", "editorial-board"),
    ],
)
def test_first_candidate_is_the_plain_slug(name: str, slug: str) -> None:
    assert first(name, 1) == [slug]


def test_then_the_name_hash_then_numbers() -> None:
    assert first("Food & Drink", 4) == [
        "food-drink", "food-drink-a9704a", "food-drink-a9704a-2", "food-drink-a9704a-3"]


@pytest.mark.parametrize("name", ["政治", "..", ".", "/", "&", "", "   ", "—", "🙂"])
def test_names_without_ascii_letters_get_a_hashed_slug(name: str) -> None:
    slug = first(name, 1)[0]
    assert re.fullmatch(r"section-[0-9a-f]{6}", slug)


def test_hashed_slugs_differ_between_names() -> None:
    assert first("政治", 1) != first("経済", 1)


def test_reserved_folder_names_are_skipped() -> None:
    assert first("Articles", 1)[0].startswith("articles-")
    assert "articles" not in first("ARTICLES!", 5)


def test_long_names_are_cut_without_losing_the_suffix() -> None:
    name = "word " * 40
    tag = hashlib.sha1(name.encode()).hexdigest()[:6]
    slugs = first(name, 3)
    assert all(len(s) <= MAX_LEN for s in slugs)
    assert slugs[1].endswith(f"-{tag}")
    assert slugs[2].endswith(f"-{tag}-2")


def test_colliding_names_get_distinct_slugs_in_minting_order() -> None:
    taken: set[str] = set()
    slugs = []
    for name in ["Food & Drink", "Food - Drink", "food drink", "FOOD/DRINK"]:
        slugs.append(mint_slug(name, taken))
        taken.add(slugs[-1])
    assert slugs[:2] == ["food-drink", "food-drink-1999e0"]
    assert len(set(slugs)) == 4


@given(st.text())
def test_every_candidate_is_a_safe_slug(name: str) -> None:
    for slug in itertools.islice(slug_candidates(name), 5):
        assert SLUG.fullmatch(slug)
        assert len(slug) <= MAX_LEN
        assert slug != "articles"


@given(st.lists(st.text(max_size=30), unique=True, max_size=30))
def test_minted_slugs_are_unique_among_siblings(names: list[str]) -> None:
    taken: set[str] = set()
    for name in names:
        slug = mint_slug(name, taken)
        assert slug not in taken
        taken.add(slug)
    assert len(taken) == len(names)
