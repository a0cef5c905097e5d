"""Feeds: RSS (0.9x, 2.0), Atom and RDF documents, read entry by entry through feedparser.

feedparser's dictionaries stop here: each entry becomes a ``RawArticle``,
and one bad entry is its own failure, never the feed's. Characters XML
forbids are marked before feedparser sees the document and mended in each
entry; a document cut off before its end keeps its complete entries.
"""

from __future__ import annotations

import re
import xml.sax
from collections import Counter
from typing import Any, Iterator, Mapping, NamedTuple, Optional
from urllib.parse import urljoin, urlsplit

import feedparser

from schemas import RawArticle, RawDocument
from transforms.errors import FeedError, TruncatedDocument
from transforms.formats.base import (
    TEXT_FIELDS,
    Failure,
    Format,
    Match,
    Notice,
    Outcome,
    Sample,
    check_not_empty,
    json_dumps,
    new_article,
    string_list,
    text_or_none,
    with_repairs,
)
from transforms.metadata import clean_author
from transforms.text import (
    CONTROL_CHARS,
    INVALID_CHAR_REF,
    Decoded,
    char_ref_value,
    html_text,
    looks_like_html,
    unstorable_code_point,
)

FEED_EXTENSIONS = (".rss", ".atom", ".xml", ".rdf")
_FEED_TAGS = ("<rss", "<rdf:rdf", "<feed", "<channel", "<opml")
_KIND_RE = re.compile(r"[^a-z0-9]+")


def recognise_feed(sample: Sample, named: bool) -> Optional[Match]:
    """A feed's root in the first characters; else an XML declaration that no page's tags follow; else its name.

    An OPML list that reaches the parser is recognised here too: feedparser
    then says it is no feed.
    """
    if not sample.head.startswith("<"):
        return None
    if any(tag in sample.head for tag in _FEED_TAGS):
        return Match.CONTENT
    if sample.head.startswith("<?xml"):
        return Match.LEANS
    return Match.NAMED if named else None


def bozo_kind(error: Optional[BaseException]) -> str:
    """The flaw of a feed read in spite of it, as a counter name's last part.

    feedparser hands every document it is given to a strict XML parser
    first (we give it UTF-8 with a matching charset, so its own charset and
    content-type complaints cannot arise); a document that is not
    well-formed is read again by its forgiving parser and flagged ``bozo``.
    The kind is expat's reason ("mismatched_tag", "undefined_entity": a
    fixed list), else the exception's class name.
    """
    if isinstance(error, xml.sax.SAXParseException):
        reason = error.getMessage()
    elif error is not None:
        reason = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type(error).__name__)
    else:
        reason = "unknown"
    return _KIND_RE.sub("_", reason.lower()).strip("_") or "unknown"


def _html_field(value: str, repairs: Counter[str]) -> str:
    text, found = html_text(value)
    repairs.update(found)
    return text


def entry_teaser(entry: Mapping[str, Any]) -> Optional[str]:
    """The entry's own summary/description as text (the ``summary`` column): the teaser a page's text is judged against.

    Markup repairs made here are not counted: when the teaser is also the
    body, the body's conversion counts them once.
    """
    summary = entry.get("summary_detail") or {}
    value = (summary.get("value") or entry.get("summary") or "").strip()
    if not value:
        return None
    if looks_like_html(value):
        value = _html_field(value, Counter()).strip()
    return value or None


def _entry_body(entry: Mapping[str, Any], repairs: Counter[str]) -> tuple[str, bool, Optional[str]]:
    """The entry's fullest text, whether it is HTML, and the summary when it is a separate dek."""
    contents = [c for c in entry.get("content") or [] if (c.get("value") or "").strip()]
    summary = entry.get("summary_detail") or {}
    summary_value = (summary.get("value") or entry.get("summary") or "").strip()
    if contents:
        best = max(contents, key=lambda c: len(c.get("value") or ""))
        value = best.get("value") or ""
        is_html = "html" in (best.get("type") or "") or looks_like_html(value)
        dek = None
        if summary_value and summary_value[:200] not in value:
            dek_text = _html_field(summary_value, repairs) if looks_like_html(summary_value) else summary_value
            dek = dek_text.strip() if len(dek_text) <= 400 else None
        return value, is_html, dek
    is_html = "html" in (summary.get("type") or "text/html") or looks_like_html(summary_value)
    return summary_value, is_html, None


def _entry_title(entry: Mapping[str, Any], repairs: Counter[str]) -> Optional[str]:
    title = entry.get("title")
    if not title:
        return None
    detail = entry.get("title_detail") or {}
    if "html" in (detail.get("type") or "") and looks_like_html(title):
        title = _html_field(title, repairs)
    return text_or_none(title)


def _entry_authors(entry: Mapping[str, Any], feed: Mapping[str, Any], version: str) -> list[str]:
    """The entry's authors, else those the feed gives every entry.

    Atom entries inherit the feed's authors (RFC 4287 §4.2.1). An RSS channel
    has no author: feedparser files its ``managingEditor`` (an e-mail address
    of whoever runs the feed) as one, so only channel names that come without
    an address (``dc:creator``, ``itunes:author``) are passed on.
    """
    authors = string_list(entry.get("authors"))
    raw = entry.get("author")
    if isinstance(raw, str) and "@" in raw and len(authors) <= 1:
        # feedparser splits "address (Name)" assuming a 2-4 letter top-level domain:
        # "desk@news.network (Tom Achebe)" becomes the name "ork (Tom Achebe". The raw
        # form is read by metadata.clean_author, which knows any domain.
        name = clean_author(raw)
        return [name] if name else []
    if not authors and raw:
        authors = [raw]
    if authors:
        return authors
    feed_authors = [a for a in feed.get("authors") or [] if isinstance(a, Mapping)]
    if not version.startswith("atom"):
        feed_authors = [a for a in feed_authors if not a.get("email")]
    return string_list(feed_authors)


def _absolute(link: Any, base: Optional[str]) -> Optional[str]:
    """An entry link made absolute against the feed's site (RSS allows relative links in practice)."""
    link = text_or_none(link)
    if link and base and not urlsplit(link).scheme:
        return urljoin(base, link)
    return link


def _self_link(feed: Mapping[str, Any]) -> Optional[str]:
    for link in feed.get("links") or []:
        if link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return None


# Characters XML 1.0 does not allow, literally or as a numeric reference: one
# of them fails the strict parser, and feedparser's fallback, a loose SGML
# parser, reads the feed worse and crashes outright on ``&#xD800;`` (it
# encodes the character to UTF-8), losing every entry. Before feedparser sees
# the document each becomes one of three Unicode noncharacters, which XML
# allows and no interchange text uses (a literal one in the input is taken
# for an invalid character); in each entry they become U+FFFD, nothing, or a
# line break, counted in that entry's own repairs.
_INVALID_MARK = "\ufdd0"  # a code point no text can hold: becomes U+FFFD
_CONTROL_MARK = "\ufdd1"  # a control character: removed
_BREAK_MARK = "\ufdd2"  # a form feed or vertical tab: a line break
_MARKS = frozenset(_INVALID_MARK + _CONTROL_MARK + _BREAK_MARK)
_XML_ILLEGAL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff\ufdd0-\ufdd2]|&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));"
)


def _control_mark(value: int) -> str:
    return _BREAK_MARK if value in (0x0B, 0x0C) else _CONTROL_MARK


def _xml_char_substitute(match: re.Match[str]) -> str:
    literal = match.group(0)
    if not literal.startswith("&#"):
        return _control_mark(ord(literal)) if literal < " " else _INVALID_MARK
    value = char_ref_value(match)
    if 0 < value < 0x20 and value not in (0x09, 0x0A, 0x0D):
        return _control_mark(value)
    if unstorable_code_point(value) or value in (0xFFFE, 0xFFFF):
        return _INVALID_MARK
    return literal


def xml_safe(text: str) -> tuple[str, bool]:
    """``text`` with what XML forbids replaced by marks (see ``_INVALID_MARK``), and whether any was."""
    if not _XML_ILLEGAL_RE.search(text):
        return text, False
    safe = _XML_ILLEGAL_RE.sub(_xml_char_substitute, text)
    return safe, safe != text  # valid references ("&#8217;") match too, and stay


def _unmark(value: str, repairs: Counter[str]) -> str:
    if _MARKS.isdisjoint(value):
        return value
    for mark, kind, replacement in (
        (_INVALID_MARK, INVALID_CHAR_REF, "\ufffd"),
        (_CONTROL_MARK, CONTROL_CHARS, ""),
        (_BREAK_MARK, CONTROL_CHARS, "\n"),
    ):
        if mark in value:
            repairs[kind] += value.count(mark)
            value = value.replace(mark, replacement)
    return value


def _unmarked(article: RawArticle, repairs: Counter[str]) -> RawArticle:
    """An entry's fields with the marks of ``xml_safe`` resolved and counted."""
    changes: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = getattr(article, name)
        if value is not None:
            changes[name] = _unmark(value, repairs)
    for name in ("authors", "categories"):
        changes[name] = [_unmark(v, repairs) for v in getattr(article, name)]
    changes["raw"] = _unmark(article.raw, Counter())  # the same characters again: counted once
    return article._replace(**changes)


class Truncation(NamedTuple):
    """Where an XML document that never closes its root was cut off."""

    complete_entries: int  # entries (``item``, ``entry``) closed before the cut
    open_elements: list[str]  # the elements still open at the end, outermost first


_XML_TOKEN_RE = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<\?.*?(?:\?>|\Z)"
    r"|<!(?:[^\[>]|\[[^\]]*\]?)*>?"
    r"|<(/?)([A-Za-z_][^\s/>]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>?",
    re.S,
)
_ENTRY_NAMES = frozenset({"item", "entry"})


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def xml_truncation(text: str) -> Optional[Truncation]:
    """How an XML document was cut off, or None when its root element is closed.

    A document that ends with its root still open was cut off (a transfer or
    a copy that stopped early). Its elements are followed with a stack, as
    a forgiving parser would: an end tag closes what is open down to its
    start tag, and one that matches nothing is ignored, so the HTML that
    feeds put unescaped in their descriptions (``<br>``) does not count as
    open. Only a root that never closes does. Entries closed before the cut
    are counted: they are complete.
    """
    stack: list[str] = []
    entries_open = 0
    complete = 0
    started = False
    for match in _XML_TOKEN_RE.finditer(text):
        name = match.group(2)
        if name is None:
            continue
        if not match.group(1):
            if match.group(3).rstrip().endswith("/") and match.group(0).endswith(">"):
                complete += _local(name) in _ENTRY_NAMES and not entries_open
                continue
            stack.append(name)
            started = True
            entries_open += _local(name) in _ENTRY_NAMES
            continue
        if name not in stack:
            continue
        while stack:
            closed = stack.pop()
            if _local(closed) in _ENTRY_NAMES:
                entries_open -= 1
                complete += not entries_open
            if closed == name:
                break
    if not started or not stack:
        return None
    return Truncation(complete, stack)


def parse_feed(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """Every entry of an RSS/Atom document, via feedparser.

    feedparser is given UTF-8 bytes with a matching charset header: we have
    decoded the document ourselves (and recorded how), so its own guessing
    must not undo that. Characters XML forbids are marked first
    (``xml_safe``), so one of them costs neither the strict parser nor the
    feed. A document cut off before its end (``xml_truncation``) keeps its
    complete entries; the entry in progress is not read as an article but
    left, with the rest, to one ``TruncatedDocument`` dead letter holding the
    whole document (a half-read entry has no link or text and would be
    written again, under another id, once the full feed is read). A feed read
    whole in spite of a flaw (``bozo``: not well-formed, read by feedparser's
    forgiving parser) yields a ``Notice`` first, counted by kind.
    """
    text, marked = xml_safe(decoded.text)
    parsed = feedparser.parse(
        text.encode("utf-8"),
        sanitize_html=False,
        resolve_relative_uris=False,
        response_headers={"content-type": "application/xml; charset=utf-8"},
    )
    entries = parsed.get("entries") or []
    if not entries and not parsed.get("version"):
        if parsed.get("bozo"):
            raise FeedError(f"not a readable feed: {parsed.get('bozo_exception')}", source=document.source)
        raise FeedError("no feed found in document", source=document.source)
    truncation = xml_truncation(text) if parsed.get("bozo") else None
    if truncation is not None and truncation.complete_entries == 0:
        raise TruncatedDocument(
            f"feed cut off before its first complete entry (still open: {'/'.join(truncation.open_elements)})",
            source=document.source,
        )
    if parsed.get("bozo") and not entries:
        raise FeedError(f"not a readable feed: {parsed.get('bozo_exception')}", source=document.source)
    if parsed.get("bozo") and truncation is None:
        yield Notice(f"feeds.bozo.{bozo_kind(parsed.get('bozo_exception'))}")
    feed = parsed.get("feed") or {}
    feed_url = _self_link(feed) or (document.source if document.source_type in ("feed", "http") else None)
    feed_link = text_or_none(feed.get("link"))
    kept = entries if truncation is None else entries[: truncation.complete_entries]
    for entry in kept:
        try:
            repairs: Counter[str] = Counter()
            body, is_html, dek = _entry_body(entry, repairs)
            published_raw = entry.get("published") or entry.get("updated") or entry.get("created")
            article = new_article(
                document,
                decoded,
                source_type="feed",
                text_source="feed",
                summary=entry_teaser(entry),
                feed_url=feed_url,
                feed_link=feed_link,
                url=_absolute(entry.get("link"), feed_link or feed_url),
                guid=text_or_none(entry.get("id")),
                title=_entry_title(entry, repairs),
                subtitle=dek,
                body=body,
                body_is_html=is_html,
                authors=_entry_authors(entry, feed, parsed.get("version") or ""),
                published_raw=text_or_none(published_raw),
                categories=string_list(entry.get("tags")),
                raw=json_dumps(entry),
            )
            if marked:
                article = _unmarked(article, repairs)
            yield check_not_empty(with_repairs(article, repairs))
        except Exception as error:  # noqa: BLE001 - one bad entry never costs the feed
            raw = json_dumps(entry)
            yield Failure(error, _unmark(raw, Counter()) if marked else raw)
    if truncation is not None:
        yield Failure(
            TruncatedDocument(
                f"feed cut off before its end (still open: {'/'.join(truncation.open_elements)}): its "
                f"{len(kept)} complete entries were read, the rest was not "
                f"({len(entries) - len(kept)} partial entries left out)",
                source=document.source,
            ),
            None,
        )


FEED = Format(
    name="feed",
    recognise=recognise_feed,
    parse=parse_feed,
    described="a feed",
    extensions=FEED_EXTENSIONS,
    feed=True,
    capped=True,
)
