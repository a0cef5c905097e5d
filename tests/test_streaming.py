"""Streaming mode (issue 5) as a whole: ``newsbeam stream`` end to end, and the tick server.

Its parts are tested beside their batch twins: ``DeduplicateContinuously``
in tests/test_identify_transform.py, ``WriteWindowedParquet`` and
``ParquetSink`` in tests/test_sinks_transform.py, event time and the window
report in tests/test_windows.py, the polls in tests/test_fetch*.py.

* End to end through ``run_stream`` against feeds on a real HTTP server on
  127.0.0.1 (tests/feedserver.py), the output read back with pyarrow and
  DuckDB. The run summary's counts are not asserted on here (the local
  streaming runner's metrics are incomplete): the Parquet data and the
  server's request log are the evidence.
* ``TickServer`` alone: the real-time tick events it feeds the ``TestStream``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import apache_beam as beam
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that
from feedserver import FeedServer, Mutable, Request, Response, entry, mutable, opml, rss, static
from stream_support import (
    FILE_NAME,
    assert_every_file_reads,
    collected,
    collector,
    duckdb_rows,
    streaming_pipeline,
    written_files,
)
from support import matcher

from pipeline.run import run_ingest, run_stream
from pipeline.stream import _TICK_CODER, DRAIN, POLL, TickServer
from pipeline.summary import stream_counts

COMMON = [
    "--runner",
    "DirectRunner",
    "--entities",
    "off",
    "--allow-private-hosts",
    "--per-host-delay",
    "0",
    "--fetch-retries",
    "0",
]


def assert_no_staging_left(output: Path) -> None:
    staging = output / "_staging"
    left = [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []
    assert not left, f"files left in _staging: {left}"


# --------------------------------------------------------------------------
# End to end: newsbeam stream against a real HTTP server
# --------------------------------------------------------------------------


class Recording:
    """Wraps a responder and keeps (If-None-Match sent, status answered) for every request."""

    def __init__(self, responder: Callable[[Request], Any]):
        self.responder = responder
        self._lock = threading.Lock()
        self._log: list[tuple[Optional[str], int]] = []

    def __call__(self, request: Request) -> Any:
        response = self.responder(request)
        with self._lock:
            self._log.append((request.headers.get("if-none-match"), response.status))
        return response

    @property
    def log(self) -> list[tuple[Optional[str], int]]:
        with self._lock:
            return list(self._log)


@dataclass
class StreamRun:
    server: FeedServer
    output: Path
    urls: dict[str, str]
    recorders: dict[str, Recording]
    items: dict[str, list[dict[str, Any]]]
    code: int
    out: str
    err: str
    elapsed: float
    swapped: dict[str, Any] = field(default_factory=dict)


def stream(
    inputs: list[str], output: Path, run_id: str, *options: str, until: Optional[Callable[[], bool]] = None
) -> tuple[int, str, str, float]:
    """``run_stream`` in this process; with ``until``, stopped by Ctrl-C (SIGINT) as soon as ``until()`` holds.

    Stopping on what the server saw, not after a fixed time, keeps a test
    independent of how fast a loaded machine runs the pipeline: a stop lets
    requests in flight finish (``STOP_CUT_AFTER``) and writes everything
    fetched before it, so the condition is all a test needs. ``--stop-after``
    (given in ``options``) is only the upper bound.
    """
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    finished = threading.Event()
    watcher = None
    if until is not None:
        watcher = threading.Thread(target=_interrupt_when, args=(until, finished), daemon=True)
        watcher.start()
    try:
        code = run_stream(inputs, ["--output", str(output), *COMMON, "--run-id", run_id, *options], out, err)
    finally:
        finished.set()
        if watcher is not None:
            watcher.join(timeout=5)
    return code, out.getvalue(), err.getvalue(), time.monotonic() - started


def _interrupt_when(condition: Callable[[], bool], finished: threading.Event) -> None:
    """Ctrl-C for this process once ``condition()`` holds (run_stream's handler turns it into a clean stop).

    Conditions are on requests a server saw: none comes once the stream is
    stopping, so a condition cannot first hold after ``run_stream`` returned.
    """
    while not finished.is_set():
        if condition():
            if not finished.is_set():
                os.kill(os.getpid(), signal.SIGINT)
            return
        finished.wait(0.05)


HTML = b"<!DOCTYPE html><html><head><title>Moved</title></head><body><p>Our feed moved.</p></body></html>"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamRun]:
    """One stream over a feed that grows mid-run, a feed that never changes, a second feed repeating two of its
    entries, and a URL serving HTML instead of a feed."""
    output = tmp_path_factory.mktemp("stream") / "out"
    old = [entry(n, "grow") for n in range(3)]
    steady = [entry(n, "steady") for n in range(4)]
    with FeedServer() as server:
        growing: Mutable = mutable(static(rss(old), etag='"g1"'))
        recorders = {
            "grow": Recording(growing),
            "steady": Recording(static(rss(steady), etag='"s1"')),
            "mirror": Recording(static(rss(steady[:2], title="Mirror"), etag='"m1"')),
            "broken": Recording(static(HTML, content_type="text/html; charset=utf-8")),
        }
        urls = {
            "grow": server.route("/grow.xml", recorders["grow"]),
            "steady": server.route("/steady.xml", recorders["steady"]),
            "mirror": server.route("/mirror.xml", recorders["mirror"]),
            "broken": server.route("/broken.html", recorders["broken"]),
        }
        swapped: dict[str, Any] = {}

        def grow_later() -> None:
            deadline = time.monotonic() + 60
            while not server.requests_for("/grow.xml") and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.5)
            now = datetime.now(UTC).replace(microsecond=0)
            # Two new entries dated in the recent past (plausible: their own event time, in windows
            # that closed long before they were seen: late data), one dated 2024 (→ poll time).
            fresh = [entry(n, "grow") for n in range(3, 6)]
            fresh[0]["pub_date"] = now - timedelta(seconds=40)
            fresh[1]["pub_date"] = now - timedelta(seconds=25)
            swapped["items"] = fresh
            swapped["at"] = time.monotonic()
            growing.set(static(rss(old + fresh), etag='"g2"'))  # the old entries stay: repeats

        def enough() -> bool:
            """The grown feed fetched after the change and polled again, every feed polled three times."""
            if "at" not in swapped:
                return False
            after = [r for r in server.requests_for("/grow.xml") if r.time > swapped["at"]]
            polled = [server.requests_for(p) for p in ("/grow.xml", "/steady.xml", "/mirror.xml", "/broken.html")]
            return len(after) >= 2 and all(len(requests) >= 3 for requests in polled)

        grower = threading.Thread(target=grow_later, daemon=True)
        grower.start()
        code, out, err, elapsed = stream(
            [urls["grow"], urls["steady"], urls["mirror"], urls["broken"]],
            output,
            "first",
            "--poll-interval",
            "0.5",
            "--window",
            "1",
            "--stop-after",
            "120",
            until=enough,
        )
        grower.join(timeout=5)
        yield StreamRun(
            server,
            output,
            urls,
            recorders,
            {"grow": old + swapped.get("items", []), "steady": steady},
            code,
            out,
            err,
            elapsed,
            swapped,
        )


@pytest.mark.slow
def test_stream_exits_zero_and_every_file_reads(first_run: StreamRun) -> None:
    assert first_run.code == 0, first_run.err
    assert first_run.swapped.get("items"), "the growing feed was never changed during the run"
    files = assert_every_file_reads(first_run.output)
    tables = {p.relative_to(first_run.output).parts[0] for p in files}
    assert {"articles", "dead_letter"} <= tables
    for path in files:
        assert FILE_NAME.match(path.name), path.name
        assert "=" in path.parent.name  # Hive partition folder
    assert_no_staging_left(first_run.output)
    assert first_run.server.errors == []


@pytest.mark.slow
def test_stream_writes_every_entry_exactly_once(first_run: StreamRun) -> None:
    output = first_run.output
    expected_urls = sorted(e["link"] for items in first_run.items.values() for e in items)
    assert len(expected_urls) == 10
    rows = duckdb_rows(output / "articles", "url, article_id, source, published_at, published_date")
    assert sorted(r[0] for r in rows) == expected_urls  # old and new, both feeds; nothing twice
    ((total, distinct),) = duckdb.sql(
        f"SELECT count(*), count(DISTINCT article_id) FROM read_parquet('{output / 'articles' / '**' / '*.parquet'}')"
    ).fetchall()
    assert total == distinct == 10
    by_url = {r[0]: r for r in rows}
    for name, sources in (("grow", {"grow"}), ("steady", {"steady", "mirror"})):  # the mirror repeats steady's
        for item in first_run.items[name]:
            row = by_url[item["link"]]
            assert row[2] in {first_run.urls[source] for source in sources}
            assert row[4] == item["pub_date"].date()  # partition = publication date
    pyarrow_rows = ds.dataset(str(output / "articles"), format="parquet", partitioning="hive").to_table()
    assert sorted(pyarrow_rows.column("url").to_pylist()) == expected_urls


@pytest.mark.slow
def test_stream_recent_entries_land_in_their_own_windows(first_run: StreamRun) -> None:
    """Entries published seconds before a poll are windowed by publication time (late data), not lost."""
    fresh = first_run.swapped["items"][:2]
    for item in fresh:
        files = [p for p in written_files(first_run.output / "articles") if item["link"] in _urls_in(p)]
        assert len(files) == 1, (item["link"], files)
        match = FILE_NAME.match(files[0].name)
        assert match and match["window"] == item["pub_date"].strftime("%Y%m%dT%H%M%S"), files[0].name
        assert files[0].parent.name == f"published_date={item['pub_date']:%Y-%m-%d}"


def _urls_in(path: Path) -> list[str]:
    return pq.read_table(path, columns=["url"]).column("url").to_pylist()


@pytest.mark.slow
def test_stream_failing_feed_dead_letters_once_per_poll(first_run: StreamRun) -> None:
    rows = duckdb_rows(
        first_run.output / "dead_letter", "stage, error_type, message, source, raw_bytes, run_id, ingest_date"
    )
    polled = first_run.server.requests_for("/broken.html")
    assert len(polled) >= 3
    broken = [r for r in rows if r[3] == first_run.urls["broken"]]
    assert len(broken) == len(polled), (len(broken), len(polled))
    assert len(rows) == len(broken)  # the good feeds dead-letter nothing
    for stage, error_type, message, _source, raw_bytes, run_id, ingest_date in broken:
        assert (stage, error_type, run_id) == ("parse", "FeedError", "first")
        assert "HTML" in message
        assert bytes(raw_bytes) == HTML
        assert ingest_date == datetime.now(UTC).date() or ingest_date == (datetime.now(UTC) - timedelta(days=1)).date()


@pytest.mark.slow
def test_stream_polls_are_conditional_and_unchanged_feeds_get_304(first_run: StreamRun) -> None:
    server = first_run.server
    for path in ("/grow.xml", "/steady.xml", "/mirror.xml", "/broken.html"):
        assert len(server.requests_for(path)) >= 3, (path, len(server.requests_for(path)))
    for name, etag in (("steady", '"s1"'), ("mirror", '"m1"')):
        log = first_run.recorders[name].log
        assert log[0] == (None, 200)
        assert log[1:] and all(item == (etag, 304) for item in log[1:]), (name, log)

    grow = first_run.recorders["grow"].log
    assert grow[0] == (None, 200)
    assert all(sent is not None for sent, _ in grow[1:]), grow
    changed = [i for i, (sent, status) in enumerate(grow) if sent == '"g1"' and status == 200]
    assert len(changed) == 1, grow  # the poll after the change fetched it in full, once
    assert all(status == 304 for sent, status in grow[changed[0] + 1 :]), grow
    assert all(sent == '"g2"' for sent, _ in grow[changed[0] + 1 :]), grow
    assert all(status == 304 for sent, status in grow[1 : changed[0]]), grow

    assert all(sent is None and status == 200 for sent, status in first_run.recorders["broken"].log)


@pytest.mark.slow
def test_second_stream_into_the_same_output_writes_nothing_again(first_run: StreamRun, tmp_path: Path) -> None:
    output = tmp_path / "out"
    shutil.copytree(first_run.output, output)
    before = sorted(r[0] for r in duckdb_rows(output / "articles", "article_id"))
    polls_before = len(first_run.server.requests_for("/grow.xml"))
    # A feed never polled before (so fetched in full whatever state a run keeps) with every entry written so far:
    # only the ids read from articles/ at start keep them out.
    everything = first_run.items["grow"] + first_run.items["steady"]
    copy = Recording(static(rss(everything, title="Everything"), etag='"c1"'))
    copy_url = first_run.server.route("/everything.xml", copy)
    broken_before = len(first_run.server.requests_for("/broken.html"))
    code, _, err, _ = stream(
        [first_run.urls["grow"], first_run.urls["steady"], copy_url, first_run.urls["broken"]],
        output,
        "second",
        "--poll-interval",
        "0.5",
        "--window",
        "1",
        "--stop-after",
        "120",
        until=lambda: (
            bool(copy.log)
            and len(first_run.server.requests_for("/grow.xml")) > polls_before
            and len(first_run.server.requests_for("/broken.html")) > broken_before
        ),
    )
    assert code == 0, err
    assert len(first_run.server.requests_for("/grow.xml")) > polls_before
    assert copy.log and copy.log[0] == (None, 200)  # every old entry was parsed again in this run
    assert not [p for p in written_files(output / "articles") if "part-second-" in p.name]
    assert sorted(r[0] for r in duckdb_rows(output / "articles", "article_id")) == before
    assert [p for p in written_files(output / "dead_letter") if "part-second-" in p.name]  # it did write
    assert_every_file_reads(output)
    assert_no_staging_left(output)


@pytest.mark.slow
def test_stream_local_opml_list_as_input_and_its_edits(tmp_path: Path) -> None:
    """A local OPML file's feeds are polled; a feed added to the file mid-run is polled from the next tick on."""
    one = [entry(n, "opml-one") for n in range(3)]
    two = [entry(n, "opml-two") for n in range(2)]
    three = [entry(n, "opml-three") for n in range(2)]
    subscriptions = tmp_path / "feeds.opml"
    output = tmp_path / "out"
    with FeedServer() as server:
        urls = [
            server.route("/one.xml", static(rss(one), etag='"o1"')),
            server.route("/two.xml", static(rss(two), etag='"o2"')),
            server.route("/three.xml", static(rss(three), etag='"o3"')),
        ]
        subscriptions.write_bytes(opml(urls[:2]))

        def add_a_feed() -> None:
            deadline = time.monotonic() + 60
            while not server.requests_for("/one.xml") and time.monotonic() < deadline:
                time.sleep(0.02)
            edited = tmp_path / "feeds.opml.new"
            edited.write_bytes(opml(urls))
            os.replace(edited, subscriptions)

        editor = threading.Thread(target=add_a_feed, daemon=True)
        editor.start()
        code, _, err, _ = stream(
            [str(subscriptions)],
            output,
            "opml",
            "--poll-interval",
            "0.5",
            "--window",
            "1",
            "--stop-after",
            "120",
            until=lambda: len(server.requests_for("/one.xml")) >= 3 and len(server.requests_for("/three.xml")) >= 1,
        )
        editor.join(timeout=5)
        assert code == 0, err
        polled_one = len(server.requests_for("/one.xml"))
        polled_three = len(server.requests_for("/three.xml"))
    assert polled_one >= 3
    assert 1 <= polled_three < polled_one  # not before the edit, then every poll
    assert_every_file_reads(output)
    rows = duckdb_rows(output / "articles", "url, source")
    assert sorted(r[0] for r in rows) == sorted(e["link"] for e in one + two + three)
    assert {r[1] for r in rows} == set(urls)
    assert_no_staging_left(output)


@pytest.mark.slow
def test_stream_backdated_entry_seen_later_does_not_erase_an_earlier_article(tmp_path: Path) -> None:
    moment = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
    first, backdated = entry(0, "backdated"), entry(1, "backdated")
    first["pub_date"] = backdated["pub_date"] = moment  # the same second: the same 1 s window and partition
    output = tmp_path / "out"
    with FeedServer() as server:
        feed: Mutable = mutable(static(rss([first]), etag='"b1"'))
        url = server.route("/late.xml", feed)

        published: dict[str, float] = {}

        def publish_backdated() -> None:
            deadline = time.monotonic() + 60
            while not server.requests_for("/late.xml") and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.0)
            feed.set(static(rss([first, backdated]), etag='"b2"'))
            published["at"] = time.monotonic()

        publisher = threading.Thread(target=publish_backdated, daemon=True)
        publisher.start()
        code, _, err, _ = stream(
            [url],
            output,
            "backdated",
            "--poll-interval",
            "0.5",
            "--window",
            "1",
            "--stop-after",
            "120",
            until=lambda: "at" in published and any(r.time > published["at"] for r in server.requests_for("/late.xml")),
        )
        publisher.join(timeout=5)
    assert code == 0, err
    assert_every_file_reads(output)
    rows = duckdb_rows(output / "articles", "url")
    assert sorted(r[0] for r in rows) == [first["link"], backdated["link"]]


# --------------------------------------------------------------------------
# Refresh hints: a feed that asks for an hour is not polled every tick (issue 11, item 8)
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_stream_honours_refresh_hints_and_counts_the_polls_it_skips(tmp_path: Path) -> None:
    """Cache-Control, <ttl>, a 429's Retry-After, and a hint a batch run recorded: one fetch each, the rest skipped.

    Skipped polls are counted in the window reports, never dead letters,
    failures or health rows; a feed without a hint is polled every tick.
    """
    output = tmp_path / "out"
    ttl_feed = rss([entry(n, "hint-ttl") for n in range(2)]).replace(b"<channel>", b"<channel><ttl>60</ttl>", 1)
    with FeedServer() as server:
        urls = {
            "max_age": server.route(
                "/max-age.xml",
                static(rss([entry(n, "hint-age") for n in range(2)]), headers={"Cache-Control": "max-age=3600"}),
            ),
            "ttl": server.route("/ttl.xml", static(ttl_feed)),
            "limited": server.route("/limited.xml", Response(429, {"Retry-After": "3600"}, b"slow down")),
            "batch": server.route(
                "/batch.xml",
                static(rss([entry(n, "hint-batch") for n in range(2)]), headers={"Cache-Control": "max-age=3600"}),
            ),
            "plain": server.route("/plain.xml", static(rss([entry(n, "hint-plain") for n in range(2)]), etag='"p"')),
        }
        # A nightly batch run fetched one feed and recorded its hint in feed_state/.
        batch_err = io.StringIO()
        assert (
            run_ingest(
                [urls["batch"]], ["--output", str(output), *COMMON, "--run-id", "nightly"], io.StringIO(), batch_err
            )
            == 0
        ), batch_err.getvalue()
        assert len(server.requests_for("/batch.xml")) == 1
        code, out, err, _ = stream(
            list(urls.values()),
            output,
            "hinted",
            "--poll-interval",
            "0.5",
            "--window",
            "1",
            "--stop-after",
            "120",
            until=lambda: len(server.requests_for("/plain.xml")) >= 4,
        )
        assert code == 0, err
        polled = {key: len(server.requests_for(url)) for key, url in urls.items()}
    assert polled["plain"] >= 4
    assert (polled["max_age"], polled["ttl"], polled["limited"]) == (1, 1, 1), polled
    assert polled["batch"] == 1  # the batch run's fetch: the stream honoured the hint it recorded
    summary = json.loads((output / "runs" / "hinted.json").read_text())
    totals = stream_counts(summary["stream"]["windows"])
    assert totals.get("skipped_not_due", 0) >= 4 * (polled["plain"] - 1), totals
    assert totals.get("failed", 0) == 1 and summary["counts"]["reconciled"], totals
    dead = duckdb_rows(output / "dead_letter", "source, stage, error_type")
    assert [d for d in dead if d[0] != urls["batch"]] == [(urls["limited"], "fetch", "RetryableStatus")]
    health = duckdb_rows(output / "feed_health", "url, run_id, error_class")
    rows = Counter(url for url, run_id, _ in health if run_id == "hinted")
    assert (rows[urls["max_age"]], rows[urls["ttl"]], rows[urls["limited"]], rows[urls["batch"]]) == (1, 1, 1, 0)
    assert rows[urls["plain"]] == polled["plain"]
    assert [url for url, run_id, error in health if run_id == "hinted" and error] == [urls["limited"]]


# --------------------------------------------------------------------------
# TickServer
# --------------------------------------------------------------------------


def consume(ticks: TickServer) -> tuple[list[tuple[float, Any, int]], list[int], float]:
    """Reads the events: (seconds since start, decoded element, element micros), watermarks, total seconds."""
    started = time.monotonic()
    elements: list[tuple[float, Any, int]] = []
    watermarks: list[int] = []
    for event in ticks.read_multiple(None):
        if event.HasField("element_event"):
            for element in event.element_event.elements:
                decoded = _TICK_CODER.decode(element.encoded_element)
                elements.append((time.monotonic() - started, decoded, element.timestamp))
        elif event.HasField("watermark_event"):
            watermarks.append(event.watermark_event.new_watermark)
    return elements, watermarks, time.monotonic() - started


@pytest.mark.slow
def test_tick_server_ticks_in_real_time_then_ends() -> None:
    """poll_interval 0.2, stop_after 1.0: a tick about every 0.2 s, then the events end (after ~1 s)."""
    ticks = TickServer(0.2, stop_after=1.0)
    try:
        wall = time.time()
        elements, watermarks, total = consume(ticks)
    finally:
        ticks.close()
    assert 0.95 <= total <= 1.4, total
    *elements, drain = elements
    assert drain[1][0] == DRAIN  # the stream's last tick: every feed's last poll
    offsets = [offset for offset, _, _ in elements]
    assert 4 <= len(elements) <= 6, offsets
    assert offsets[0] < 0.1
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert all(0.1 <= gap <= 0.35 for gap in gaps), gaps
    for _, (kind, seconds), micros in elements:
        assert kind == POLL
        assert abs(seconds * 1e6 - micros) < 2
        assert wall - 0.5 <= seconds <= wall + 2
    assert watermarks == sorted(watermarks)
    assert watermarks[-1] >= drain[2]  # the last tick is behind the watermark: its window can close
    assert ticks.ticks == len(elements)


@pytest.mark.slow
def test_tick_server_stop_ends_the_stream_early() -> None:
    ticks = TickServer(0.2)  # no stop_after: would run forever
    timer = threading.Timer(0.5, ticks.stop)
    timer.start()
    try:
        elements, _, total = consume(ticks)
    finally:
        timer.cancel()
        ticks.close()
    assert 0.45 <= total <= 1.0, total
    assert [kind for _, (kind, _), _ in elements[-1:]] == [DRAIN]
    assert 2 <= len(elements) - 1 <= 4


@pytest.mark.slow
def test_tick_server_stop_wakes_a_long_wait() -> None:
    """With a long poll interval the server is waiting between ticks: stop() must not wait for the next one."""
    ticks = TickServer(60.0, stop_after=120.0)
    timer = threading.Timer(0.3, ticks.stop)
    timer.start()
    try:
        elements, _, total = consume(ticks)
    finally:
        timer.cancel()
        ticks.close()
    assert total < 1.0, total
    assert [kind for _, (kind, _), _ in elements] == [POLL, DRAIN]  # the first tick is immediate, then the drain


@pytest.mark.slow
def test_ticks_as_a_test_stream_source_run_a_pipeline() -> None:
    """The tick server's endpoint drives a real TestStream pipeline, which ends when the ticks stop."""
    ticks = TickServer(0.2, stop_after=1.0).start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            with streaming_pipeline() as p:
                moments = p | TestStream(coder=_TICK_CODER, endpoint=ticks.endpoint) | beam.Map(tuple)
                assert_that(moments, matcher(collector(scratch, "ticks")))
            seen = collected(scratch, "ticks")
    finally:
        ticks.close()
    polls = [tick for tick in seen if tick[0] == POLL]
    assert 4 <= len(polls) <= 6
    assert sorted(kind for kind, _ in seen if kind != POLL) == [DRAIN]
    assert len({moment for _, moment in seen}) == len(seen)
