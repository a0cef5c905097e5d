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
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apache_beam.utils.timestamp import Timestamp
from feedserver import Response, redirect, rss
from pageserver import PageServer, article_html, html, pdf, robots, story
from support import read_articles_pyarrow, run_summary
from warcio.archiveiterator import ArchiveIterator

from pipeline.output import claim_output
from pipeline.run import run_ingest, run_stream
from schemas import ArchivedPage, HttpExchange
from transforms.fetch.pages import archived_fetch
from transforms.formats.warc import read_exchange
from transforms.formats.warc_io import plan_ranges, read_range
from transforms.formats.warc_write import ROLE_FIELD, digest, exchange_records, member, warcinfo
from transforms.sinks import JOURNAL, STAGING, write_run_marker

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


# --------------------------------------------------------------------------
# Replay with full text on: the archive's pages stand in for the fetches
# --------------------------------------------------------------------------

#: The columns a page fetch decides: a replay must give each article the value the fetching run wrote.
PAGE_COLUMNS = ("article_id", "title", "text", "text_source", "page_url", "page_status", "summary", "language")


def serve_mixed_site(server: PageServer) -> str:
    """A feed whose entries' pages go every way a fetch can: plain, redirected, 404, a PDF, another story's page.

    Dated newest first, so that a budget of five pages leaves out the oldest
    entry (its page is then never fetched, hence never archived).
    """
    server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
    now = datetime(2024, 5, 14, 12, tzinfo=UTC)
    items = []

    def entry(n: int, link: str) -> None:
        item = story(n, "mixed")
        items.append(
            {
                "title": item["title"],
                "link": link,
                "guid": link,
                "description": item["teaser"],
                "pub_date": now - timedelta(hours=n),
            }
        )

    for n in (0, 1):
        item = story(n, "mixed")
        entry(n, server.route(f"/news/{n}", html(article_html(item["title"], item["paragraphs"], "2024-05-14"))))
    item = story(2, "mixed")
    target = server.route("/news/2", html(article_html(item["title"], item["paragraphs"], "2024-05-14")))
    entry(2, server.route("/go/2", redirect(server.url("/moved/2"))))
    server.route("/moved/2", redirect(target, status=302))
    entry(3, server.route("/gone/3", Response(404, {"Content-Type": "text/html"}, b"<html><p>Not here</p></html>")))
    entry(4, server.route("/files/4.pdf", pdf()))
    other = story(99, "elsewhere")
    entry(5, server.route("/wrong/5", html(article_html(other["title"], other["paragraphs"]))))
    item = story(6, "mixed")
    entry(6, server.route("/news/6", html(article_html(item["title"], item["paragraphs"], "2024-05-14"))))
    return server.route("/feed.xml", html(rss(items), {"Content-Type": "application/rss+xml"}))


@pytest.mark.slow
def test_re_reading_an_archive_with_full_text_on_gives_every_page_from_the_archive_and_fetches_nothing(
    tmp_path: Path,
) -> None:
    output, archive = tmp_path / "out", tmp_path / "warc"
    with PageServer() as server:
        feed = serve_mixed_site(server)
        err = io.StringIO()
        args = ["--output", str(output), *COMMON, *FAST, "--warc-out", str(archive), "--max-pages", "6"]
        code = run_ingest([feed], [*args, "--run-id", "fetching"], io.StringIO(), err)
        assert code == 0, err.getvalue()
        fetched = {row["url"]: row for row in read_articles_pyarrow(output)}
        assert len(fetched) == 7
        errors = {url.split("/", 3)[-1]: row["page_error"] for url, row in fetched.items()}
        assert errors == {
            "news/0": None,
            "news/1": None,
            "go/2": None,
            "gone/3": "http_404",
            "files/4.pdf": "not_html",
            "wrong/5": "mismatch",
            "news/6": "budget",
        }
        over_budget = [url for url, row in fetched.items() if row["page_error"] == "budget"]
        assert len(over_budget) == 1 and over_budget[0].endswith("/news/6")
        redirected = next(row for url, row in fetched.items() if url.endswith("/go/2"))
        assert redirected["page_url"].endswith("/news/2") and redirected["text_source"] == "page"

        # The server still answers: the replay must not ask it anything.
        server.reset_log()
        files = sorted(archive.glob("*.warc.gz"))
        again = tmp_path / "again"
        err = io.StringIO()
        code = run_ingest(
            [str(path) for path in files],
            ["--output", str(again), *COMMON, *FAST, "--run-id", "replay"],
            io.StringIO(),
            err,
        )
        assert code == 0, err.getvalue()
        assert server.requests == []

    replayed = {row["url"]: row for row in read_articles_pyarrow(again)}
    assert set(replayed) == set(fetched)
    for url, row in fetched.items():
        for column in PAGE_COLUMNS:
            assert replayed[url][column] == row[column], (url, column)
        expected_error = "not_archived" if row["page_error"] == "budget" else row["page_error"]
        assert replayed[url]["page_error"] == expected_error, url
    summary = run_summary(again, "replay")
    counts = summary["counts"]
    assert counts["reconciled"] and counts["written"] == 7 and counts["duplicates"] == 0
    # Every page response (redirect hops too) was read and counted under its rule, none fetched.
    pages = summary["pages"]
    assert pages["requested"] == 0 and pages["from_archive"] == 6
    assert summary["skipped"]["records"]["warc.archived_page"] == 8  # 6 fetches, 2 of them hops of one redirect


def test_an_archived_fetch_gets_the_verdict_a_live_fetch_would() -> None:
    def response(hop: int, status: int, body: bytes = PAGE, ctype: str = "text/html", at: float = 10.0) -> ArchivedPage:
        url = f"https://a.example/{hop}"
        return ArchivedPage("response", "https://a.example/0", hop, url, status, ctype, body, Timestamp.of(at + hop))

    mark = ArchivedPage("entry", "https://a.example/0")
    assert archived_fetch("https://a.example/0", [mark]) is None
    chain = archived_fetch("https://a.example/0", [response(1, 200, at=10), response(0, 301, b"", at=10), mark])
    assert chain is not None and chain.error is None and chain.body == PAGE
    assert chain.final_url == "https://a.example/1" and chain.status == 200
    assert chain.fetched_at is not None and chain.fetched_at.timestamp() == 11.0
    assert archived_fetch("x", [response(0, 404, b"")]).error == "http_404"
    assert archived_fetch("x", [response(0, 500, b"")]).error == "http_500"
    assert archived_fetch("x", [response(0, 301, b"")]).error == "too_many_redirects"
    assert archived_fetch("x", [response(0, 304, b"")]).not_modified
    assert archived_fetch("x", [response(0, 200, b"")]).error == "empty"
    assert archived_fetch("x", [response(0, 200, b"%PDF-1.4 ...", "application/pdf")]).error == "not_html"
    # Two fetches of one link (two runs archived into one folder): the later one counts.
    older, newer = response(0, 404, b"", at=5), response(0, 200, at=50)
    assert archived_fetch("x", [newer, older]).status == 200
    assert archived_fetch("x", [older, newer]).status == 200


def archive_of(path: Path, *exchanges: HttpExchange) -> Path:
    """A WARC.gz of ``exchanges`` as ``--warc-out`` writes them (one gzip member a record)."""
    path.write_bytes(b"".join(member(r) for exchange in exchanges for r in exchange_records(exchange)))
    return path


def page_exchange(url: str, page: str, link: str = "", hop: int = 0, status: int = 200) -> HttpExchange:
    return an_exchange(
        url=url,
        status=status,
        response_headers=[("Content-Type", "text/html; charset=utf-8")],
        body=page.encode(),
        link=link or url,
        hop=hop,
    )


@pytest.mark.slow
def test_a_live_feeds_entry_takes_its_page_from_an_archive_given_as_input(tmp_path: Path) -> None:
    """An archive holding the page an entry links to saves fetching it; the other entry's page is fetched."""
    with PageServer() as server:
        feed = serve_site(server, "half", 2)
        first, second = story(0, "half"), story(1, "half")
        link = server.url("/news/0")
        archived_text = first["paragraphs"] + ["A paragraph only the archived copy of this page has, as it was then."]
        warc = archive_of(tmp_path / "old.warc.gz", page_exchange(link, article_html(first["title"], archived_text)))
        output, err = tmp_path / "out", io.StringIO()
        code = run_ingest([feed, str(warc)], ["--output", str(output), *COMMON, *FAST], io.StringIO(), err)
        assert code == 0, err.getvalue()
        paths, other = server.paths(), server.url("/news/1")
    assert "/news/0" not in paths and "/news/1" in paths
    rows = {row["url"]: row for row in read_articles_pyarrow(output)}
    assert len(rows) == 2 and {row["text_source"] for row in rows.values()} == {"page"}
    assert "only the archived copy" in rows[link]["text"]
    assert second["paragraphs"][0] in rows[other]["text"]
    summary = json_summary(output)
    assert summary["pages"]["from_archive"] == 1 and summary["pages"]["requested"] == 1
    assert summary["counts"]["reconciled"]


@pytest.mark.slow
def test_archived_pages_without_their_feed_are_counted_and_read_as_pages_with_full_text_off(tmp_path: Path) -> None:
    item = story(3, "orphan")
    page = article_html(item["title"], item["paragraphs"], "2024-05-14T08:00:00Z")
    link = "https://news.example.org/go/3"
    warc = archive_of(
        tmp_path / "pages.warc.gz",
        an_exchange(url=link, status=301, response_headers=[("Location", "/story/3")], body=b"", link=link, hop=0),
        page_exchange("https://news.example.org/story/3", page, link=link, hop=1),
    )
    out, err = io.StringIO(), io.StringIO()
    on = tmp_path / "on"
    assert run_ingest([str(warc)], ["--output", str(on), *COMMON], out, err) == 0, err.getvalue()
    summary = json_summary(on)
    assert summary["counts"]["written"] == 0 and summary["counts"]["reconciled"]
    assert summary["skipped"]["records"]["warc.archived_page"] == 2
    assert summary["pages"]["archived_unclaimed"] == 1
    assert "--full-text off reads them as pages of their own" in out.getvalue()

    off = tmp_path / "off"
    assert run_ingest([str(warc)], ["--output", str(off), *COMMON, "--full-text", "off"], out, err) == 0
    rows = read_articles_pyarrow(off)
    assert [row["url"] for row in rows] == ["https://news.example.org/story/3"]
    assert item["paragraphs"][0] in rows[0]["text"]
    assert json_summary(off)["skipped"]["records"]["warc.redirect"] == 1


def json_summary(output: Path) -> dict[str, Any]:
    (path,) = (output / "runs").glob("*.json")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------
# A dead run's staged archive files
# --------------------------------------------------------------------------


def dead_run(output: Path, archive: Path, run_id: str, journal: bool) -> Path:
    """What a run killed with ``--warc-out`` leaves: its marker (a pid no longer alive) and staged WARC files."""
    staged = archive / STAGING / run_id / "newsbeam-0.warc.gz"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(member(warcinfo("newsbeam-0.warc.gz", run_id, "newsbeam", Timestamp.of(0))))
    marker = {"run_id": run_id, "host": socket.gethostname(), "pid": 2**22 + 17, "warc_out": str(archive)}
    write_run_marker(str(output), run_id, marker)
    if journal:  # it died while publishing: its journal lists the archive file's move too
        final = archive / "newsbeam-0.warc.gz"
        (output / STAGING / run_id / JOURNAL).write_text(json.dumps({"moves": [[str(staged), str(final)]]}))
    return staged


def test_the_next_run_clears_what_a_run_that_died_before_publishing_staged_in_its_archive(tmp_path: Path) -> None:
    output, archive = tmp_path / "out", tmp_path / "warc"
    dead_run(output, archive, "killed", journal=False)
    with claim_output(str(output), "next", wait=0, detach=False, command="test", warc_out=str(archive)) as claim:
        notes = claim.notes
    assert any("1 staged web archive file(s)" in note for note in notes), notes
    assert not (archive / STAGING).exists() and list(archive.iterdir()) == []
    assert not (output / STAGING / "killed").exists()


def test_a_run_that_died_while_publishing_has_its_archive_files_moved_into_place(tmp_path: Path) -> None:
    output, archive = tmp_path / "out", tmp_path / "warc"
    dead_run(output, archive, "killed", journal=True)
    with claim_output(str(output), "next", wait=0, detach=False, command="test") as claim:
        notes = claim.notes
    assert any("died while publishing" in note for note in notes), notes
    assert [path.name for path in archive.iterdir()] == ["newsbeam-0.warc.gz"]  # published, staging gone
    assert list(ArchiveIterator((archive / "newsbeam-0.warc.gz").open("rb")))[0].rec_type == "warcinfo"
