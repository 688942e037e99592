"""The read/parse/fingerprint stage gives the same results in a worker process."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from conftest import seed_text

from feedsvc.config import SeedsConfig
from feedsvc.seeds import prepare as prep
from feedsvc.seeds.parse import ParseOptions
from feedsvc.seeds.scan import scan_seeds


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = random.Random(5)
    for i in range(300):
        (tmp_path / f"{i:04d}.txt").write_text(seed_text(rng), encoding="utf-8")
    (tmp_path / "0100_junk.txt").write_bytes(b"\x00\x01binary")
    (tmp_path / "0200_empty.txt").write_bytes(b"")
    return tmp_path


def test_worker_process_and_in_process_agree(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = scan_seeds(folder, "*.txt")
    options = ParseOptions.from_config(SeedsConfig())
    local = list(prep.prepared(files, options, workers=0))
    monkeypatch.setattr(prep, "POOL_MIN_FILES", 10)
    monkeypatch.setattr(prep, "CHUNK", 7)  # many chunks: order must survive the look-ahead
    pooled = list(prep.prepared(files, options, workers=1))
    assert [p.file for p in pooled] == [p.file for p in local] == files
    for a, b in zip(local, pooled, strict=True):
        assert (a.raw_hash, a.article, a.problem) == (b.raw_hash, b.article, b.problem)
        if a.fingerprint is None:
            assert b.fingerprint is None
        else:
            assert b.fingerprint is not None
            assert a.fingerprint.content_hash == b.fingerprint.content_hash
            assert np.array_equal(a.fingerprint.signature, b.fingerprint.signature)
    problems = {p.file.relpath: p.problem for p in local if p.problem}
    assert set(problems) == {"0100_junk.txt", "0200_empty.txt"}


def test_unreadable_and_oversized_files_are_problems_not_exceptions(folder: Path) -> None:
    files = scan_seeds(folder, "*.txt")
    options = ParseOptions.from_config(SeedsConfig(max_bytes=1024))
    big = folder / "0000.txt"
    assert big.stat().st_size > 1024
    result = prep.prepare(files[0], options)
    assert result.article is None and result.problem is not None
    assert "too large" in result.problem
    big.unlink()
    gone = prep.prepare(files[0], ParseOptions.from_config(SeedsConfig()))
    assert gone.raw_hash == b"" and gone.problem is not None and "cannot read" in gone.problem
