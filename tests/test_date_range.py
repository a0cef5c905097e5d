"""Nightly runs and backfills: ``--date`` / ``--since`` / ``--until`` write only what was published then."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any, Optional

import duckdb
import pytest
from feedserver import rss

from pipeline.run import run_ingest
from pipeline.settings import day_range, publication_days

TODAY = dt.date(2026, 11, 29)


@pytest.mark.parametrize(
    ("date", "since", "until", "expected"),
    [
        (None, None, None, None),
        ("2026-11-20", None, None, (dt.date(2026, 11, 20), dt.date(2026, 11, 20))),
        ("yesterday", None, None, (dt.date(2026, 11, 28), dt.date(2026, 11, 28))),
        (None, "2026-11-01", "2026-11-07", (dt.date(2026, 11, 1), dt.date(2026, 11, 7))),
        (None, "2026-11-01", None, (dt.date(2026, 11, 1), TODAY)),
        (None, None, "2026-01-31", (dt.date(1970, 1, 1), dt.date(2026, 1, 31))),
        (None, "2026-11-05", "2026-11-05", (dt.date(2026, 11, 5), dt.date(2026, 11, 5))),
    ],
)
def test_publication_days(
    date: Optional[str], since: Optional[str], until: Optional[str], expected: Optional[tuple[dt.date, dt.date]]
) -> None:
    assert publication_days(date, since, until, TODAY) == expected


@pytest.mark.parametrize(
    ("date", "since", "until", "message"),
    [
        ("2026-11-20", "2026-11-01", None, "not both"),
        ("20/11/2026", None, None, "YYYY-MM-DD"),
        (None, "2026-11-08", "2026-11-01", "after"),
        (None, "2026-02-30", None, "YYYY-MM-DD"),
    ],
)
def test_publication_days_refuses(
    date: Optional[str], since: Optional[str], until: Optional[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        publication_days(date, since, until, TODAY)


def test_day_range_is_whole_utc_days() -> None:
    start, end = day_range(dt.date(2026, 11, 1), dt.date(2026, 11, 7))
    assert start.to_utc_datetime(has_tz=True) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert end.to_utc_datetime(has_tz=True) == dt.datetime(2026, 11, 8, tzinfo=dt.UTC)


def _entry(day: dt.date, hour: int, n: int) -> dict[str, Any]:
    return {
        "title": f"Story {n} of {day.isoformat()} about the harbour",
        "link": f"http://news.example/{day.isoformat()}/{n}",
        "guid": f"http://news.example/{day.isoformat()}/{n}",
        "description": f"The harbour authority said on {day.isoformat()} that ferry number {n} will run later.",
        "pub_date": dt.datetime(day.year, day.month, day.day, hour, 30, tzinfo=dt.UTC),
    }


DAYS = [dt.date(2026, 11, 2), dt.date(2026, 11, 3), dt.date(2026, 11, 4)]


@pytest.fixture()
def feed(tmp_path: Path) -> Path:
    """Two entries on each of three days (one just before midnight, one just after), and one undated."""
    items = [_entry(day, hour, n) for day in DAYS for n, hour in ((1, 0), (2, 23))]
    undated = {
        "title": "Undated notice from the harbour",
        "link": "http://news.example/undated",
        "guid": "http://news.example/undated",
        "description": "The harbour office will be closed for inventory.",
    }
    path = tmp_path / "feed.xml"
    path.write_bytes(rss([*items, undated]))
    return path


def ingest(feed: Path, output: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    run_id = f"dr-{len(list(output.glob('runs/*.json'))) if output.exists() else 0}"
    args = ["--output", str(output), "--runner", "DirectRunner", "--entities", "off", "--progress-seconds", "0"]
    code = run_ingest([str(feed)], [*args, "--run-id", run_id, *extra], out, err)
    summary_path = output / "runs" / f"{run_id}.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return code, summary, out.getvalue() + err.getvalue()


def written_links(output: Path) -> list[str]:
    pattern = output / "articles" / "**" / "*.parquet"
    return sorted(row[0] for row in duckdb.sql(f"SELECT url FROM read_parquet('{pattern}')").fetchall())


@pytest.mark.slow
def test_one_night_writes_that_day_only_and_counts_the_rest(feed: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    code, summary, printed = ingest(feed, output, "--date", "2026-11-03")
    assert code == 0, printed
    assert written_links(output) == sorted(
        ["http://news.example/2026-11-03/1", "http://news.example/2026-11-03/2", "http://news.example/undated"]
    )
    counts = summary["counts"]
    assert counts == {
        "read": 7,
        "written": 3,
        "duplicates": 0,
        "dead_lettered": 0,
        "skipped": 0,
        "out_of_range": 4,
        "reconciled": True,
    }
    assert summary["date_range"] == {"since": "2026-11-03", "until": "2026-11-03", "undated_kept": 1}
    assert "out of range" in printed
    # Re-running the night adds nothing.
    code, again, _ = ingest(feed, output, "--date", "2026-11-03")
    assert code == 0
    assert again["counts"]["written"] == 0 and again["counts"]["duplicates"] == 3
    assert again["counts"]["out_of_range"] == 4 and again["counts"]["reconciled"]
    assert len(written_links(output)) == 3


@pytest.mark.slow
def test_a_backfill_is_one_command_and_nights_after_it_add_nothing(feed: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    code, summary, printed = ingest(feed, output, "--since", "2026-11-02", "--until", "2026-11-04")
    assert code == 0, printed
    assert len(written_links(output)) == 7
    assert summary["counts"]["out_of_range"] == 0 and summary["counts"]["reconciled"]
    code, night, _ = ingest(feed, output, "--date", "2026-11-04")
    assert code == 0 and night["counts"]["written"] == 0 and night["counts"]["duplicates"] == 3


@pytest.mark.slow
def test_date_without_a_value_is_yesterday(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    path = tmp_path / "feed.xml"
    path.write_bytes(
        rss([_entry(yesterday, 12, 1), _entry(today, 0, 2), _entry(yesterday - dt.timedelta(days=1), 12, 3)])
    )
    output = tmp_path / "out"
    code, summary, printed = ingest(path, output, "--date")
    assert code == 0, printed
    assert written_links(output) == [f"http://news.example/{yesterday.isoformat()}/1"]
    assert summary["date_range"]["since"] == yesterday.isoformat()


@pytest.mark.parametrize(
    "extra",
    [
        ["--date", "2026-11-03", "--since", "2026-11-01"],
        ["--date", "03/11/2026"],
        ["--since", "2026-11-09", "--until", "2026-11-01"],
    ],
)
def test_bad_date_options_are_usage_errors(feed: Path, tmp_path: Path, extra: list[str]) -> None:
    code, _, printed = ingest(feed, tmp_path / "out", *extra)
    assert code == 2
    assert "newsbeam: error:" in printed
    assert not (tmp_path / "out" / "articles").exists()


@pytest.mark.slow
def test_date_limited_runs_fetch_feeds_in_full(tmp_path: Path) -> None:
    """Entries of a later night, out of range tonight, must not hide behind a 304 tomorrow."""
    from feedserver import FeedServer, static

    items = [_entry(DAYS[0], 12, 1), _entry(DAYS[1], 12, 2)]
    output = tmp_path / "out"
    with FeedServer() as server:
        url = server.route("/feed.xml", static(rss(items), etag='"n1"'))
        extra = ["--allow-private-hosts", "--per-host-delay", "0"]
        first = run_ingest(
            [url],
            ["--output", str(output), "--runner", "DirectRunner", "--entities", "off", "--date", "2026-11-02", *extra],
            io.StringIO(),
            io.StringIO(),
        )
        second = run_ingest(
            [url],
            ["--output", str(output), "--runner", "DirectRunner", "--entities", "off", "--date", "2026-11-03", *extra],
            io.StringIO(),
            io.StringIO(),
        )
        conditional = [r.headers.get("if-none-match") for r in server.requests_for("/feed.xml")]
    assert first == second == 0
    assert conditional == [None, None]
    assert written_links(output) == ["http://news.example/2026-11-02/1", "http://news.example/2026-11-03/2"]
