"""Shared test helpers: realistic seed files and running the real CLI."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "seeds" / "000_dcdcf781fef505df.txt"

_WORDS = [
    "government",
    "minister",
    "council",
    "budget",
    "market",
    "shares",
    "trade",
    "export",
    "rail",
    "port",
    "harbor",
    "festival",
    "village",
    "museum",
    "school",
    "teacher",
    "student",
    "river",
    "mountain",
    "typhoon",
    "earthquake",
    "hospital",
    "doctor",
    "vaccine",
    "research",
    "university",
    "scientist",
    "robot",
    "factory",
    "worker",
    "union",
    "election",
    "voter",
    "party",
    "coalition",
    "court",
    "judge",
    "lawyer",
    "police",
    "station",
    "airport",
    "flight",
    "tourism",
    "hotel",
    "restaurant",
    "chef",
    "rice",
    "fish",
    "harvest",
    "farmer",
    "energy",
    "solar",
    "nuclear",
    "plant",
    "bank",
    "yen",
    "dollar",
    "inflation",
    "wage",
    "pension",
    "tax",
    "reform",
    "island",
    "treaty",
    "summit",
    "envoy",
    "baseball",
    "stadium",
    "coach",
    "player",
    "season",
    "record",
    "league",
    "title",
    "champion",
    "fans",
    "tickets",
]


def seed_text(
    rng: random.Random,
    *,
    section: str = "National / Politics",
    title: str | None = None,
    byline: str | None = "by Hana Sato",
    credit: str | None = "Staff Writer",
    paragraphs: int = 6,
) -> str:
    """A plausible seed article whose body is unlike any other one's."""
    title = title or " ".join(rng.choice(_WORDS) for _ in range(8)).capitalize()
    body = []
    for _ in range(paragraphs):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(30, 60))]
        words.append(f"{rng.randint(1000, 999999)}")
        body.append(" ".join(words).capitalize() + ".")
    head = [section, title]
    if byline:
        head.append(byline)
    if credit:
        head.append(credit)
    return "\n\n".join([*head, *body, "Coronavirus banner"]) + "\n"


def write_seeds(folder: Path, count: int, *, seed: int = 1, start: int = 0) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sections = [
        "National / Politics",
        "National",
        "Business / Markets",
        "Life / Food & Drink / Recipes",
    ]
    paths = []
    for i in range(start, start + count):
        path = folder / f"{i:06d}_{rng.getrandbits(64):016x}.txt"
        path.write_text(seed_text(rng, section=sections[i % len(sections)]), encoding="utf-8")
        paths.append(path)
    return paths


def feedsvc(
    *args: str | os.PathLike[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "feedsvc", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"feedsvc {' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder laid out like a deployment: config.toml, seeds/, data/."""
    (tmp_path / "seeds").mkdir()
    (tmp_path / "config.toml").write_text("# defaults\n", encoding="utf-8")
    return tmp_path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime below folder."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def wait_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


__all__: Sequence[str] = ("SAMPLE", "feedsvc", "seed_text", "snapshot", "wait_until",
                         "write_seeds")
