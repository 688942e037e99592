"""Every page forbids scripts: a Content-Security-Policy as a second line of
defence behind the sanitizer, and the page's own style allowed by its hash."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from conftest import feedsvc, write_seeds

POLICY = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


def directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_every_page_carries_a_policy_that_forbids_scripts(project: Path) -> None:
    write_seeds(project / "seeds", 6)
    feedsvc("publish", cwd=project)
    pages = sorted((project / "data" / "feeds").rglob("*.html"))
    assert len(pages) >= 6 + 5  # articles and section indexes
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found = POLICY.findall(text)
        assert len(found) == 1, page
        # In the head, before anything that could load or run.
        assert text.index("Content-Security-Policy") < text.index("<style>"), page
        policy = directives(found[0])
        assert policy["default-src"] == ["'none'"]
        assert "script-src" not in policy and "script-src-elem" not in policy
        assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
        assert policy["img-src"] == ["http:", "https:"]
        # The one inline style sheet is the one the hash allows.
        (css,) = re.findall(r"<style>(.*?)</style>", text, re.S)
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        assert policy["style-src"] == [f"'sha256-{digest}'"]
        assert "<script" not in text.lower() and " style=" not in text.lower()
