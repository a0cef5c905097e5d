"""``transforms.health``: per-feed health rows, the feed state carried between runs, and their files.

The pure parts (``health_row``, ``next_state``, file naming) are checked
directly; ``FeedHealthTable``, ``WriteFeedState`` and the health table run in
real pipelines, and state and health go through real Parquet files under
``tmp_path``, published the way ``Publish`` does it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Duration, Timestamp
from support import blank_article, matcher, new_pipeline

from schemas import FEED_HEALTH_SCHEMA, DeadLetter, FeedFetch, FeedHealth, FeedOutcome, FeedState
from transforms.health import (
    FEED_HEALTH,
    FEED_STATE,
    KEEP_STATE_FILES,
    FeedHealthTable,
    WriteFeedState,
    _write_state,
    health_partition,
    health_row,
    next_state,
    prune_state,
    read_health,
    read_latest_state,
    state_file_name,
    state_files,
)
from transforms.sinks import STAGING, Publish, WritePartitionedParquet

RUN = "run-health"
URL = "http://feeds.example/news.xml"
NOW = Timestamp.from_utc_datetime(datetime(2024, 4, 2, 6, 0, 0, 123456, tzinfo=UTC))
BEFORE = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 6, 0, tzinfo=UTC))
LONG_AGO = Timestamp.from_utc_datetime(datetime(2024, 3, 1, 6, 0, tzinfo=UTC))


def make_fetch(url: str = URL, **fields: Any) -> FeedFetch:
    """A successful 200 fetch of ``url``; ``fields`` override."""
    base = FeedFetch(
        url=url,
        final_url=url,
        parent="seeds/feeds.opml",
        kind="feed",
        status=np.int32(200),
        error_class=None,
        error_message=None,
        bytes=np.int64(4321),
        not_modified=False,
        attempts=np.int32(1),
        redirects=np.int32(0),
        elapsed_ms=np.int64(87),
        content_type="application/rss+xml; charset=utf-8",
        etag='"new"',
        last_modified="Tue, 02 Apr 2024 05:00:00 GMT",
        fetched_at=NOW,
    )
    return base._replace(**fields)


def failed_fetch(url: str = URL, error_class: str = "RetryableStatus", status: Optional[int] = 503) -> FeedFetch:
    return make_fetch(
        url,
        status=np.int32(status) if status is not None else None,
        error_class=error_class,
        error_message=f"{error_class}: it broke",
        bytes=np.int64(0),
        attempts=np.int32(4),
        content_type=None,
        etag=None,
        last_modified=None,
    )


def not_modified_fetch(url: str = URL, etag: str = '"old"', last_modified: Optional[str] = None) -> FeedFetch:
    """A 304: ``fetch`` carries the validators it sent into the outcome when the 304 has none."""
    return make_fetch(
        url, status=np.int32(304), not_modified=True, bytes=np.int64(0), etag=etag, last_modified=last_modified
    )


def make_state(url: str = URL, **fields: Any) -> FeedState:
    base = FeedState(
        url=url,
        kind="feed",
        etag='"old"',
        last_modified="Mon, 01 Apr 2024 05:00:00 GMT",
        last_status=np.int32(200),
        consecutive_failures=np.int32(0),
        last_attempt_at=BEFORE,
        last_success_at=BEFORE,
        run_id="run-before",
    )
    return base._replace(**fields)


def make_outcome(source: str = URL, entries: int = 5, error_class: Optional[str] = None) -> FeedOutcome:
    message = "expected a feed, got an HTML page (Content-Type: text/html)" if error_class else None
    return FeedOutcome(source=source, entries=np.int32(entries), error_class=error_class, error_message=message)


def dead_letter(source: str, stage: str, error_type: str = "EmptyArticle") -> DeadLetter:
    return DeadLetter(
        stage=stage,
        error_type=error_type,
        message=f"{error_type} at {stage}",
        source=source,
        raw_bytes=None,
        raw_text=source,
        run_id=RUN,
        time=NOW,
    )


# --------------------------------------------------------------------------
# health_row
# --------------------------------------------------------------------------


def test_health_row_of_a_healthy_feed_copies_the_fetch_and_counts() -> None:
    fetch = make_fetch(redirects=np.int32(2), final_url="http://feeds.example/moved.xml")
    row = health_row(RUN, fetch, make_outcome(entries=7), 4, 2, 1, make_state(consecutive_failures=np.int32(3)))
    assert row == FeedHealth(
        run_id=RUN,
        url=URL,
        final_url="http://feeds.example/moved.xml",
        parent="seeds/feeds.opml",
        kind="feed",
        status=200,
        error_class=None,
        error_message=None,
        bytes=4321,
        entries_seen=7,
        new_articles=4,
        duplicates=2,
        dead_lettered=1,
        not_modified=False,
        attempts=1,
        redirects=2,
        elapsed_ms=87,
        consecutive_failures=0,  # a success ends the streak
        content_type="application/rss+xml; charset=utf-8",
        fetched_at=NOW,
    )
    for name in ("entries_seen", "new_articles", "duplicates", "dead_lettered", "consecutive_failures"):
        assert isinstance(getattr(row, name), np.int32), name


def test_health_row_fetch_error_wins_over_the_outcome() -> None:
    row = health_row(RUN, failed_fetch(), make_outcome(entries=0, error_class="FeedError"), 0, 0, 0, None)
    assert row.error_class == "RetryableStatus" and row.error_message == "RetryableStatus: it broke"
    assert row.status == 503 and row.attempts == 4


def test_health_row_parse_error_counts_when_the_fetch_succeeded() -> None:
    row = health_row(RUN, make_fetch(), make_outcome(entries=0, error_class="FeedError"), 0, 0, 1, None)
    assert row.error_class == "FeedError"
    assert row.error_message == "expected a feed, got an HTML page (Content-Type: text/html)"
    assert row.status == 200 and row.dead_lettered == 1 and row.consecutive_failures == 1


@pytest.mark.parametrize(
    ("previous", "expected"),
    [(None, 1), (make_state(consecutive_failures=np.int32(0)), 1), (make_state(consecutive_failures=np.int32(4)), 5)],
)
def test_health_row_failure_streak_grows_from_the_previous_state(previous: Optional[FeedState], expected: int) -> None:
    row = health_row(RUN, failed_fetch(), None, 0, 0, 0, previous)
    assert row.consecutive_failures == expected


def test_health_row_failure_streak_from_a_state_read_back_as_python_ints() -> None:
    previous = make_state(consecutive_failures=6, last_status=500)  # what read_latest_state yields
    row = health_row(RUN, failed_fetch(), None, 0, 0, 0, previous)
    assert row.consecutive_failures == 7 and isinstance(row.consecutive_failures, np.int32)


@pytest.mark.parametrize(
    "fetch",
    [make_fetch(), not_modified_fetch()],
    ids=["200", "304"],
)
def test_health_row_success_or_not_modified_resets_the_streak(fetch: FeedFetch) -> None:
    outcome = None if fetch.not_modified else make_outcome()
    row = health_row(RUN, fetch, outcome, 0, 0, 0, make_state(consecutive_failures=np.int32(9)))
    assert row.error_class is None and row.consecutive_failures == 0


def test_health_row_of_a_304_has_no_entries() -> None:
    row = health_row(RUN, not_modified_fetch(), None, 0, 0, 0, make_state())
    assert row.not_modified and row.status == 304
    assert row.entries_seen == 0 and row.new_articles == 0 and row.bytes == 0


# --------------------------------------------------------------------------
# next_state
# --------------------------------------------------------------------------


def advance(previous: Optional[FeedState], fetch: FeedFetch, outcome: Optional[FeedOutcome] = None) -> FeedState:
    row = health_row(RUN, fetch, outcome, 0, 0, 0, previous)
    return next_state(previous, fetch, row, RUN)


def test_next_state_after_a_success_takes_the_new_validators() -> None:
    state = advance(make_state(consecutive_failures=np.int32(2)), make_fetch(), make_outcome())
    assert state == FeedState(
        url=URL,
        kind="feed",
        etag='"new"',
        last_modified="Tue, 02 Apr 2024 05:00:00 GMT",
        last_status=200,
        consecutive_failures=0,
        last_attempt_at=NOW,
        last_success_at=NOW,
        run_id=RUN,
    )


def test_next_state_after_a_success_without_validators_forgets_the_old_ones() -> None:
    state = advance(make_state(), make_fetch(etag=None, last_modified=None), make_outcome())
    assert state.etag is None and state.last_modified is None


def test_next_state_after_a_304_keeps_the_validators() -> None:
    previous = make_state(consecutive_failures=np.int32(1), last_success_at=LONG_AGO)
    state = advance(previous, not_modified_fetch(etag='"old"', last_modified="Mon, 01 Apr 2024 05:00:00 GMT"))
    assert state.etag == '"old"' and state.last_modified == "Mon, 01 Apr 2024 05:00:00 GMT"
    assert state.last_status == 304 and state.consecutive_failures == 0
    assert state.last_success_at == NOW and state.last_attempt_at == NOW  # a 304 is a success


def test_next_state_after_unusable_content_drops_the_validators() -> None:
    previous = make_state(consecutive_failures=np.int32(1))
    state = advance(previous, make_fetch(), make_outcome(entries=0, error_class="FeedError"))
    assert state.etag is None and state.last_modified is None  # next run fetches in full, the failure stays visible
    assert state.consecutive_failures == 2 and state.last_status == 200
    assert state.last_attempt_at == NOW and state.last_success_at == BEFORE


@pytest.mark.parametrize("error_class", ["RetryableStatus", "FetchTimeout", "ConnectionFailed", "HTTPStatusError"])
def test_next_state_after_a_transport_failure_keeps_the_previous_validators(error_class: str) -> None:
    previous = make_state(consecutive_failures=np.int32(3), last_success_at=LONG_AGO)
    state = advance(previous, failed_fetch(error_class=error_class))
    assert state.etag == '"old"' and state.last_modified == "Mon, 01 Apr 2024 05:00:00 GMT"
    assert state.consecutive_failures == 4 and state.last_status == 503
    assert state.last_attempt_at == NOW and state.last_success_at == LONG_AGO
    assert state.run_id == RUN


def test_next_state_of_a_first_fetch_that_failed() -> None:
    state = advance(None, failed_fetch(error_class="ConnectionFailed", status=None))
    assert state.etag is None and state.last_modified is None and state.last_status is None
    assert state.consecutive_failures == 1 and state.last_success_at is None and state.last_attempt_at == NOW


def test_next_state_of_an_opml_list() -> None:
    state = advance(None, make_fetch(kind="opml", etag='"list"'))
    assert state.kind == "opml" and state.etag == '"list"'


def test_next_state_keeps_the_publishers_refresh_hint_of_this_fetch() -> None:
    later = NOW + Duration(seconds=3600)
    hinted = advance(make_state(), make_fetch(next_fetch_after=later, refresh_hint="<ttl>60</ttl>"), make_outcome())
    assert (hinted.next_fetch_after, hinted.refresh_hint) == (later, "<ttl>60</ttl>")
    # A 429's Retry-After holds the feed back although the fetch failed.
    limited = advance(
        hinted, failed_fetch(status=429)._replace(next_fetch_after=later, refresh_hint="Retry-After: 3600")
    )
    assert limited.next_fetch_after == later and limited.consecutive_failures == 1
    # A fetch that gives no hint clears the old one: what the feed says last holds.
    plain = advance(hinted, make_fetch(), make_outcome())
    assert plain.next_fetch_after is None and plain.refresh_hint is None


# --------------------------------------------------------------------------
# State files
# --------------------------------------------------------------------------


def at(day: int, hour: int = 0, micros: int = 0) -> Timestamp:
    return Timestamp.from_utc_datetime(datetime(2024, 4, day, hour, tzinfo=UTC) + timedelta(microseconds=micros))


def test_state_file_name_format() -> None:
    assert state_file_name(NOW, "run-7") == "state-20240402T060000123456Z-run-7.parquet"


def test_state_file_names_sort_by_time_whatever_the_run_id() -> None:
    moments = [(at(1), "zzz"), (at(1, micros=1), "yyy"), (at(1, 23), "AAA"), (at(2), "9"), (at(11), "0-first")]
    names = [state_file_name(moment, run) for moment, run in moments]
    assert sorted(names) == names
    assert sorted(reversed(names)) == names


def test_state_files_lists_only_state_files_oldest_first(tmp_path: Path) -> None:
    directory = tmp_path / FEED_STATE
    directory.mkdir()
    names = [state_file_name(at(day), run) for day, run in ((3, "b"), (1, "c"), (2, "a"))]
    for name in names:
        (directory / name).write_bytes(b"")
    (directory / "part-0000.parquet").write_bytes(b"")
    (directory / "state-notes.txt").write_bytes(b"")
    listed = [os.path.basename(path) for path in state_files(str(directory))]
    assert listed == sorted(names) == [names[1], names[2], names[0]]


def test_state_files_of_a_missing_directory(tmp_path: Path) -> None:
    assert state_files(str(tmp_path / "nothing" / FEED_STATE)) == []
    assert list(read_latest_state(str(tmp_path / "nothing" / FEED_STATE))) == []


def publish_state(output: Path, states: list[FeedState], run_id: str, ingested_at: Timestamp) -> Optional[str]:
    """``_write_state`` then the move ``Publish`` makes; the published path, None if nothing was written."""
    moves = list(_write_state(None, states, str(output), run_id, ingested_at))
    if not moves:
        return None
    ((staged, final),) = moves
    assert staged.startswith(str(output / STAGING / run_id))
    os.makedirs(os.path.dirname(final), exist_ok=True)
    FileSystems.rename([staged], [final])
    return final


def varied_states() -> list[FeedState]:
    return [
        make_state("http://b.example/feed", consecutive_failures=np.int32(2), last_status=np.int32(503)),
        make_state("http://a.example/feed", kind="opml", etag=None, last_modified=None),
        make_state("http://c.example/feed", last_status=None, last_success_at=None, etag=None),
        make_state(
            "http://d.example/feed",
            last_attempt_at=at(2, micros=123457),  # micro-precise timestamps survive the round trip
            last_success_at=at(1, micros=999999),
            etag='W/"weak ünïcödé"',
        ),
        make_state(
            "http://e.example/feed", next_fetch_after=at(3, micros=5), refresh_hint="Cache-Control: max-age=3600"
        ),
    ]


def test_write_and_read_state_round_trip(tmp_path: Path) -> None:
    states = varied_states()
    final = publish_state(tmp_path, states, "run-a", NOW)
    assert final == str(tmp_path / FEED_STATE / state_file_name(NOW, "run-a"))
    read = dict(read_latest_state(str(tmp_path / FEED_STATE)))
    assert read == {s.url: s for s in states}
    assert list(read) == sorted(read)  # written sorted by URL


def test_nothing_to_remember_writes_no_state_file(tmp_path: Path) -> None:
    assert publish_state(tmp_path, [], "run-empty", NOW) is None
    assert not (tmp_path / STAGING).exists() and not (tmp_path / FEED_STATE).exists()


def test_the_newest_state_file_is_read_whatever_the_write_order(tmp_path: Path) -> None:
    directory = str(tmp_path / FEED_STATE)
    publish_state(tmp_path, [make_state(etag='"newer"')], "run-aaa", at(5))
    time.sleep(0.01)
    publish_state(tmp_path, [make_state(etag='"older"')], "run-zzz", at(4))  # written last, but older
    assert dict(read_latest_state(directory))[URL].etag == '"newer"'


def test_prune_state_keeps_the_newest(tmp_path: Path) -> None:
    directory = str(tmp_path / FEED_STATE)
    for day in range(1, 13):
        publish_state(tmp_path, [make_state(etag=f'"day{day}"', run_id=f"r{day}")], f"r{day}", at(day))
    assert len(state_files(directory)) == 12
    assert prune_state(None, directory) == 12 - KEEP_STATE_FILES
    kept = [os.path.basename(p) for p in state_files(directory)]
    assert kept == [state_file_name(at(day), f"r{day}") for day in range(3, 13)]
    assert dict(read_latest_state(directory))[URL].etag == '"day12"'
    assert prune_state(None, directory) == 0
    assert prune_state(None, directory, keep=3) == 7
    assert dict(read_latest_state(directory))[URL].etag == '"day12"'
    assert prune_state(None, directory, keep=0) == 3
    assert state_files(directory) == [] and list(read_latest_state(directory)) == []


def test_prune_state_of_a_missing_directory(tmp_path: Path) -> None:
    assert prune_state(None, str(tmp_path / FEED_STATE)) == 0


@pytest.mark.slow
def test_write_feed_state_in_a_pipeline_then_publish(tmp_path: Path) -> None:
    states = varied_states()
    output = str(tmp_path)
    pipeline = new_pipeline()
    moves = (
        pipeline
        | "States" >> beam.Create(states).with_output_types(FeedState)
        | "WriteFeedState" >> WriteFeedState(output, "run-p", NOW)
    )

    def check_moves(actual: list[tuple[str, str]]) -> None:
        assert len(actual) == 1
        staged, final = actual[0]
        assert final == str(tmp_path / FEED_STATE / state_file_name(NOW, "run-p"))
        assert f"/{STAGING}/run-p/" in staged

    assert_that(moves, matcher(check_moves), label="CheckMoves")
    published = moves | "Publish" >> Publish(output, "run-p")
    assert_that(published, equal_to([1]), label="OneMove")
    pipeline.run().wait_until_finish()

    assert not (tmp_path / STAGING / "run-p").exists()
    assert dict(read_latest_state(str(tmp_path / FEED_STATE))) == {s.url: s for s in states}


# --------------------------------------------------------------------------
# FeedHealthTable
# --------------------------------------------------------------------------

OK = "http://feeds.example/ok.xml"
DOWN = "http://feeds.example/down.xml"
SAME = "http://feeds.example/same.xml"
HTML = "http://feeds.example/html.xml"
RESTING = "http://feeds.example/resting.xml"
NEW = "http://feeds.example/new.xml"
TWICE = "http://feeds.example/twice.xml"
FILE = "seeds/feeds/local.xml"


@pytest.mark.slow
def test_feed_health_table() -> None:
    fetches = [
        make_fetch(OK, etag='"ok2"'),
        failed_fetch(DOWN),
        not_modified_fetch(SAME, etag='"same1"', last_modified="Sun, 31 Mar 2024 00:00:00 GMT"),
        make_fetch(HTML, content_type="text/html", etag='"html1"'),
        failed_fetch(NEW, error_class="ConnectionFailed", status=None),
        make_fetch(TWICE, fetched_at=BEFORE, parent="round-1"),
        make_fetch(TWICE, fetched_at=NOW, parent="round-2", status=np.int32(203)),
    ]
    outcomes = [
        make_outcome(OK, entries=4),
        make_outcome(HTML, entries=0, error_class="FeedError"),
        make_outcome(TWICE, entries=1),
        make_outcome(FILE, entries=9),  # a local file: no fetch, so no health row
    ]
    written = [blank_article(source=OK, article_id="1"), blank_article(source=OK, article_id="2")]
    written += [blank_article(source=FILE, article_id=f"f{n}") for n in range(5)]
    duplicates = [OK, FILE, FILE]
    dead_letters = [
        dead_letter(OK, "enrich"),
        dead_letter(OK, "identify"),
        dead_letter(HTML, "parse", "FeedError"),
        dead_letter(DOWN, "fetch", "RetryableStatus"),  # the fetch failure itself is no entry of the feed
        dead_letter(NEW, "fetch", "ConnectionFailed"),
        dead_letter(FILE, "read", "UnreadableDocument"),
        dead_letter(FILE, "source", "InputNotFound"),
    ]
    previous = [
        make_state(OK, etag='"ok1"'),
        make_state(DOWN, etag='"down1"', consecutive_failures=np.int32(2), last_success_at=LONG_AGO),
        make_state(SAME, etag='"same1"', consecutive_failures=np.int32(1)),
        make_state(HTML, etag='"html0"'),
        make_state(RESTING, etag='"rest"', consecutive_failures=np.int32(5), run_id="run-long-ago"),
    ]

    def check_health(rows: list[FeedHealth]) -> None:
        by_url = {row.url: row for row in rows}
        assert len(rows) == len(by_url) == 6, sorted(r.url for r in rows)
        assert set(by_url) == {OK, DOWN, SAME, HTML, NEW, TWICE}  # RESTING was not fetched, FILE is no feed
        assert all(row.run_id == RUN for row in rows)
        ok = by_url[OK]
        assert (ok.error_class, ok.entries_seen, ok.new_articles, ok.duplicates, ok.dead_lettered) == (None, 4, 2, 1, 2)
        assert ok.consecutive_failures == 0
        down = by_url[DOWN]
        assert down.error_class == "RetryableStatus" and down.consecutive_failures == 3 and down.dead_lettered == 0
        same = by_url[SAME]
        assert same.not_modified and same.error_class is None and same.consecutive_failures == 0
        assert same.entries_seen == 0
        html = by_url[HTML]
        assert html.error_class == "FeedError" and html.status == 200 and html.dead_lettered == 1
        assert html.consecutive_failures == 1 and html.content_type == "text/html"
        new = by_url[NEW]
        assert new.error_class == "ConnectionFailed" and new.consecutive_failures == 1 and new.status is None
        twice = by_url[TWICE]
        assert twice.parent == "round-1" and twice.fetched_at == BEFORE and twice.status == 200

    def check_state(states: list[FeedState]) -> None:
        by_url = {state.url: state for state in states}
        assert len(states) == len(by_url) == 7
        assert by_url[RESTING] == previous[4]  # not fetched this run: carried over unchanged
        assert by_url[OK].etag == '"ok2"' and by_url[OK].last_success_at == NOW and by_url[OK].run_id == RUN
        assert by_url[DOWN].etag == '"down1"' and by_url[DOWN].consecutive_failures == 3
        assert by_url[DOWN].last_success_at == LONG_AGO and by_url[DOWN].last_attempt_at == NOW
        assert by_url[SAME].etag == '"same1"' and by_url[SAME].consecutive_failures == 0
        assert by_url[SAME].last_status == 304 and by_url[SAME].last_success_at == NOW
        assert by_url[HTML].etag is None and by_url[HTML].last_modified is None
        assert by_url[HTML].last_success_at == BEFORE
        assert by_url[NEW].etag is None and by_url[NEW].last_success_at is None
        assert by_url[NEW].consecutive_failures == 1
        assert by_url[TWICE].last_attempt_at == BEFORE
        assert FILE not in by_url

    pipeline = new_pipeline()
    inputs = {
        "fetches": pipeline | "Fetches" >> beam.Create(fetches).with_output_types(FeedFetch),
        "outcomes": pipeline | "Outcomes" >> beam.Create(outcomes).with_output_types(FeedOutcome),
        "written": pipeline | "Written" >> beam.Create(written),
        "duplicates": pipeline | "Duplicates" >> beam.Create(duplicates),
        "dead_letters": pipeline | "DeadLetters" >> beam.Create(dead_letters).with_output_types(DeadLetter),
        "state": pipeline
        | "State" >> beam.Create([(s.url, s) for s in previous]).with_output_types(tuple[str, FeedState]),
    }
    table = inputs | "FeedHealth" >> FeedHealthTable(RUN)
    assert_that(table["health"], matcher(check_health), label="CheckHealth")
    assert_that(table["state"], matcher(check_state), label="CheckState")
    pipeline.run().wait_until_finish()


@pytest.mark.slow
def test_feed_health_table_first_run_without_state_or_fetches() -> None:
    pipeline = new_pipeline()
    inputs = {
        "fetches": pipeline | "Fetches" >> beam.Create([make_fetch(OK)]).with_output_types(FeedFetch),
        "outcomes": pipeline | "Outcomes" >> beam.Create([make_outcome(OK, entries=2)]).with_output_types(FeedOutcome),
        "written": pipeline | "Written" >> beam.Create([blank_article(source=OK)]),
        "duplicates": pipeline | "Duplicates" >> beam.Create([]).with_output_types(str),
        "dead_letters": pipeline | "DeadLetters" >> beam.Create([]).with_output_types(DeadLetter),
        "state": pipeline | "State" >> beam.Create([]).with_output_types(tuple[str, FeedState]),
    }
    table = inputs | "FeedHealth" >> FeedHealthTable(RUN)

    def check_health(rows: list[FeedHealth]) -> None:
        assert [(r.url, r.entries_seen, r.new_articles, r.duplicates, r.dead_lettered) for r in rows] == [
            (OK, 2, 1, 0, 0)
        ]

    def check_state(states: list[FeedState]) -> None:
        assert [(s.url, s.etag, s.consecutive_failures, s.last_success_at) for s in states] == [(OK, '"new"', 0, NOW)]

    assert_that(table["health"], matcher(check_health), label="CheckHealth")
    assert_that(table["state"], matcher(check_state), label="CheckState")
    pipeline.run().wait_until_finish()


# --------------------------------------------------------------------------
# read_health
# --------------------------------------------------------------------------

DAY_1 = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 23, 59, tzinfo=UTC))
DAY_2 = Timestamp.from_utc_datetime(datetime(2024, 4, 2, 0, 1, tzinfo=UTC))
HEALTH_RUNS = {"other": 5, "nightly": 3, "nightly-2": 4}


def health_rows(run_id: str, count: int) -> list[FeedHealth]:
    return [
        health_row(
            run_id,
            make_fetch(f"http://feeds.example/{run_id}/{n}.xml", fetched_at=DAY_1 if n % 2 else DAY_2),
            make_outcome(f"http://feeds.example/{run_id}/{n}.xml", entries=n),
            n,
            0,
            0,
            None,
        )
        for n in range(count)
    ]


@pytest.fixture(scope="module")
def health_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs' feed_health files, written and published by the real transforms (2 rows a file)."""
    output = tmp_path_factory.mktemp("health")
    pipeline = new_pipeline()
    for run_id, count in HEALTH_RUNS.items():
        (
            pipeline
            | f"Rows {run_id}" >> beam.Create(health_rows(run_id, count)).with_output_types(FeedHealth)
            | f"Write {run_id}"
            >> WritePartitionedParquet(
                FEED_HEALTH, FEED_HEALTH_SCHEMA, health_partition, str(output), run_id, 2, "feed_health_rows"
            )
            | f"Publish {run_id}" >> Publish(str(output), run_id)
        )
    pipeline.run().wait_until_finish()
    return output


def test_health_partition_is_the_utc_fetch_date() -> None:
    assert health_partition(health_rows("x", 2)[1]) == "fetch_date=2024-04-01"
    assert health_partition(health_rows("x", 2)[0]) == "fetch_date=2024-04-02"


@pytest.mark.slow
def test_read_health_reads_this_runs_rows_only(health_output: Path) -> None:
    partitions = sorted(p.name for p in (health_output / FEED_HEALTH).iterdir())
    assert partitions == ["fetch_date=2024-04-01", "fetch_date=2024-04-02"]
    rows = read_health(str(health_output), "other")
    assert sorted(row["url"] for row in rows) == sorted(row.url for row in health_rows("other", 5))
    assert {row["run_id"] for row in rows} == {"other"}
    by_url = {row["url"]: row for row in rows}
    assert by_url["http://feeds.example/other/3.xml"]["new_articles"] == 3
    assert by_url["http://feeds.example/other/3.xml"]["fetched_at"] == DAY_1.to_utc_datetime(has_tz=True)
    assert set(rows[0]) == set(FEED_HEALTH_SCHEMA.names)


@pytest.mark.slow
def test_read_health_of_a_run_without_rows(health_output: Path, tmp_path: Path) -> None:
    assert read_health(str(health_output), "never-ran") == []
    assert read_health(str(tmp_path / "empty-output"), "other") == []


@pytest.mark.slow
def test_read_health_does_not_read_a_run_whose_id_extends_this_one(health_output: Path) -> None:
    rows = read_health(str(health_output), "nightly")
    assert {row["run_id"] for row in rows} == {"nightly"}
    assert len(rows) == HEALTH_RUNS["nightly"]
