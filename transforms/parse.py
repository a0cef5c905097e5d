"""Documents to ``RawArticle``s: feeds, JSON/JSON Lines, HTML pages, plain text.

The format is recognised from content first and the file extension second.
Foreign objects stop here: feedparser's dictionaries and lxml trees become
``RawArticle`` records, and nothing downstream sees them. One bad entry never
costs its feed: it is dead-lettered with its own payload and the other entries
go on.

Parsing is a stream of outcomes (an article, or a failure with its payload),
not a list: a JSON dump of a million records is decoded one record at a time
and each record leaves the parse step before the next is read, so memory is
bounded by the document's own bytes and the records in flight. Every string
that enters a record here is storable UTF-8: what cannot be stored becomes
U+FFFD, counted as a repair in the article's ``encoding`` column.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import Counter
from typing import Any, Iterator, Mapping, NamedTuple, Optional, Sequence, Union
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
import feedparser
import lxml.html
import numpy as np

from schemas import EncodingInfo, FeedOutcome, RawArticle, RawDocument, Repair
from transforms.errors import (
    DEAD_LETTER,
    EmptyArticle,
    FeedError,
    SafeDoFn,
    TooManyEntries,
    TruncatedDocument,
    UnreadableDocument,
    counter,
)
from transforms.metadata import is_subtitle
from transforms.text import (
    CONTROL_CHARS,
    HTML_FLATTENED,
    INVALID_CHAR_REF,
    LONE_SURROGATE,
    Decoded,
    char_ref_value,
    decode_bytes,
    flat_text,
    html_text,
    looks_like_html,
    parse_markup,
    prepare_markup,
    storable,
    unstorable_code_point,
    xml_wide_codec,
)

FEED, JSON, JSONL, HTML, TEXT = "feed", "json", "jsonl", "html", "text"
#: Formats a document fetched from a feed URL may be: a page or plain text
#: there is an error page or a site's home page, not news.
_FEED_FORMATS = (FEED, JSON, JSONL)
#: Output tag of ``ParseDocuments``: one ``FeedOutcome`` per fetched document.
OUTCOMES = "outcomes"
DEFAULT_MAX_ENTRIES = 5000
_EXTENSIONS = {
    ".rss": FEED,
    ".atom": FEED,
    ".xml": FEED,
    ".rdf": FEED,
    ".json": JSON,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".txt": TEXT,
    ".text": TEXT,
    ".md": TEXT,
}
# feedparser "bozo" conditions a feed reader shrugs off: a declared charset
# that did not match, a wrong content type. They are counted, not fatal.
_SURVIVABLE_BOZO = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
)


# Leading bytes of binary formats that land in news dumps beside the articles.
_BINARY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or a DOCX/EPUB/XLSX)"),
    (b"PK\x05\x06", "empty ZIP archive"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"PAR1", "Parquet file"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x7fELF", "executable"),
    (b"OggS", "Ogg media"),
    (b"ID3", "MP3 audio"),
    (b"wOFF", "web font"),
    (b"wOF2", "web font"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office document"),
)
_UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


# Bytes that text in any encoding newsbeam reads (UTF-8, an 8-bit codepage) uses
# at most rarely: the C0 controls other than tab, line feed, form feed and
# carriage return, and DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)


def binary_kind(data: bytes) -> Optional[str]:
    """What a binary payload is ("PNG image", "binary data"), or None for text.

    A known signature marks binary; so does a head that is more than 1% NUL or
    more than 10% control bytes (compressed or encrypted data is about 12%) in
    a document without a UTF-16/32 byte order mark. Text in any 8-bit
    codepage passes, and so does a scraped page with a few stray controls;
    so does BOM-less UTF-16/32 markup, whose zero bytes ``xml_wide_codec``
    recognises.
    """
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return kind
    if data[4:12] in (b"ftypisom", b"ftypmp42", b"ftypM4A ", b"ftypqt  ") or data[:4] == b"RIFF":
        return "audio/video container"
    if data.startswith(_UNICODE_BOMS) or xml_wide_codec(data):
        return None  # UTF-16/32 text, with a BOM or markup that says so (XML 1.0 appendix F)
    head = data[:8192]
    controls = len(head.translate(None, delete=_NOT_CONTROL))
    if head.count(0) > max(1, len(head) // 100) or controls > max(2, len(head) // 10):
        return "binary data"
    return None


def detect_format(text: str, path: str = "") -> str:
    """The document format, from its first characters, then its extension."""
    head = text[:4096].lstrip("\ufeff \t\r\n").lower()
    ext = posixpath.splitext(path.lower().removesuffix(".gz"))[1]
    if head.startswith("<"):
        if any(tag in head for tag in ("<rss", "<rdf:rdf", "<feed", "<channel", "<opml")):
            return FEED  # an OPML list that reaches here is no feed either: feedparser says so
        if any(tag in head for tag in ("<html", "<!doctype html", "<body", "<head")):
            return HTML
        if head.startswith("<?xml"):
            return FEED
        return _EXTENSIONS.get(ext, HTML)
    if head.startswith(("{", "[")):
        if ext in (".jsonl", ".ndjson"):
            return JSONL
        if _EXTENSIONS.get(ext) == TEXT and not _is_json(text):
            return TEXT  # "[Updated] Bridge closed…" is a headline, not JSON
        return JSON
    return _EXTENSIONS.get(ext, TEXT) if ext in (".txt", ".text", ".md") else TEXT


def _is_json(text: str) -> bool:
    first = text.lstrip("\ufeff \t\r\n").split("\n", 1)[0]
    for candidate in (first, text):  # the first line first: it is cheap
        try:
            json.loads(candidate)
            return True
        except ValueError:
            continue
    return False


class Failure(NamedTuple):
    """An entry or record that could not become an article, with its own payload.

    ``raw`` None means the failure is the document's: what it says happened
    to the rest of it (cut off, broken structure), and its dead letter carries
    the whole document's bytes.
    """

    error: Exception
    raw: Optional[str]


#: What parsing a document yields, one at a time.
Outcome = Union[RawArticle, Failure]


class Parsed(NamedTuple):
    """What a document yields, collected: articles, and entries that failed with their payload."""

    articles: list[RawArticle]
    failures: list[Failure]


def _encoding(decoded: Decoded) -> EncodingInfo:
    return EncodingInfo(decoded.codec, decoded.path, decoded.declared, [])


def with_repairs(article: RawArticle, repairs: Counter[str]) -> RawArticle:
    """``article`` with ``repairs`` added to those its ``encoding`` already lists."""
    if not repairs:
        return article
    merged = Counter({repair.kind: int(repair.count) for repair in article.encoding.repairs})
    merged.update(repairs)
    listed = [Repair(kind, np.int32(count)) for kind, count in sorted(merged.items())]
    return article._replace(encoding=article.encoding._replace(repairs=listed))


_TEXT_FIELDS = ("source", "feed_url", "feed_link", "url", "guid", "title", "subtitle", "body", "published_raw")


def _storable_value(value: str, repairs: Counter[str]) -> str:
    if value.isascii():
        return value
    fixed, lone = storable(value)
    if lone:
        repairs[LONE_SURROGATE] += lone
    return fixed


def storable_article(article: RawArticle) -> RawArticle:
    """``article`` with every string storable as UTF-8: lone surrogates become U+FFFD, counted.

    The one place every parsed record passes, whatever its format: a lone
    surrogate (JSON's ``"\\ud800"``) in any field, a title or a category as
    much as the body, would otherwise fail the Parquet writer for the whole
    run. ``raw`` is made storable too, but not counted: it repeats the fields.
    """
    strings = [v for v in (getattr(article, name) for name in _TEXT_FIELDS) if v is not None]
    try:
        "".join([*strings, *article.authors, *article.categories, article.raw]).encode("utf-8")
        return article  # the common case, checked in one pass
    except UnicodeEncodeError:
        pass
    repairs: Counter[str] = Counter()
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(article, name)
        if value is not None and not value.isascii():
            fixed = _storable_value(value, repairs)
            if fixed is not value:
                changes[name] = fixed
    for name in ("authors", "categories"):
        values = getattr(article, name)
        if not all(v.isascii() for v in values):
            changes[name] = [_storable_value(v, repairs) for v in values]
    changes["raw"] = storable(article.raw)[0]
    return with_repairs(article._replace(**changes), repairs)


def _text_or_none(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value if v)
    value = str(value).strip()
    return value or None


def _string_list(value: Any) -> list[str]:
    """A list of strings from a string, a list, or a list of ``{name: ...}`` objects."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    out = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, Mapping):
            item = item.get("name") or item.get("term") or item.get("label") or item.get("value")
        if item is not None and str(item).strip():
            out.append(str(item).strip())
    return out


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _check_not_empty(article: RawArticle) -> RawArticle:
    if not (article.title or "").strip() and not article.body.strip():
        raise EmptyArticle("record has neither a title nor any text", source=article.source)
    return article


# --------------------------------------------------------------------------
# Feeds
# --------------------------------------------------------------------------


def _html_field(value: str, repairs: Counter[str]) -> str:
    text, found = html_text(value)
    repairs.update(found)
    return text


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
    return _text_or_none(title)


def _entry_authors(entry: Mapping[str, Any], feed: Mapping[str, Any], version: str) -> list[str]:
    """The entry's authors, else those the feed gives every entry.

    Atom entries inherit the feed's authors (RFC 4287 §4.2.1). An RSS channel
    has no author: feedparser files its ``managingEditor`` (an e-mail address
    of whoever runs the feed) as one, so only channel names that come without
    an address (``dc:creator``, ``itunes:author``) are passed on.
    """
    authors = _string_list(entry.get("authors"))
    if not authors and entry.get("author"):
        authors = [entry["author"]]
    if authors:
        return authors
    feed_authors = [a for a in feed.get("authors") or [] if isinstance(a, Mapping)]
    if not version.startswith("atom"):
        feed_authors = [a for a in feed_authors if not a.get("email")]
    return _string_list(feed_authors)


def _absolute(link: Any, base: Optional[str]) -> Optional[str]:
    """An entry link made absolute against the feed's site (RSS allows relative links in practice)."""
    link = _text_or_none(link)
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
    for name in _TEXT_FIELDS:
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
    written again, under another id, once the full feed is read).
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
    feed = parsed.get("feed") or {}
    feed_url = _self_link(feed) or (document.source if document.source_type in ("feed", "http") else None)
    feed_link = _text_or_none(feed.get("link"))
    kept = entries if truncation is None else entries[: truncation.complete_entries]
    for entry in kept:
        try:
            repairs: Counter[str] = Counter()
            body, is_html, dek = _entry_body(entry, repairs)
            published_raw = entry.get("published") or entry.get("updated") or entry.get("created")
            article = RawArticle(
                source_type="feed",
                source=document.source,
                feed_url=feed_url,
                feed_link=feed_link,
                url=_absolute(entry.get("link"), feed_link or feed_url),
                guid=_text_or_none(entry.get("id")),
                title=_entry_title(entry, repairs),
                subtitle=dek,
                body=body,
                body_is_html=is_html,
                authors=_entry_authors(entry, feed, parsed.get("version") or ""),
                published_raw=_text_or_none(published_raw),
                categories=_string_list(entry.get("tags")),
                encoding=_encoding(decoded),
                language=None,
                raw=_json_dumps(entry),
            )
            if marked:
                article = _unmarked(article, repairs)
            yield _check_not_empty(with_repairs(article, repairs))
        except Exception as error:  # noqa: BLE001 - one bad entry never costs the feed
            raw = _json_dumps(entry)
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


# --------------------------------------------------------------------------
# JSON and JSON Lines
# --------------------------------------------------------------------------

_FIELDS = {
    "title": ("title", "headline", "name"),
    "body": (
        "text",
        "body",
        "content",
        "article",
        "articleBody",
        "maintext",
        "content_text",
        "content_html",
        "description",
    ),
    "subtitle": ("subtitle", "dek", "subheadline", "summary", "description"),
    "url": ("url", "link", "canonical_url", "href"),
    "guid": ("guid", "id", "uuid", "article_id"),
    "authors": ("authors", "author", "byline", "creator", "creators"),
    "published": (
        "published",
        "published_at",
        "date",
        "pubDate",
        "datePublished",
        "date_published",
        "date_publish",
        "created_at",
        "updated",
        "date_modified",
    ),
    "categories": ("categories", "category", "tags", "keywords", "section"),
}


def _field(record: Mapping[str, Any], name: str, skip: Sequence[str] = ()) -> tuple[Optional[str], Any]:
    for key in _FIELDS[name]:
        if key in skip:
            continue
        value = record.get(key)
        if value not in (None, "", []):
            return key, value
    return None, None


#: Each record key that names a field: the fields it may be, with its rank among their names.
_FIELD_OF_KEY: dict[str, list[tuple[str, int]]] = {}
for _name, _keys in _FIELDS.items():
    for _rank, _key in enumerate(_keys):
        _FIELD_OF_KEY.setdefault(_key, []).append((_name, _rank))


def _record_fields(record: Mapping[str, Any]) -> dict[str, list[tuple[int, str, Any]]]:
    """For each field, the record's non-empty candidates as (rank, key, value).

    One pass over the record's own keys (a handful) instead of one look-up per
    field name (some sixty): ``_field`` for every field at once.
    """
    found: dict[str, list[tuple[int, str, Any]]] = {}
    for key, value in record.items():
        names = _FIELD_OF_KEY.get(key)
        if names is None or value is None or value == "" or value == []:
            continue
        for name, rank in names:
            found.setdefault(name, []).append((rank, key, value))
    return found


def _pick(
    found: Mapping[str, list[tuple[int, str, Any]]], name: str, skip: Optional[str] = None
) -> tuple[Optional[str], Any]:
    candidates = found.get(name)
    if candidates and skip is not None:
        candidates = [c for c in candidates if c[1] != skip]
    if not candidates:
        return None, None
    _, key, value = min(candidates) if len(candidates) > 1 else candidates[0]  # ranks differ: values never compared
    return key, value


def json_record_to_article(
    record: Any, document: RawDocument, decoded: Decoded, raw: Optional[str] = None
) -> RawArticle:
    """One JSON object (an article) to a ``RawArticle``; ``raw`` is its JSON as found, when known."""
    if not isinstance(record, Mapping):
        raise UnreadableDocument(f"JSON record is a {type(record).__name__}, not an object")
    found = _record_fields(record)
    _, title = _pick(found, "title")
    body_key, body = _pick(found, "body")
    _, subtitle = _pick(found, "subtitle", skip=body_key)
    body_text = _text_or_none(body) or ""
    _, url = _pick(found, "url")
    _, guid = _pick(found, "guid")
    _, published = _pick(found, "published")
    _, authors = _pick(found, "authors")
    _, categories = _pick(found, "categories")
    is_html = looks_like_html(body_text)
    article = RawArticle(
        source_type="feed" if document.source_type == "http" else "file",
        source=document.source,
        feed_url=None,
        feed_link=None,
        url=_text_or_none(url),
        guid=_text_or_none(guid),
        title=_text_or_none(title),
        subtitle=_text_or_none(subtitle) if subtitle != body else None,
        body=body_text,
        body_is_html=is_html,
        authors=_string_list(authors),
        published_raw=_text_or_none(published),
        categories=_string_list(categories),
        encoding=_encoding(decoded),
        language=None,
        raw=raw if raw is not None else _json_dumps(record),
    )
    return _check_not_empty(article)


def _record_outcome(record: Any, raw: str, document: RawDocument, decoded: Decoded) -> Outcome:
    try:
        return json_record_to_article(record, document, decoded, raw)
    except Exception as error:  # noqa: BLE001 - one bad record never costs the file
        return Failure(error, raw)


_CONTAINER_KEYS = (
    "articles",
    "items",
    "entries",
    "results",
    "data",
    "docs",
    "documents",
    "stories",
    "response",
    "hits",
)
#: Keys whose values decide whether an object is an article itself (``_field`` reads them).
_ARTICLE_KEYS = frozenset(key for name in ("title", "body", "url") for key in _FIELDS[name])
_MAX_WRAPPING = 4  # levels of API wrapping looked into for the records
_JSON_SPACE_RE = re.compile(r"[ \t\n\r]*")
_JSON_SEPARATOR_RE = re.compile(r"[ \t\n\r]*(?:,[ \t\n\r]*|(\]))")


class _ArrayAt(NamedTuple):
    """An array inside a JSON document, by position: skipped over, never held."""

    start: int


class _ObjectAt(NamedTuple):
    """An object under a container key: the members that decide where its records are."""

    start: int
    members: dict[str, Any]


class _Self:
    """The object is one record itself."""


_SELF = _Self()


class JsonCursor:
    """Reads a JSON text one value at a time, with the standard library's own decoder.

    ``json.loads`` of a dump of a million records builds all of them before
    the first can be used; ``raw_decode`` at a position builds one value and
    says where it ended, so an array is walked element by element and an
    array that holds no records is skipped without ever being held. Errors
    are ``json.JSONDecodeError`` with the position, as ``json.loads`` raises.
    (Measured against ijson's C backend for this: see ``bench/json_memory_bench.py``.)
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._decode = json.JSONDecoder().raw_decode
        self.end = 0  # past the ']' of the last array ``elements`` finished

    def space(self, pos: int) -> int:
        match = _JSON_SPACE_RE.match(self.text, pos)
        return match.end() if match else pos

    def value(self, pos: int) -> tuple[Any, int]:
        return self._decode(self.text, pos)

    def _error(self, message: str, pos: int) -> json.JSONDecodeError:
        return json.JSONDecodeError(message, self.text, pos)

    def elements(self, pos: int) -> Iterator[tuple[Any, int, int]]:
        """Each element of the array at ``pos`` as (value, start, end); then ``self.end`` is past its ``]``."""
        text = self.text
        decode = self._decode
        separator = _JSON_SEPARATOR_RE.match
        pos = self.space(pos + 1)
        if text.startswith("]", pos):
            self.end = pos + 1
            return
        while True:
            value, end = decode(text, pos)
            yield value, pos, end
            found = separator(text, end)
            if found is None:
                raise self._error("Expecting ',' delimiter", self.space(end))
            pos = found.end()
            if found.group(1) == "]":
                self.end = pos
                return

    def skip_array(self, pos: int) -> int:
        for _ in self.elements(pos):
            pass
        return self.end

    def members(self, pos: int, depth: int) -> tuple[dict[str, Any], int]:
        """What decides where the records of the object at ``pos`` are, and the position past it.

        Article fields and scalars are decoded; arrays are skipped and kept
        as their position; an object under a container key is read the same
        way, a few levels deep; any other value is decoded and kept.
        """
        text = self.text
        found: dict[str, Any] = {}
        pos = self.space(pos + 1)
        if text.startswith("}", pos):
            return found, pos + 1
        while True:
            if not text.startswith('"', pos):
                raise self._error("Expecting property name enclosed in double quotes", pos)
            key, pos = self._decode(text, pos)
            pos = self.space(pos)
            if not text.startswith(":", pos):
                raise self._error("Expecting ':' delimiter", pos)
            pos = self.space(pos + 1)
            value: Any
            if text.startswith("[", pos) and key not in _ARTICLE_KEYS:
                value, pos = _ArrayAt(pos), self.skip_array(pos)
            elif text.startswith("{", pos) and key in _CONTAINER_KEYS and depth + 1 < _MAX_WRAPPING:
                start = pos
                inner, pos = self.members(pos, depth + 1)
                value = _ObjectAt(start, inner)
            else:
                value, pos = self._decode(text, pos)
            found[key] = value
            pos = self.space(pos)
            if text.startswith(",", pos):
                pos = self.space(pos + 1)
            elif text.startswith("}", pos):
                return found, pos + 1
            else:
                raise self._error("Expecting ',' delimiter", pos)


def _locate_records(members: Mapping[str, Any], depth: int = 0) -> Union[int, _Self, None]:
    """Where the records of an object are: an array's position, the object itself, or nowhere (None).

    API dumps wrap their articles: ``{"articles": [...]}``,
    ``{"status": "ok", "data": {"items": [...]}}``, Elasticsearch's
    ``{"hits": {"hits": [...]}}``. An object with article fields of its own is
    one article; otherwise the first container key holding a list (or, a few
    levels deep, an object that holds one) gives the records.
    """
    version = members.get("version")
    if isinstance(version, str) and "jsonfeed.org/version/" in version:
        # A JSON Feed has a title and a home page of its own: its articles are its items.
        items = members.get("items")
        return items.start if isinstance(items, _ArrayAt) else None
    if any(_field(members, name)[0] for name in ("title", "body", "url")):
        return _SELF
    for key in _CONTAINER_KEYS:
        inner = members.get(key)
        if isinstance(inner, _ArrayAt):
            return inner.start
        if isinstance(inner, _ObjectAt):
            found = _locate_records(inner.members, depth + 1)
            if found is not _SELF:
                return found
    return _SELF


def _line_column(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _json_error(error: json.JSONDecodeError, records: int, document: RawDocument) -> Exception:
    """The dead letter's error for a JSON document that broke after ``records`` records."""
    text = error.doc
    before = f"the {records} records before it were read" if records != 1 else "the record before it was read"
    if error.msg.startswith("Unterminated string") or error.pos >= len(text.rstrip(" \t\n\r")):
        return TruncatedDocument(
            f"JSON document cut off at {_line_column(text, error.pos)} ({error.msg}): {before}",
            source=document.source,
        )
    return UnreadableDocument(
        f"invalid JSON at {_line_column(text, error.pos)}: {error.msg}: {before}, the rest was not",
        source=document.source,
    )


def parse_json(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """A JSON object (one article), an array of them, or ``{"articles": [...]}``, one record at a time.

    A document whose first value fits on its first line and is followed by
    more is JSON Lines under a ``.json`` name, and read as such. A document
    that breaks off (cut short, or broken in the middle) keeps the records
    before the break; the rest is one dead letter with the whole document.
    """
    text = decoded.text
    cursor = JsonCursor(text)
    pos = cursor.space(1 if text.startswith("\ufeff") else 0)  # a BOM left in the text (one decoded twice)
    records = 0
    try:
        where: Union[int, _Self, None] = _SELF
        if text.startswith("[", pos):
            where = pos
        elif text.startswith("{", pos):
            members, end = cursor.members(pos, 0)  # a first pass that holds no records
            where = _locate_records(members)
        if where is _SELF:
            value, end = cursor.value(pos)
            records += 1
            yield _record_outcome(value, text[pos:end], document, decoded)
        elif isinstance(where, int):
            for value, start, stop in cursor.elements(where):
                records += 1
                yield _record_outcome(value, text[start:stop], document, decoded)
            if where == pos:
                end = cursor.end
    except json.JSONDecodeError as error:
        first_line = text.find("\n", pos)
        if records == 0 and 0 <= error.pos < first_line and text[first_line:].strip(" \t\n\r"):
            # JSON Lines under a .json name, its first line broken: every line is read on its own.
            yield from parse_jsonl(document, decoded)
        else:
            yield Failure(_json_error(error, records, document), None)
        return
    rest = cursor.space(end)
    if rest >= len(text):
        return
    if "\n" not in text[pos:end]:
        yield from _json_lines(document, decoded, end, 1, require_records=False)
    else:
        extra = json.JSONDecodeError("Extra data", text, rest)
        yield Failure(_json_error(extra, records, document), None)


def _json_lines(
    document: RawDocument, decoded: Decoded, pos: int, number: int, require_records: bool
) -> Iterator[Outcome]:
    """The JSON values of ``decoded.text`` from ``pos`` on, one a line, the first line numbered ``number``.

    JSON Lines separates records by ``\\n`` alone (a ``\\r`` before it is
    tolerated): U+2028, U+2029 and U+0085 are ordinary characters inside
    JSON strings, which ``str.splitlines`` would split a record at.
    """
    text = decoded.text
    seen = False
    while pos < len(text):
        newline = text.find("\n", pos)
        stop = len(text) if newline < 0 else newline
        line = text[pos:stop]
        pos = stop + 1
        if line.endswith("\r"):
            line = line[:-1]
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if line.strip(" \t\r"):
            seen = True
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield Failure(UnreadableDocument(f"line {number}: invalid JSON: {error}"), line)
            else:
                yield _record_outcome(record, line, document, decoded)
        number += 1
    if require_records and not seen:
        raise UnreadableDocument("no JSON records in document", source=document.source)


def parse_jsonl(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """One JSON object per line; a line that is not JSON is its own dead letter."""
    return _json_lines(document, decoded, 0, 1, require_records=True)


# --------------------------------------------------------------------------
# HTML pages
# --------------------------------------------------------------------------


def _meta(root: lxml.html.HtmlElement, *names: str) -> Optional[str]:
    for name in names:
        for attribute in ("property", "name", "itemprop"):
            for element in root.xpath(f'//meta[@{attribute}="{name}"]'):
                content = (element.get("content") or "").strip()
                if content:
                    return content
    return None


def _main_element(root: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """The element holding the article: ``<article>``, ``<main>``, or the densest in ``<p>`` text."""
    for path in ("//article", "//main", '//*[@itemprop="articleBody"]'):
        candidates = root.xpath(path)
        if candidates:
            return max(candidates, key=lambda e: len(e.text_content()))
    scores: dict[Any, int] = {}
    for paragraph in root.iter("p"):
        parent = paragraph.getparent()
        if parent is not None:
            scores[parent] = scores.get(parent, 0) + len(paragraph.text_content())
    if scores:
        return max(scores, key=lambda e: scores[e])
    body = root.find("body")
    return body if body is not None else root


_BODY_TAG_RE = re.compile(r"<body[\s>]", re.I)


def parse_html(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """One article from an HTML page: title, dek, canonical URL, date, authors and main text.

    The page reaches lxml as bytes (``parse_markup``), so an XHTML page that
    opens with ``<?xml … encoding="utf-8"?>`` is read like any other. A page
    nested deeper than lxml builds keeps its metadata from the tree and its
    text from a flat reading of the body (counted as ``html:flattened``).
    """
    markup, repairs = prepare_markup(decoded.text)
    root, complete = parse_markup(markup, fragment=False)
    if root is None:
        raise UnreadableDocument("invalid HTML: no elements in the document", source=document.source)
    title = _meta(root, "og:title", "twitter:title", "headline")
    if not title:
        h1 = root.xpath("//h1")
        title = h1[0].text_content() if h1 else None
    if not title:
        found = root.findtext(".//title")
        title = found
    canonical = root.xpath('//link[@rel="canonical"]/@href')
    url = canonical[0] if canonical else _meta(root, "og:url")
    published = _meta(root, "article:published_time", "datePublished", "date", "pubdate", "dc.date")
    if not published:
        times = root.xpath("//time/@datetime")
        published = times[0] if times else None
    authors = [a for a in (_meta(root, "author", "article:author", "byl"),) if a]
    if complete:
        main = _main_element(root)
        for heading in main.xpath(".//h1"):
            heading.drop_tree()  # the title is its own column
        body, body_is_html = lxml.html.tostring(main, encoding="unicode"), True
    else:
        opening = _BODY_TAG_RE.search(markup)
        body, body_is_html = flat_text(markup[opening.start() if opening else 0 :]), False
        repairs[HTML_FLATTENED] += 1
    article = RawArticle(
        source_type="feed" if document.source_type == "http" else "file",
        source=document.source,
        feed_url=None,
        feed_link=None,
        url=_text_or_none(url),
        guid=None,
        title=_text_or_none(title),
        subtitle=_text_or_none(_meta(root, "og:description", "description", "twitter:description")),
        body=body,
        body_is_html=body_is_html,
        authors=authors,
        published_raw=_text_or_none(published),
        categories=_string_list(_meta(root, "article:section", "keywords")),
        encoding=_encoding(decoded),
        language=None,
        raw=decoded.text,
    )
    yield _check_not_empty(with_repairs(article, repairs))


# --------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------


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
    article = RawArticle(
        source_type="feed" if document.source_type == "http" else "file",
        source=document.source,
        feed_url=None,
        feed_link=None,
        url=None,
        guid=None,
        title=title,
        subtitle=subtitle,
        body=body,
        body_is_html=False,
        authors=[],
        published_raw=None,
        categories=[],
        encoding=_encoding(decoded),
        language=None,
        raw=decoded.text,
    )
    yield _check_not_empty(article)


_PARSERS = {FEED: parse_feed, JSON: parse_json, JSONL: parse_jsonl, HTML: parse_html, TEXT: parse_text}


def iter_document(document: RawDocument) -> tuple[str, Iterator[Outcome]]:
    """Decode one document; its format, and what it yields, one outcome at a time.

    A document fetched from a feed URL (``source_type`` "http") must be a feed:
    the server's Content-Type charset is passed to the decoder, and an HTML
    page in its place is an error, not an article. A document that cannot be
    read at all raises (here, or from the iterator before anything is
    yielded); every article yielded has storable strings (``storable_article``).
    """
    charset = None
    if document.content_type and "charset=" in document.content_type.lower():
        charset = document.content_type.lower().split("charset=")[1].split(";")[0].strip().strip("\"'")
    binary = binary_kind(document.payload)
    if binary:
        raise UnreadableDocument(f"not a text document: {binary}", source=document.source)
    decoded = decode_bytes(document.payload, charset)
    fmt = detect_format(decoded.text, document.source if document.source_type != "http" else "")
    if document.source_type == "http" and fmt not in _FEED_FORMATS:
        kind = "an HTML page" if fmt == HTML else "plain text"
        declared = f" (Content-Type: {document.content_type})" if document.content_type else ""
        raise FeedError(f"expected a feed, got {kind}{declared}", source=document.source)
    outcomes: Iterator[Outcome] = _PARSERS[fmt](document, decoded)
    return fmt, (storable_article(o) if isinstance(o, RawArticle) else o for o in outcomes)


def parse_document(document: RawDocument) -> tuple[str, Parsed]:
    """``iter_document`` collected: the format, the articles and the failures (tests, benchmarks)."""
    fmt, outcomes = iter_document(document)
    articles: list[RawArticle] = []
    failures: list[Failure] = []
    for outcome in outcomes:
        if isinstance(outcome, Failure):
            failures.append(outcome)
        else:
            articles.append(outcome)
    return fmt, Parsed(articles, failures)


def is_capped(fmt: str, document: RawDocument) -> bool:
    """Whether ``--max-entries-per-feed`` applies: to feeds, not to record dumps.

    The cap bounds the work one feed can cause: an RSS/Atom/RDF document
    wherever it comes from, and anything fetched from a feed URL (a JSON
    Feed included). A local JSON or JSON Lines file is a dump of records that
    the user chose to ingest, all of them: it is read incrementally, so its
    size costs time, not memory, and is not capped.
    """
    return fmt == FEED or document.source_type == "http"


class _ParseDocument(SafeDoFn):
    """Parses one document, emitting each article or dead letter as it is read.

    Unlike other SafeDoFns the outputs are not collected first: a record dump
    of a million records would otherwise be held whole. A failure part-way
    (a document that breaks off) is the document's own dead letter, holding
    its bytes and saying how many entries came before it; those stay written.
    """

    stage = "parse"
    counts_read = True

    def __init__(self, run_id: str, max_entries: int = DEFAULT_MAX_ENTRIES):
        super().__init__(run_id)
        self.max_entries = max_entries
        self._formats = {fmt: counter(f"documents.{fmt}") for fmt in _PARSERS}
        self._articles = counter("articles_parsed")
        self._over_limit = counter("feeds.over_entry_limit")
        self._capped = counter("documents_capped")
        self._left_out = counter("entries_capped")

    def process(self, document: RawDocument) -> Iterator[Any]:  # type: ignore[override]
        entries = 0
        try:
            fmt, outcomes = iter_document(document)
            capped = is_capped(fmt, document)
            kept = left_out = 0
            for outcome in outcomes:
                if not entries:
                    self._formats[fmt].inc()  # read as its format: counted once something came of it
                entries += 1
                if isinstance(outcome, Failure):
                    yield self._failure(outcome, document)
                elif capped and kept >= self.max_entries:
                    left_out += 1  # still read to the end: the summary says how many were left out
                else:
                    kept += 1
                    for repair in outcome.encoding.repairs:
                        counter(f"repairs.{repair.kind}").inc(int(repair.count))
                    self._read_count.inc()
                    self._articles.inc()
                    yield outcome
            if not entries:
                self._formats[fmt].inc()  # a feed with no entries (yet) was still read
        except Exception as error:  # noqa: BLE001 - the document (or what is left of it) is a dead letter
            if entries:
                error = UnreadableDocument(
                    f"{type(error).__name__} after {entries} entries were read: {error}", source=document.source
                )
            yield self.dead_letter(error, document)
            if document.source_type == "http":
                yield beam.pvalue.TaggedOutput(
                    OUTCOMES, FeedOutcome(document.source, np.int32(entries), type(error).__name__, str(error)[:2000])
                )
            return
        if left_out:
            # One dead letter for the overflow, holding the whole document: the
            # limit exists to bound work, so it must not become one record per
            # extra entry, and nothing is lost.
            self._over_limit.inc()
            self._capped.inc()
            self._left_out.inc(left_out)
            overflow = TooManyEntries(
                f"{kept + left_out} entries, over --max-entries-per-feed {self.max_entries}: the first "
                f"{self.max_entries} were ingested, {left_out} left in this payload",
                source=document.source,
            )
            yield self.dead_letter(overflow, document, raw_bytes=document.payload)
        if document.source_type == "http":
            yield beam.pvalue.TaggedOutput(OUTCOMES, FeedOutcome(document.source, np.int32(entries), None, None))

    def _failure(self, failure: Failure, document: RawDocument) -> beam.pvalue.TaggedOutput:
        if failure.raw is None:
            return self.dead_letter(failure.error, document, raw_bytes=document.payload)
        return self.dead_letter(failure.error, document, raw_text=storable(failure.raw)[0])


class ParseDocuments(beam.PTransform):
    """``RawDocument`` to ``RawArticle``s (main output), dead letters, and a ``FeedOutcome`` per fetched feed."""

    def __init__(self, run_id: str, max_entries: int = DEFAULT_MAX_ENTRIES):
        super().__init__()
        self.run_id = run_id
        self.max_entries = max_entries

    def expand(self, documents: beam.PCollection[RawDocument]) -> dict[str, beam.PCollection]:
        parsed = documents | "Parse" >> beam.ParDo(_ParseDocument(self.run_id, self.max_entries)).with_output_types(
            RawArticle
        ).with_outputs(DEAD_LETTER, OUTCOMES, main="articles")
        return {"articles": parsed.articles, DEAD_LETTER: parsed[DEAD_LETTER], OUTCOMES: parsed[OUTCOMES]}
