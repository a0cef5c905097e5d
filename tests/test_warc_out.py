"""``--warc-out``: the run's own web archive, written as WARC and read back by warcio and by ``newsbeam ingest``.

The pure part (``transforms.formats.warc_write``) is checked against warcio,
another tool than our reader: records, digests, the renamed transfer
encoding. The end-to-end part fetches a feed and the pages its entries link
to from a real server on 127.0.0.1, with ``--warc-out``, then ingests the
archive again with nothing serving: the pages come back with the text the
fetching run wrote.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from apache_beam.utils.timestamp import Timestamp
from feedserver import rss
from pageserver import PageServer, article_html, html, robots, story
from support import read_articles_pyarrow, run_summary
from warcio.archiveiterator import ArchiveIterator

from pipeline.run import run_ingest, run_stream
from schemas import HttpExchange
from transforms.formats.warc import read_exchange
from transforms.formats.warc_io import plan_ranges, read_range
from transforms.formats.warc_write import ROLE_FIELD, digest, exchange_records, member, warcinfo

PAGE = b"<!DOCTYPE html><html><head><title>Ferry</title></head><body><p>The ferry runs again.</p></body></html>"


def an_exchange(**changes: Any) -> HttpExchange:
    base = HttpExchange(
        url="https://www.example.org/news/ferry?x=1",
        fetched_at=Timestamp.of(1_715_724_000.123456),
        ip="203.0.113.7",
        method="GET",
        request_headers=[("User-Agent", "newsbeam/test"), ("Accept", "text/html")],
        http_version="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ],
        body=gzip.compress(PAGE, mtime=0),
        role="page",
    )
    return base._replace(**changes)


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def test_an_exchange_is_a_request_and_a_response_warcio_reads() -> None:
    exchange = an_exchange()
    data = member(warcinfo("x.warc.gz", "run-1", "newsbeam/test", Timestamp.of(1_715_724_000))) + b"".join(
        member(r) for r in exchange_records(exchange)
    )
    records, contents = [], []
    for record in ArchiveIterator(io.BytesIO(data)):  # a record's stream is read before the next one
        records.append(record)
        contents.append(record.content_stream().read())
    assert [r.rec_type for r in records] == ["warcinfo", "request", "response"]
    request, response = records[1], records[2]
    for record in (request, response):
        assert record.rec_headers.get_header("WARC-Target-URI") == exchange.url
        assert record.rec_headers.get_header("WARC-IP-Address") == "203.0.113.7"
        assert record.rec_headers.get_header("WARC-Date") == "2024-05-14T22:00:00.123456Z"
    assert request.rec_headers.get_header("WARC-Concurrent-To") == response.rec_headers.get_header("WARC-Record-ID")
    assert request.http_headers.protocol == "GET" and "/news/ferry?x=1" in request.http_headers.statusline
    assert response.http_headers.get_statuscode() == "200"
    cookies = [v for k, v in response.http_headers.headers if k == "Set-Cookie"]
    assert cookies == ["a=1", "b=2"]  # repeated fields kept, in order
    assert response.http_headers.get_header("Transfer-Encoding") is None  # framing undone: renamed
    assert response.http_headers.get_header("X-Crawler-Transfer-Encoding") == "chunked"
    assert response.http_headers.get_header("Content-Length") == str(len(exchange.body))
    assert response.rec_headers.get_header(ROLE_FIELD) == "page"
    assert contents[2] == PAGE  # warcio undoes the gzip content encoding
    assert response.rec_headers.get_header("WARC-Payload-Digest") == sha1_b32(exchange.body)


def test_the_block_digest_is_of_the_block_as_stored() -> None:
    _, response = exchange_records(an_exchange())
    head, _, rest = response.partition(b"\r\n\r\n")
    block = rest[: -len(b"\r\n\r\n")]
    assert digest(block) in head.decode()


def test_a_header_value_cannot_forge_fields() -> None:
    """A server's header with a CR LF inside must not end the header and start a field of ours."""
    exchange = an_exchange(response_headers=[("X-Evil", "a\r\nWARC-Type: metadata"), ("Content-Type", "text/html")])
    records = list(ArchiveIterator(io.BytesIO(b"".join(member(r) for r in exchange_records(exchange)))))
    assert [r.rec_type for r in records] == ["request", "response"]
    assert records[1].http_headers.get_header("X-Evil") == "a  WARC-Type: metadata"


def test_our_reader_reads_our_archive_as_pages_with_their_fetch() -> None:
    exchange = an_exchange()
    data = b"".join(member(r) for r in exchange_records(exchange))
    raw = io.BytesIO(data)
    ((start, end),) = plan_ranges(raw, len(data), 1 << 20)
    pieces = [
        p for p in read_range(raw, start, end, len(data), 1 << 20, frozenset({"request"})) if hasattr(p, "payload")
    ]
    assert len(pieces) == 1
    read = read_exchange(pieces[0].payload)
    assert not hasattr(read, "rule"), read
    assert read.body == PAGE and read.url == exchange.url and read.status == 200 and read.role == "page"


# --------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------

COMMON = ["--runner", "DirectRunner", "--entities", "off", "--clusters", "off", "--progress-seconds", "0"]
FAST = ["--per-host-delay", "0", "--retry-backoff", "0.05", "--fetch-retries", "0", "--allow-private-hosts"]


def serve_site(server: PageServer, prefix: str, count: int) -> str:
    """A feed of ``count`` stories on ``server``, each linking to its article page; the feed's URL."""
    server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
    items = []
    for n in range(count):
        item = story(n, prefix)
        page = article_html(item["title"], item["paragraphs"], "2024-05-14T08:00:00Z")
        link = server.route(f"/news/{n}", html(page))
        items.append({"title": item["title"], "link": link, "guid": link, "description": item["teaser"]})
    return server.route("/feed.xml", html(rss(items), {"Content-Type": "application/rss+xml"}))


@pytest.mark.slow
def test_a_run_archives_what_it_fetched_and_the_archive_gives_its_pages_back_offline(tmp_path: Path) -> None:
    output, archive = tmp_path / "out", tmp_path / "warc"
    with PageServer() as server:
        feed = serve_site(server, "archive", 4)
        err = io.StringIO()
        code = run_ingest(
            [feed],
            ["--output", str(output), *COMMON, *FAST, "--warc-out", str(archive), "--run-id", "fetching"],
            io.StringIO(),
            err,
        )
    assert code == 0, err.getvalue()
    fetched = {row["url"]: row for row in read_articles_pyarrow(output)}
    assert len(fetched) == 4 and {row["text_source"] for row in fetched.values()} == {"page"}

    files = sorted(archive.glob("*.warc.gz"))
    assert files and not (archive / "_staging").exists()  # published, staging gone
    records = [r for path in files for r in ArchiveIterator(path.open("rb"))]
    responses = [r for r in records if r.rec_type == "response"]
    roles = sorted(r.rec_headers.get_header(ROLE_FIELD) for r in responses)
    assert roles.count("feed") == 1 and roles.count("page") == 4
    assert {r.rec_headers.get_header("WARC-IP-Address") for r in responses} == {"127.0.0.1"}
    assert sum(r.rec_type == "request" for r in records) == len(responses)
    assert all(r.rec_headers.get_header("WARC-Date") for r in records)
    summary = run_summary(output, "fetching")
    assert summary["counts"]["reconciled"]

    # The server is gone: the archive alone gives the pages back, with the text the fetching run wrote.
    again = tmp_path / "again"
    err = io.StringIO()
    code = run_ingest(
        [str(path) for path in files],
        ["--output", str(again), *COMMON, "--full-text", "off", "--run-id", "offline"],
        io.StringIO(),
        err,
    )
    assert code == 0, err.getvalue()
    replayed = {row["url"]: row for row in read_articles_pyarrow(again)}
    assert set(replayed) == set(fetched)
    for url, row in fetched.items():
        assert replayed[url]["text"] == row["text"], url
        assert replayed[url]["title"] == row["title"], url
        assert replayed[url]["article_id"] == row["article_id"], url
    offline = run_summary(again, "offline")
    assert offline["counts"]["reconciled"]
    # The feed's entries and the pages they link to are the same articles: the fuller copies are kept.
    assert offline["counts"]["duplicates"] == 4


@pytest.mark.slow
def test_a_stream_archives_each_poll_as_files_that_appear_whole(tmp_path: Path) -> None:
    """``newsbeam stream --warc-out``: every file is moved into the archive when closed; none is left staged."""
    output, archive = tmp_path / "out", tmp_path / "warc"
    with PageServer() as server:
        feed = serve_site(server, "streamed", 3)
        err = io.StringIO()
        args = ["--output", str(output), *COMMON, *FAST, "--warc-out", str(archive), "--run-id", "polled"]
        args += ["--poll-interval", "2", "--window", "2", "--stop-after", "6"]
        code = run_stream([feed], args, io.StringIO(), err)
    assert code == 0, err.getvalue()
    files = sorted(archive.glob("*.warc.gz"))
    assert files
    assert not any((archive / "_staging").rglob("*.warc.gz"))
    responses = [
        r.rec_headers.get_header(ROLE_FIELD)
        for path in files
        for r in ArchiveIterator(path.open("rb"))
        if r.rec_type == "response"
    ]
    assert responses.count("page") == 3  # each page fetched once
    assert responses.count("feed") >= 1  # every poll that got a response
    written = {row["url"] for row in read_articles_pyarrow(output)}
    assert len(written) == 3
