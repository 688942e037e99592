"""XML entity tricks refused, and the one way feed documents are parsed with lxml.

A document that declares XML entities or refers to external ones (billion
laughs, XXE) is refused before any parser builds a tree
(:func:`refuse_entity_tricks`); defusedxml's parser is the check, and lxml
then parses without resolving entities, without network and without its
huge-tree mode (:func:`new_parser`).  A document with a DTD, which is never
read, may still use the HTML character entities (the RSS 0.91 DTD declares
the Latin-1 ones): :func:`read_external_entities` puts their characters in,
and refuses any other entity.
"""

from __future__ import annotations

import html
import html.entities
import re
from xml.etree.ElementTree import ParseError

import defusedxml  # type: ignore[import-untyped]
import defusedxml.ElementTree  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from ..errors import FetchError

# Entity declarations can only stand in a DOCTYPE, so documents without one
# (nearly every feed) skip the second, checking parse.
DTD_MARK = re.compile(rb"<!(?i:doctype|entity)")
_ENTITY_MARK = re.compile(rb"<!(?i:entity)")
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00", b"\x00<", b"<\x00", b"\x4c\x6f\xa7\x94")


def refuse_entity_tricks(data: bytes, where: str) -> None:
    """Raise :class:`FetchError` if the document declares or references XML
    entities (entity expansion, external entities): checked by defusedxml's
    parser before anything else reads the document."""
    if not (data.startswith(_WIDE_BOMS) or DTD_MARK.search(data)):
        return
    try:
        defusedxml.ElementTree.fromstring(data, forbid_dtd=False, forbid_entities=True,
                                          forbid_external=True)
    except defusedxml.EntitiesForbidden:
        raise FetchError("refused: the document declares XML entities "
                         "(an entity-expansion attack or an unsafe feed)", where=where) from None
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden):
        raise FetchError("refused: the document refers to an external entity or DTD",
                         where=where) from None
    except (ParseError, ValueError) as exc:
        # Malformed: the parsers below decide.  But an entity declaration the
        # check could not reach is refused all the same, and so is an entity
        # only an external DTD would declare (see read_external_entities;
        # this catches it in documents that feedparser would read).
        if _ENTITY_MARK.search(data) or _ENTITY_MARK.search(_ascii_view(data)):
            raise FetchError("refused: the document declares XML entities",
                             where=where) from None
        m = _UNDEFINED.match(str(exc))
        if m and f"{m[1]};" not in html.entities.html5:
            raise FetchError(f"refused: the document uses the entity &{m[1][:40]}; that only "
                             "its external DTD could declare, and external DTDs are not read",
                             where=where) from None


_UNDEFINED = re.compile(r"undefined entity &([^;\s]+);")


def _ascii_view(data: bytes) -> bytes:
    """UTF-16/32 text with its zero bytes dropped, for a marker search."""
    return data[:65536].replace(b"\x00", b"") if data.startswith(_WIDE_BOMS) else b""


def new_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


PARSER = new_parser()


_UNDECLARED = re.compile(r"Entity '([^']*)' not defined")


def read_external_entities(root: etree._Element, parser: etree.XMLParser, url: str) -> None:
    """Entity references of a document with a DTD, which is never read (no
    network, no files).  The HTML character entities (the RSS 0.91 DTD
    declares the Latin-1 ones) are replaced by their characters, in place;
    any other would be published as the literal text ``&name;`` (or vanish
    from an attribute), so the document is refused, like the documents that
    declare entities."""
    for error in parser.error_log:
        m = _UNDECLARED.search(error.message)
        if m and f"{m[1]};" not in html.entities.html5:
            raise FetchError(f"refused: the document uses the entity &{m[1][:40]}; that only "
                             "its external DTD could declare, and external DTDs are not read",
                             where=url)
    for entity in list(root.iter(etree.Entity)):
        value = html.entities.html5.get(f"{entity.name};")
        parent = entity.getparent()
        if value is None or parent is None:  # reported above; a parser's quirk
            raise FetchError(f"refused: the document uses the entity &{entity.name[:40]}; "
                             "that no DTD it may use declares", where=url)
        text = value + (entity.tail or "")
        before = entity.getprevious()
        if before is not None:
            before.tail = (before.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(entity)


__all__ = ["DTD_MARK", "PARSER", "new_parser", "read_external_entities", "refuse_entity_tricks"]
