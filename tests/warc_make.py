"""WARC files for tests, written by warcio: records described in a few fields, laid out as a reader meets them.

Why: the WARC reader (``transforms.formats.warc_io``, ``transforms.formats.warc``)
must be tested on files written by another tool than itself, in the three
layouts archives come in (one gzip member per record as CC-NEWS and the WARC
standard's annex D have them, plain, one gzip stream), with the HTTP exchanges
crawlers store (chunked, gzip-encoded, or decoded the way Common Crawl stores
them). ``write_warc`` writes a list of ``Record`` and says where each starts.

Same records, same bytes: record ids are numbered and dates fixed (warcio
would draw them), and gzip headers carry no time.
"""

from __future__ import annotations

import gzip
import io
import uuid
import zlib
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal, Optional, Union

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

#: How a file is laid out: one gzip member per record, uncompressed, or one gzip stream for the whole file.
Layout = Literal["members", "plain", "stream"]
DATE = "2024-05-14T22:00:00Z"
_REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 500: "Error"}


@dataclass(frozen=True)
class Record:
    """One WARC record to write; the constructors below fill the fields each type needs.

    ``body`` is the HTTP payload as the server meant it (the page's bytes);
    ``gzip``/``chunked`` encode it as it went over the wire, and ``common_crawl``
    stores it decoded instead, the encodings renamed ``X-Crawler-*`` and a
    ``Content-Length`` of what is stored (as CC-NEWS does).
    """

    kind: str
    url: str = ""
    body: bytes = b""
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    gzip: bool = False
    chunked: bool = False
    common_crawl: bool = False
    date: str = DATE
    #: The WARC ``Content-Type`` of a record without HTTP (resource, metadata, warcinfo).
    content_type: Optional[str] = None
    #: The ``WARC-Target-URI`` field as written, when it is not ``url`` (WARC 1.0's ``<url>``).
    target_uri: Optional[str] = None


def warcinfo(software: str = "tests/warc_make.py") -> Record:
    return Record("warcinfo", body=f"software: {software}\r\nformat: WARC File Format 1.0\r\n".encode())


def request(url: str, date: str = DATE) -> Record:
    return Record("request", url, date=date)


def response(
    url: str,
    body: bytes,
    *,
    status: int = 200,
    content_type: Optional[str] = "text/html; charset=utf-8",
    headers: tuple[tuple[str, str], ...] = (),
    gzip: bool = False,
    chunked: bool = False,
    common_crawl: bool = False,
    date: str = DATE,
    target_uri: Optional[str] = None,
) -> Record:
    """An HTTP response; ``content_type`` None leaves the header out (a reader must sniff)."""
    typed = (("Content-Type", content_type),) if content_type is not None else ()
    return Record(
        "response", url, body, status, typed + headers, gzip, chunked, common_crawl, date, target_uri=target_uri
    )


def exchange(url: str, body: bytes, **options: Any) -> list[Record]:
    """A request and its response (``options``: ``response``'s), as a crawler writes them: request first."""
    return [request(url, options.get("date", DATE)), response(url, body, **options)]


def metadata(url: str) -> Record:
    return Record(
        "metadata", url, b"fetchTimeMs: 87\r\ncharset-detected: UTF-8\r\n", content_type="application/warc-fields"
    )


def revisit(url: str, date: str = DATE) -> Record:
    return Record("revisit", url, date=date, headers=(("Content-Type", "text/html"),))


def resource(url: str, body: bytes, content_type: str = "text/html") -> Record:
    return Record("resource", url, body, content_type=content_type)


def _chunked(data: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _http_response(record: Record) -> tuple[StatusAndHeaders, bytes]:
    """The response's status line and headers, and its payload as stored."""
    headers = list(record.headers)
    payload = record.body
    if record.common_crawl:
        if record.gzip:
            headers.append(("X-Crawler-Content-Encoding", "gzip"))
        if record.chunked:
            headers.append(("X-Crawler-Transfer-Encoding", "chunked"))
        headers.append(("Content-Length", str(len(payload))))
    else:
        if record.gzip:
            payload = gzip.compress(payload, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
        if record.chunked:
            payload = _chunked(payload)
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Content-Length", str(len(payload))))
    status = f"{record.status} {_REASONS.get(record.status, 'Status')}"
    return StatusAndHeaders(status, headers, protocol="HTTP/1.1"), payload


def _write(writer: WARCWriter, record: Record, number: int) -> None:
    fields = {"WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=number + 1)}>", "WARC-Date": record.date}
    uri = record.target_uri or record.url
    if record.kind == "response":
        http, payload = _http_response(record)
        built = writer.create_warc_record(
            uri,
            "response",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_headers_dict=fields,
            http_headers=http,
        )
    elif record.kind == "request":
        host = record.url.split("/")[2] if "//" in record.url else ""
        path = "/" + record.url.split("/", 3)[3] if record.url.count("/") >= 3 else "/"
        http = StatusAndHeaders(
            f"GET {path} HTTP/1.1", [("Host", host), ("User-Agent", "warc-make/1")], is_http_request=True
        )
        built = writer.create_warc_record(uri, "request", warc_headers_dict=fields, http_headers=http)
    elif record.kind == "revisit":
        http = StatusAndHeaders("200 OK", list(record.headers), protocol="HTTP/1.1")
        built = writer.create_revisit_record(
            uri, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", uri, record.date, http_headers=http, warc_headers_dict=fields
        )
    else:
        if record.kind == "warcinfo":
            fields["WARC-Filename"] = "test.warc.gz"
        built = writer.create_warc_record(
            uri,
            record.kind,
            payload=io.BytesIO(record.body),
            length=len(record.body),
            warc_content_type=record.content_type or "",
            warc_headers_dict=fields,
        )
    writer.write_record(built)


def warc_bytes(records: list[Record], layout: Layout = "members") -> tuple[bytes, list[int]]:
    """The file's bytes, and each record's offset: in the file, or for ``stream`` in the decompressed stream."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=layout == "members")
    offsets = []
    for number, record in enumerate(records):
        offsets.append(out.tell())
        _write(writer, record, number)
    data = out.getvalue()
    if layout == "stream":
        squeezer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        data = squeezer.compress(data) + squeezer.flush()
    return data, offsets


def write_warc(path: Union[str, PathLike[str]], records: list[Record], layout: Layout = "members") -> list[int]:
    """Writes ``records`` to ``path`` as ``layout`` says; each record's offset (``warc_bytes``)."""
    data, offsets = warc_bytes(records, layout)
    with open(path, "wb") as out:
        out.write(data)
    return offsets
