"""Exit codes and guards: the real CLI in a subprocess refuses what it must,
with the documented exit code and one line naming what is at fault."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from conftest import feedsvc, seed_text

from feedsvc.heartbeat import read_heartbeat


def _corrupt_paragraphs(db: Path) -> None:
    """Damage what a stored version's paragraphs decode from (a store altered
    behind feedsvc's back): SQLite still accepts the row, feedsvc cannot read it."""
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE versions SET paragraphs = 'not a list'")
    conn.close()


def test_run_once_exits_70_when_a_job_crashes(project: Path) -> None:
    text = seed_text(random.Random(3), title="Original headline")
    (project / "seeds" / "001.txt").write_text(text)
    feedsvc("run", "--once", cwd=project)
    _corrupt_paragraphs(project / "data" / "feedsvc.db")
    # a revision of the stored article: its near-duplicate check reads the damaged row
    revised = text.replace("Original headline", "Original headline, revised") + "\nMore.\n"
    (project / "seeds" / "002.txt").write_text(revised)
    result = feedsvc("run", "--once", cwd=project, check=False)
    assert result.returncode == 70, result.stderr
    assert "seeds: internal error" in result.stderr and "Traceback" in result.stderr
    beat = read_heartbeat(project / "data")
    assert beat is not None
    seeds = beat.job("seeds")
    assert seeds is not None and seeds.last_error is not None
    assert seeds.last_error.startswith("internal error: JSONDecodeError")


def test_run_once_exits_with_the_documented_code_of_a_failed_job(project: Path) -> None:
    (project / "blocker").write_text("a file where the output folder's parent should be\n")
    (project / "config.toml").write_text('[publish]\nfolder = "blocker/feeds"\n')
    (project / "seeds" / "001.txt").write_text(seed_text(random.Random(4)))
    result = feedsvc("run", "--once", cwd=project, check=False)
    assert result.returncode == 3, result.stderr
    assert "publish:" in result.stderr and "blocker" in result.stderr
    assert "Traceback" not in result.stderr
