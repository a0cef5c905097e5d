"""WARC files (web archives: Common Crawl's CC-NEWS, a crawler's output, newsbeam's own ``--warc-out``).

Each ``response`` (or ``resource``) record with an HTML payload is a page,
read by the extractor every HTML path shares (``transforms.extract``), with
what the archive knows about the fetch: the HTTP ``Content-Type`` charset
goes to the decoder, ``WARC-Target-URI`` is the article's url and
``WARC-Date`` the fetch time (a bound for the page's dates, never its
published date). Every other record is read and skipped under a named rule
(``skipped.warc.<type>``, ``.non_html``, ``.redirect``, ``.http_error``,
``.revisit``); a record that cannot be read is a dead letter with its offset.

newsbeam's own archives (``--warc-out``) say what each response was fetched
as (``WARC-Newsbeam-Role``). A feed is read as the feed it was. A page, when
the run wants full text, is not an article of its own: it is the fetch of
the feed entry link it names (``WARC-Newsbeam-Link``), handed on as an
``ArchivedPage`` to the full-text step, which merges it into that entry as
it would a live fetch (``skipped.warc.archived_page`` counts the record);
the entries of an archived feed are marked so that their pages come from
the archive or not at all.

Files are read in byte ranges by several workers at once
(``transforms.formats.warc_io``); the HTTP exchange of a record is read by
fastwarc (chosen by measurement: ``bench/warc_library_bench.py``), which
also undoes chunked transfer and gzip/deflate/brotli content encoding.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import BinaryIO, Iterator, NamedTuple, Optional, Union

from apache_beam.utils.timestamp import Timestamp
from fastwarc.warc import WarcRecord, WarcRecordType

from schemas import ArchivedPage, RawArticle, RawDocument, RawRecord
from transforms.errors import UnreadableDocument
from transforms.formats.base import Broken, Failure, Format, Match, Outcome, Piece, Ranged, Sample, Skipped, Streamed
from transforms.formats.html_page import page_outcome
from transforms.formats.warc_io import VERSIONS, Read, plan_ranges, read_range, split_stream
from transforms.formats.warc_write import HOP_FIELD, LINK_FIELD, ROLE_FIELD
from transforms.identify import canonical_url
from transforms.select import in_domains
from transforms.text import binary_kind, charset_of, decode_bytes

WARC_EXTENSIONS = (".warc", ".arc")
#: Record types that never hold a page: read past without being shipped to the parser.
BOOKKEEPING = frozenset({"warcinfo", "request", "metadata", "conversion", "continuation"})
#: Content types of pages (a response without one is sniffed).
_HTML_TYPES = ("text/html", "application/xhtml+xml")
#: Bytes of a payload without a Content-Type looked at to tell a page from anything else.
_SNIFF = 1024
#: Range size a WARC file is read in (``--warc-split-mb``): a 1 GB CC-NEWS file is 16 ranges.
RANGE_MB = 64


@dataclass(frozen=True)
class WarcSettings:
    """What a run keeps of an archive (``--warc-split-mb``, ``--warc-domains``, ``--keep-non-articles``)."""

    range_bytes: int = RANGE_MB << 20
    #: Only pages of these registered domains (and their subdomains); empty: every domain.
    domains: frozenset[str] = field(default_factory=frozenset)
    #: Write pages that are not articles (home, tag, gallery pages …) instead of skipping them.
    keep_non_articles: bool = False
    #: The pages of newsbeam's own archives go to the entries they were fetched for (a batch run with full
    #: text on), instead of being read as pages on their own.
    archived_pages: bool = False


def recognise_warc(sample: Sample, named: bool) -> Optional[Match]:
    """A WARC version line first: the format's own signature."""
    return Match.CONTENT if sample.head.startswith(tuple(v.decode().lower() for v in VERSIONS)) else None


def _warc_date(value: Optional[str]) -> Optional[Timestamp]:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Timestamp.from_utc_datetime(moment.astimezone(UTC))


def _is_html(content_type: Optional[str], body: bytes) -> bool:
    if content_type:
        return content_type.split(";")[0].strip().lower() in _HTML_TYPES
    head = body[:_SNIFF]
    if binary_kind(head):
        return False
    lowered = head.lstrip().lower()
    return lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered


class Exchange(NamedTuple):
    """What a page record holds: the page's bytes and what the archive says about fetching it."""

    url: Optional[str]
    fetched_at: Optional[Timestamp]
    status: Optional[int]
    content_type: Optional[str]
    body: bytes
    #: What newsbeam fetched it as, in its own archives (``--warc-out``): ``feed`` or ``page``; None elsewhere.
    role: Optional[str] = None


def read_exchange(
    payload: bytes, domains: frozenset[str] = frozenset(), archived_pages: bool = False
) -> Union[Exchange, ArchivedPage, Skipped]:
    """A record's page (decoded HTTP payload, status, Content-Type), or the rule it is skipped by.

    ``archived_pages``: a page response of newsbeam's own archive that names
    its entry link is that link's fetch (``ArchivedPage``), whatever its
    status or type: a redirect or a 404 is what the fetch got, too.

    Raises UnreadableDocument for a record fastwarc cannot read (a broken
    header, a content encoding that will not decode). A compressed page the
    crawler stored cut short is read as far as it goes, as a browser shows
    it: an article's text comes early in its page.
    """
    try:
        record = WarcRecord.from_bytes(payload)
    except OSError as error:
        raise UnreadableDocument(f"unreadable WARC record: {error}") from error
    kind = record.record_type
    if kind == WarcRecordType.revisit:
        return Skipped("warc.revisit")
    if kind not in (WarcRecordType.response, WarcRecordType.resource):
        return Skipped(f"warc.{(record.headers.get('WARC-Type') or 'unknown').strip().lower()}")
    url = record.headers.get("WARC-Target-URI")
    if url:
        url = url.strip().strip("<>")  # WARC 1.0 wrote the URI in angle brackets
    fetched_at = _warc_date(record.headers.get("WARC-Date"))
    link = record.headers.get(LINK_FIELD)
    if archived_pages and link and record.headers.get(ROLE_FIELD) == "page" and kind == WarcRecordType.response:
        return _archived_page(record, link.strip(), url, fetched_at)
    if not in_domains(url, domains):
        return Skipped("domain")
    status: Optional[int] = None
    if kind == WarcRecordType.response and record.is_http:
        _parse_http(record)
        status = record.http_headers.status_code
        content_type = record.http_headers.get("Content-Type")
        if status is not None and 300 <= status < 400:
            return Skipped("warc.redirect")
        if status is not None and (status >= 400 or status < 200):
            return Skipped("warc.http_error")
    elif kind == WarcRecordType.response:
        return Skipped("warc.non_http")  # a DNS or FTP response: no page
    else:
        content_type = record.headers.get("Content-Type")
    body = _payload(record)
    if not body:
        return Skipped("warc.empty")
    role = record.headers.get(ROLE_FIELD)
    if role == "feed":  # a feed newsbeam fetched (--warc-out): read as the feed it was
        return Exchange(url, fetched_at, status, content_type, body, role)
    if not _is_html(content_type, body):
        return Skipped("warc.non_html")
    return Exchange(url, fetched_at, status, content_type, body, role)


def _parse_http(record: WarcRecord) -> None:
    """The record's HTTP message read, its content and transfer encodings to be undone as its payload is read."""
    try:
        record.parse_http(auto_decode="all")
    except (OSError, ValueError) as error:
        raise UnreadableDocument(f"unreadable HTTP response in a WARC record: {error}") from error


def _payload(record: WarcRecord) -> bytes:
    try:
        return record.reader.read() if record.reader is not None else b""
    except OSError as error:
        raise UnreadableDocument(f"WARC record payload will not decode: {error}") from error


def _archived_page(record: WarcRecord, link: str, url: Optional[str], fetched_at: Optional[Timestamp]) -> ArchivedPage:
    """One response of a page fetch newsbeam archived, as the fetch got it (its body decoded)."""
    if not record.is_http:
        raise UnreadableDocument("a page response of a newsbeam archive without its HTTP message")
    _parse_http(record)
    body = _payload(record)
    try:
        hop = int(record.headers.get(HOP_FIELD) or 0)
    except ValueError as error:
        raise UnreadableDocument(f"{HOP_FIELD} is not a number: {record.headers.get(HOP_FIELD)!r}") from error
    headers = record.http_headers
    return ArchivedPage("response", link, hop, url, headers.status_code, headers.get("Content-Type"), body, fetched_at)


def page_outcomes(settings: WarcSettings, record: RawRecord) -> Iterator[Outcome]:
    """A WARC record's outcome: an article from its page, an archived page fetch, or the rule that skips it."""
    read = read_exchange(record.payload, settings.domains, settings.archived_pages)
    if isinstance(read, (Skipped, ArchivedPage)):
        yield read
        return
    fetched_at = read.fetched_at or record.fetched_at
    if read.role == "feed" and read.url:
        # Parsed as when it was fetched: a document of its feed URL, which must be a feed.
        from transforms.parse import iter_document  # parse imports the formats: no import at load

        _, outcomes = iter_document(RawDocument(read.url, "http", read.body, fetched_at, read.content_type, None))
        for outcome in outcomes:
            # The link an entry has once enriched (``Article.url``): the key its archived page has.
            link = canonical_url(outcome.url) if settings.archived_pages and isinstance(outcome, RawArticle) else None
            if link:
                yield ArchivedPage("entry", link)
            yield outcome
        return
    document = RawDocument(record.source, "warc", read.body, fetched_at, read.content_type, record.parent)
    decoded = decode_bytes(read.body, charset_of(read.content_type))
    yield from page_outcome(
        document,
        decoded,
        url=read.url,
        status=read.status,
        keep_non_articles=settings.keep_non_articles,
    )


def parse_warc(settings: WarcSettings, document: RawDocument, decoded: object) -> Iterator[Outcome]:
    """A WARC held whole (fetched, or named in a feed list): each record as the range reader would read it."""
    for read in split_stream(io.BytesIO(document.payload), len(document.payload) + 1, 0, BOOKKEEPING):
        if isinstance(read, Skipped):
            yield read
        elif isinstance(read, Broken):
            yield Failure(read.error, None)
        else:
            record = RawRecord(document.source, "warc", 0, read.position, read.payload, document.fetched_at, None)
            try:
                yield from page_outcomes(settings, record)
            except Exception as error:  # noqa: BLE001 - one record's failure; the document goes on
                yield Failure(error, None)


def split_warc(stream: BinaryIO, limit: int) -> Iterator[Union[Piece, Failure, Skipped]]:
    """``Streamed.split`` for a decompressed WARC stream (files are read by ``read_warc_range`` instead)."""
    for read in split_stream(stream, limit, 0, BOOKKEEPING):
        yield Failure(read.error, None) if isinstance(read, Broken) else read


def plan_warc(settings: WarcSettings, raw: BinaryIO, size: int) -> list[tuple[int, int]]:
    return plan_ranges(raw, size, settings.range_bytes)


def read_warc_range(raw: BinaryIO, start: int, end: int, size: int, limit: int) -> Iterator[Read]:
    return read_range(raw, start, end, size, limit, BOOKKEEPING)


def warc_format(settings: WarcSettings = WarcSettings()) -> Format:
    """The WARC format as a run's settings configure it (``FORMATS`` holds the defaults).

    Bound with ``functools.partial`` (not closures): a format travels to
    Dataflow and Dask workers inside the DoFns that hold it.
    """
    return Format(
        name="warc",
        recognise=recognise_warc,
        parse=partial(parse_warc, settings),
        described="a WARC file",
        extensions=WARC_EXTENSIONS,
        streamed=Streamed(split=split_warc, parse=partial(page_outcomes, settings), whole_when_it_fits=False),
        ranged=Ranged(plan=partial(plan_warc, settings), read=read_warc_range),
        magic=VERSIONS,
    )


WARC = warc_format()
