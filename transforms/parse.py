"""Documents to ``RawArticle``s: feeds, JSON/JSON Lines, HTML pages, plain text.

The format is recognised from content first and the file extension second.
Foreign objects stop here: feedparser's dictionaries and lxml trees become
``RawArticle`` records, and nothing downstream sees them. One bad entry never
costs its feed: it is dead-lettered with its own payload and the other entries
go on.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
import feedparser
import lxml.etree
import lxml.html
import numpy as np

from schemas import EncodingInfo, FeedOutcome, RawArticle, RawDocument
from transforms.errors import (
    DEAD_LETTER,
    EmptyArticle,
    FeedError,
    SafeDoFn,
    TooManyEntries,
    UnreadableDocument,
    counter,
)
from transforms.metadata import is_subtitle
from transforms.text import Decoded, decode_bytes, html_to_text, looks_like_html

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
    codepage passes, and so does a scraped page with a few stray controls.
    """
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return kind
    if data[4:12] in (b"ftypisom", b"ftypmp42", b"ftypM4A ", b"ftypqt  ") or data[:4] == b"RIFF":
        return "audio/video container"
    if data.startswith(_UNICODE_BOMS):
        return None
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
        if any(tag in head for tag in ("<rss", "<rdf:rdf", "<feed", "<channel")):
            return FEED
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
    for candidate in (text, first):
        try:
            json.loads(candidate)
            return True
        except ValueError:
            continue
    return False


class Parsed(NamedTuple):
    """What a document yields: articles, and entries that failed with their payload."""

    articles: list[RawArticle]
    failures: list[tuple[Exception, str]]


def _encoding(decoded: Decoded) -> EncodingInfo:
    return EncodingInfo(decoded.codec, decoded.path, decoded.declared, [])


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


def _entry_body(entry: Mapping[str, Any]) -> tuple[str, bool, Optional[str]]:
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
            dek_text = html_to_text(summary_value) if looks_like_html(summary_value) else summary_value
            dek = dek_text.strip() if len(dek_text) <= 400 else None
        return value, is_html, dek
    is_html = "html" in (summary.get("type") or "text/html") or looks_like_html(summary_value)
    return summary_value, is_html, None


def _entry_title(entry: Mapping[str, Any]) -> Optional[str]:
    title = entry.get("title")
    if not title:
        return None
    detail = entry.get("title_detail") or {}
    if "html" in (detail.get("type") or "") and looks_like_html(title):
        title = html_to_text(title)
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


def parse_feed(document: RawDocument, decoded: Decoded) -> Parsed:
    """Every entry of an RSS/Atom document, via feedparser.

    feedparser is given UTF-8 bytes with a matching charset header: we have
    decoded the document ourselves (and recorded how), so its own guessing
    must not undo that.
    """
    parsed = feedparser.parse(
        decoded.text.encode("utf-8"),
        sanitize_html=False,
        resolve_relative_uris=False,
        response_headers={"content-type": "application/xml; charset=utf-8"},
    )
    entries = parsed.get("entries") or []
    if parsed.get("bozo") and not entries:
        error = parsed.get("bozo_exception")
        raise FeedError(f"not a readable feed: {error}", source=document.source)
    if not entries and not parsed.get("version"):
        raise FeedError("no feed found in document", source=document.source)
    feed = parsed.get("feed") or {}
    feed_url = _self_link(feed) or (document.source if document.source_type in ("feed", "http") else None)
    feed_link = _text_or_none(feed.get("link"))
    articles, failures = [], []
    for entry in entries:
        try:
            body, is_html, dek = _entry_body(entry)
            published_raw = entry.get("published") or entry.get("updated") or entry.get("created")
            article = RawArticle(
                source_type="feed",
                source=document.source,
                feed_url=feed_url,
                feed_link=feed_link,
                url=_absolute(entry.get("link"), feed_link or feed_url),
                guid=_text_or_none(entry.get("id")),
                title=_entry_title(entry),
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
            articles.append(_check_not_empty(article))
        except Exception as error:  # noqa: BLE001 - one bad entry never costs the feed
            failures.append((error, _json_dumps(entry)))
    return Parsed(articles, failures)


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


def json_record_to_article(record: Any, document: RawDocument, decoded: Decoded) -> RawArticle:
    """One JSON object (an article) to a ``RawArticle``."""
    if not isinstance(record, Mapping):
        raise UnreadableDocument(f"JSON record is a {type(record).__name__}, not an object")
    _, title = _field(record, "title")
    body_key, body = _field(record, "body")
    _, subtitle = _field(record, "subtitle", skip=(body_key,) if body_key else ())
    body_text = _text_or_none(body) or ""
    _, url = _field(record, "url")
    _, guid = _field(record, "guid")
    _, published = _field(record, "published")
    _, authors = _field(record, "authors")
    _, categories = _field(record, "categories")
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
        raw=_json_dumps(record),
    )
    return _check_not_empty(article)


def _parse_records(records: Iterable[tuple[Any, str]], document: RawDocument, decoded: Decoded) -> Parsed:
    articles, failures = [], []
    for record, raw in records:
        try:
            articles.append(json_record_to_article(record, document, decoded))
        except Exception as error:  # noqa: BLE001 - one bad record never costs the file
            failures.append((error, raw))
    return Parsed(articles, failures)


def parse_json(document: RawDocument, decoded: Decoded) -> Parsed:
    """A JSON object (one article), an array of them, or ``{"articles": [...]}``."""
    try:
        value = json.loads(decoded.text)
    except json.JSONDecodeError:
        return parse_jsonl(document, decoded)
    records = _json_records(value)
    return _parse_records(((r, _json_dumps(r)) for r in records), document, decoded)


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


def _json_records(value: Any, depth: int = 0) -> list[Any]:
    """The article records in a JSON document.

    API dumps wrap their articles: ``{"articles": [...]}``,
    ``{"status": "ok", "data": {"items": [...]}}``, Elasticsearch's
    ``{"hits": {"hits": [...]}}``. An object with article fields of its own is
    one article; otherwise the first container key holding a list (or, a few
    levels deep, an object that holds one) gives the records.
    """
    if isinstance(value, list):
        return value
    if not isinstance(value, Mapping) or depth >= 4:
        return [value]
    version = value.get("version")
    if isinstance(version, str) and "jsonfeed.org/version/" in version:
        # A JSON Feed has a title and a home page of its own: its articles are its items.
        items = value.get("items")
        return list(items) if isinstance(items, list) else []
    if any(_field(value, name)[0] for name in ("title", "body", "url")):
        return [value]
    for key in _CONTAINER_KEYS:
        inner = value.get(key)
        if isinstance(inner, list):
            return inner
        if isinstance(inner, Mapping):
            records = _json_records(inner, depth + 1)
            if records != [inner]:
                return records
    return [value]


def parse_jsonl(document: RawDocument, decoded: Decoded) -> Parsed:
    """One JSON object per line; a line that is not JSON is its own dead letter."""
    articles: list[RawArticle] = []
    failures: list[tuple[Exception, str]] = []
    for number, line in enumerate(decoded.text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append((UnreadableDocument(f"line {number}: invalid JSON: {error}"), line))
            continue
        result = _parse_records([(record, line)], document, decoded)
        articles.extend(result.articles)
        failures.extend(result.failures)
    if not articles and not failures:
        raise UnreadableDocument("no JSON records in document", source=document.source)
    return Parsed(articles, failures)


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


def parse_html(document: RawDocument, decoded: Decoded) -> Parsed:
    """One article from an HTML page: title, dek, canonical URL, date, authors and main text."""
    try:
        root = lxml.html.document_fromstring(decoded.text)
    except (lxml.etree.ParserError, ValueError) as error:
        raise UnreadableDocument(f"invalid HTML: {error}", source=document.source) from error
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
    main = _main_element(root)
    for heading in main.xpath(".//h1"):
        heading.drop_tree()  # the title is its own column
    body = lxml.html.tostring(main, encoding="unicode")
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
        body_is_html=True,
        authors=authors,
        published_raw=_text_or_none(published),
        categories=_string_list(_meta(root, "article:section", "keywords")),
        encoding=_encoding(decoded),
        language=None,
        raw=decoded.text,
    )
    return Parsed([_check_not_empty(article)], [])


# --------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------


def parse_text(document: RawDocument, decoded: Decoded) -> Parsed:
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
    return Parsed([_check_not_empty(article)], [])


_PARSERS = {FEED: parse_feed, JSON: parse_json, JSONL: parse_jsonl, HTML: parse_html, TEXT: parse_text}


def parse_document(document: RawDocument) -> tuple[str, Parsed]:
    """Decode and parse one document; returns its format and what it yielded.

    A document fetched from a feed URL (``source_type`` "http") must be a feed:
    the server's Content-Type charset is passed to the decoder, and an HTML
    page in its place is an error, not an article.
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
    return fmt, _PARSERS[fmt](document, decoded)


class _ParseDocument(SafeDoFn):
    stage = "parse"
    counts_read = True

    def __init__(self, run_id: str, max_entries: int = DEFAULT_MAX_ENTRIES):
        super().__init__(run_id)
        self.max_entries = max_entries
        self._formats = {fmt: counter(f"documents.{fmt}") for fmt in _PARSERS}
        self._articles = counter("articles_parsed")
        self._over_limit = counter("feeds.over_entry_limit")

    def process(self, document: RawDocument) -> Iterator[Any]:  # type: ignore[override]
        try:
            outputs = list(self.process_element(document))
        except Exception as error:  # noqa: BLE001 - the whole document is a dead letter
            yield self.dead_letter(error, document)
            if document.source_type == "http":
                yield beam.pvalue.TaggedOutput(
                    OUTCOMES, FeedOutcome(document.source, np.int32(0), type(error).__name__, str(error)[:2000])
                )
            return
        yield from outputs

    def process_element(self, document: RawDocument) -> Iterator[Any]:
        fmt, parsed = parse_document(document)
        self._formats[fmt].inc()
        articles = parsed.articles
        entries = len(articles) + len(parsed.failures)
        if len(articles) > self.max_entries:
            # One dead letter for the overflow, holding the whole document: the
            # limit exists to bound work, so it must not become one record per
            # extra entry, and nothing is lost.
            self._over_limit.inc()
            overflow = TooManyEntries(
                f"{len(articles)} entries, over --max-entries-per-feed {self.max_entries}: the first "
                f"{self.max_entries} were ingested, {len(articles) - self.max_entries} left in this payload",
                source=document.source,
            )
            yield self.dead_letter(overflow, document, raw_bytes=document.payload)
            articles = articles[: self.max_entries]
        for article in articles:
            self._read_count.inc()
            self._articles.inc()
            yield article
        for error, raw in parsed.failures:
            yield self.dead_letter(error, document, raw_text=raw)
        if document.source_type == "http":
            yield beam.pvalue.TaggedOutput(OUTCOMES, FeedOutcome(document.source, np.int32(entries), None, None))


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
