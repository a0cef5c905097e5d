"""Plain text: a scraped article, its first line the title; and what any document is when nothing else is."""

from __future__ import annotations

import json
from typing import Iterator, Optional

from schemas import RawDocument
from transforms.errors import EmptyArticle
from transforms.formats.base import Format, Match, Outcome, Sample, check_not_empty, new_article
from transforms.metadata import is_subtitle
from transforms.text import Decoded

TEXT_EXTENSIONS = (".txt", ".text", ".md")


def _is_json(text: str) -> bool:
    first = text.lstrip("\ufeff \t\r\n").split("\n", 1)[0]
    for candidate in (first, text):  # the first line first: it is cheap
        try:
            json.loads(candidate)
            return True
        except ValueError:
            continue
    return False


def recognise_text(sample: Sample, named: bool) -> Optional[Match]:
    """Anything that is neither markup nor JSON; markup or JSON only when named as text and (JSON) not parsing as it.

    "[Updated] Bridge closed…" in a ``.txt`` file is a headline, not JSON.
    """
    if sample.head.startswith("<"):
        return Match.NAMED if named else None
    if sample.head.startswith(("{", "[")):
        return Match.NAMED if named and not _is_json(sample.text) else None
    return Match.ANY


def parse_text(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """A scraped article: first line the title, then a dek when the second line is one."""
    lines = [line.strip() for line in decoded.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    nonempty = [i for i, line in enumerate(lines) if line]
    if not nonempty:
        raise EmptyArticle("empty text file", source=document.source)
    title = lines[nonempty[0]]
    rest = nonempty[1:]
    subtitle = None
    if len(rest) >= 2 and is_subtitle(lines[rest[0]], lines[rest[1]]):
        subtitle = lines[rest[0]]
        rest = rest[1:]
    body = "\n".join(lines[rest[0] : nonempty[-1] + 1]) if rest else ""
    article = new_article(document, decoded, title=title, subtitle=subtitle, body=body, raw=decoded.text)
    yield check_not_empty(article)


TEXT = Format(
    name="text",
    recognise=recognise_text,
    parse=parse_text,
    described="plain text",
    extensions=TEXT_EXTENSIONS,
)
