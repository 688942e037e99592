"""HTML from someone else's feed made safe to publish, and read as plain text (pure).

:func:`sanitize` runs markup through nh3 (an allowlist sanitizer, built once)
and makes every relative URL of an ``href``, ``src`` or ``cite`` absolute
against ``xml:base`` or the feed's URL; elements whose content is not text
(:data:`NOT_TEXT`) go with all they hold.  :func:`html_to_text` flattens a
fragment to one line (titles), :func:`paragraphs` sanitized HTML to the
plain-text paragraphs dedup and search read, and :func:`text_as_html`
turns plain text into paragraphs of HTML.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable

import nh3

from .links import SCHEME, join_url

_TAG = re.compile(r"<(?:!--.*?--|/?[A-Za-z][^>]*)>", re.S)
# Both run over nh3's output, which spells tags in lower case and quotes every
# attribute value with '"'.  Patterns that start with a literal are scanned
# for it quickly; a case-insensitive or leading-class pattern is ten times slower.
_BLOCK = re.compile(
    r"<(?:br|/?(?:p|div|li|ul|ol|h[1-6]|blockquote|pre|tr|table|section|article|figure|"
    r"figcaption|dl|dt|dd|header|footer|aside|details|summary|hr))\b[^>]*>")
_ATTR_VALUE = re.compile(r'="([^"]*)"')
_URL_ATTRS = (" href", " src", " cite")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, references decoded,
    whitespace collapsed.  Markup goes through the sanitizer first, which
    parses it as a browser would: elements whose content is not text
    (:data:`NOT_TEXT`) go with their content, and a DOCTYPE, comment,
    processing instruction or CDATA section leaves nothing behind."""
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    if "<" in markup:
        markup = _cleaner().clean(markup)
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def paragraphs(markup: str) -> tuple[str, ...]:
    """The text of sanitized HTML as paragraphs (block elements split it)."""
    text = html.unescape(_TAG.sub(" ", _BLOCK.sub("\n", markup)))
    return tuple(t for t in (" ".join(p.split()) for p in text.split("\n")) if t)


def _absolute(base: str) -> Callable[[re.Match[str]], str]:
    def fix(m: re.Match[str]) -> str:
        value = m[1]
        if SCHEME.match(value):
            return m[0]
        text, at = m.string, m.start()
        # A URL attribute of a tag, not text that happens to read href="…".
        if not text.endswith(_URL_ATTRS, 0, at) or text.rfind("<", 0, at) < text.rfind(
                ">", 0, at):
            return m[0]
        joined = join_url(base, html.unescape(value))
        return m[0] if joined is None else f'="{html.escape(joined)}"'
    return fix


#: Elements whose content is not text for a reader: dropped with everything
#: in them, also when HTML is flattened to a title.  (nh3 drops script and
#: style so by default; the others it would unwrap, showing fallback text or
#: raw markup: ``<noscript><img …></noscript>`` as the text "<img …>".)
NOT_TEXT = frozenset({"script", "style", "template", "noscript", "iframe", "object", "embed",
                      "applet", "frameset", "noframes", "noembed", "svg", "math", "canvas",
                      "audio", "video"})


@functools.cache
def _cleaner() -> nh3.Cleaner:
    """nh3's default allowlist, built once: ``nh3.clean`` builds it on every call,
    which costs a third of the cleaning."""
    return nh3.Cleaner(clean_content_tags=set(NOT_TEXT))


def sanitize(markup: str, base: str | None) -> str:
    """Allowlist-sanitized HTML (nh3), relative URLs resolved against ``base``."""
    if not markup.strip():
        return ""
    clean = _cleaner().clean(markup)
    if base and ("href=" in clean or "src=" in clean or "cite=" in clean):
        clean = _ATTR_VALUE.sub(_absolute(base), clean)
    return clean.strip()


def text_as_html(text: str) -> str:
    """Plain text (Atom ``type="text"``) as HTML paragraphs."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return "".join(f"<p>{html.escape(b, quote=False)}</p>" for b in blocks)


__all__ = ["NOT_TEXT", "html_to_text", "paragraphs", "sanitize", "text_as_html"]
