"""Writing WARC files: what newsbeam fetched, as request and response records a crawler would have kept.

A careful pipeline keeps what it fetched (``--warc-out``): pages archived as
WARC can be extracted again later, by a better extractor, without fetching
them again, and show what a page said on the day. The records are WARC 1.1
(ISO 28500:2017), one gzip member each (the standard's annex D, as CC-NEWS),
so the files split for parallel reading like any crawl's
(``transforms.formats.warc_io``).

A response is stored as it came: status line, the server's headers in their
order, the payload with its content encoding (gzip stays gzip). The transfer
encoding is framing the HTTP client already undid, so its header is renamed
``X-Crawler-Transfer-Encoding`` and ``Content-Length`` gives the stored
payload (Common Crawl's convention, which WARC readers follow). Each record
carries ``WARC-IP-Address`` (the address the connection reached),
``WARC-Date`` (when the response came), its digests, and the extension field
``WARC-Newsbeam-Role`` (``feed`` or ``page``): what newsbeam fetched it as.

The format is small enough to write here; it is read back in the tests by
warcio, another tool than our reader.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import uuid
from datetime import UTC
from typing import Iterable, Optional
from urllib.parse import urlsplit

from apache_beam.utils.timestamp import Timestamp

from schemas import HttpExchange

VERSION = b"WARC/1.1"
#: The extension field naming what newsbeam fetched a response as.
ROLE_FIELD = "WARC-Newsbeam-Role"
#: A page response's feed entry link (the URL its fetch started from), and its place in that fetch's redirects.
LINK_FIELD = "WARC-Newsbeam-Link"
HOP_FIELD = "WARC-Newsbeam-Hop"
_HOP_BY_HOP = {"transfer-encoding"}


def warc_date(moment: Timestamp) -> str:
    """``WARC-Date``: UTC, to the microsecond WARC 1.1 allows."""
    return moment.to_utc_datetime(has_tz=True).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_id(*parts: str) -> str:
    """A record id that the same exchange always gets (a re-written archive compares equal)."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ' '.join(parts))}>"


def digest(data: bytes) -> str:
    """``sha1:`` and the base-32 SHA-1, as crawlers write ``WARC-Block-Digest`` and ``WARC-Payload-Digest``."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def _clean(value: str) -> str:
    """A header value on one line: a CR or LF inside would end the header and let the value forge fields."""
    return value.replace("\r", " ").replace("\n", " ")


def record(fields: Iterable[tuple[str, str]], block: bytes) -> bytes:
    """One WARC record, uncompressed: version line, fields, ``Content-Length``, the block, two CRLFs."""
    lines = [VERSION]
    lines += [f"{name}: {_clean(value)}".encode() for name, value in fields]
    lines.append(b"Content-Length: %d" % len(block))
    return b"\r\n".join(lines) + b"\r\n\r\n" + block + b"\r\n\r\n"


def member(data: bytes) -> bytes:
    """A record as its own gzip member (no time in its header: the same record, the same bytes)."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def warcinfo(filename: str, run_id: str, software: str, created: Timestamp) -> bytes:
    """The ``warcinfo`` record a file starts with: who wrote it, in which run."""
    block = (
        f"software: {software}\r\nformat: WARC File Format 1.1\r\n"
        f"conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n"
        f"isPartOf: {run_id}\r\n"
    ).encode()
    fields = [
        ("WARC-Type", "warcinfo"),
        ("WARC-Record-ID", record_id("warcinfo", filename, run_id)),
        ("WARC-Date", warc_date(created)),
        ("WARC-Filename", filename),
        ("Content-Type", "application/warc-fields"),
    ]
    return record(fields, block)


def request_block(exchange: HttpExchange) -> bytes:
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{exchange.method} {target} {exchange.http_version}"]
    names = {name.lower() for name, _ in exchange.request_headers}
    if "host" not in names:
        lines.append(f"Host: {parts.netloc}")
    lines += [f"{name}: {_clean(value)}" for name, value in exchange.request_headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def response_block(exchange: HttpExchange) -> tuple[bytes, bytes]:
    """The response as stored (status line, headers, payload) and its payload."""
    lines = [f"{exchange.http_version} {exchange.status} {exchange.reason}".rstrip()]
    for name, value in exchange.response_headers:
        lowered = name.lower()
        if lowered == "content-length":
            continue  # replaced by the length of what is stored
        if lowered in _HOP_BY_HOP:
            name = f"X-Crawler-{name}"
        lines.append(f"{name}: {_clean(value)}")
    lines.append(f"Content-Length: {len(exchange.body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head + exchange.body, exchange.body


def exchange_records(exchange: HttpExchange, warcinfo_id: Optional[str] = None) -> tuple[bytes, bytes]:
    """The request and response records of one exchange, uncompressed (``member`` each to write them)."""
    date = warc_date(exchange.fetched_at)
    request_id = record_id("request", exchange.url, date)
    response_id = record_id("response", exchange.url, date)
    common = [("WARC-Target-URI", exchange.url), ("WARC-Date", date)]
    if exchange.ip:
        common.append(("WARC-IP-Address", exchange.ip))
    if warcinfo_id:
        common.append(("WARC-Warcinfo-ID", warcinfo_id))
    sent = request_block(exchange)
    request = record(
        [
            ("WARC-Type", "request"),
            ("WARC-Record-ID", request_id),
            *common,
            ("WARC-Concurrent-To", response_id),
            ("Content-Type", "application/http;msgtype=request"),
            ("WARC-Block-Digest", digest(sent)),
        ],
        sent,
    )
    block, payload = response_block(exchange)
    fetched_for = [(LINK_FIELD, exchange.link), (HOP_FIELD, str(exchange.hop))] if exchange.link else []
    response = record(
        [
            ("WARC-Type", "response"),
            ("WARC-Record-ID", response_id),
            *common,
            ("Content-Type", "application/http;msgtype=response"),
            ("WARC-Block-Digest", digest(block)),
            ("WARC-Payload-Digest", digest(payload)),
            (ROLE_FIELD, exchange.role),
            *fetched_for,
        ],
        block,
    )
    return request, response
