"""The run summary's plain functions, called directly on counters and rows made by hand.

The CLI tests check the summary a real run prints and writes; here the rules
behind it are checked without one: the reconciliation, the grouped counters,
the failing-feed list and its cut, what counts as "nothing read", and which
dead letters are named on stderr.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest
from apache_beam.utils.timestamp import Timestamp

from pipeline.summary import build_summary, failing_feeds, input_problems, nothing_read, print_summary
from schemas import DEAD_LETTER_SCHEMA, DeadLetter, to_arrow_table
from transforms.sinks import write_parquet

RANGE = {"since": "2024-03-01", "until": "2024-03-01"}


def summary(
    metrics: Optional[Mapping[str, int]],
    elapsed: float = 2.0,
    feed_health: list[dict[str, Any]] | None = None,
    date_range: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    return build_summary(
        metrics,
        run_id="run-1",
        inputs=["feeds/"],
        output="out/",
        options={"entities": "off"},
        started_at="2024-03-02T00:00:00+00:00",
        finished_at="2024-03-02T00:00:02+00:00",
        elapsed_seconds=elapsed,
        state="DONE",
        feed_health=feed_health or [],
        date_range=date_range,
    )


def printed(value: Mapping[str, Any]) -> str:
    out = io.StringIO()
    print_summary(value, "out/runs/run-1.json", out)
    return out.getvalue()


def health(url: str, streak: int, error: Optional[str] = "HTTPStatusError") -> dict[str, Any]:
    return {
        "url": url,
        "status": 404 if error else 200,
        "error_class": error,
        "error_message": "404 Not Found" if error else None,
        "consecutive_failures": streak,
    }


# --------------------------------------------------------------------------
# build_summary
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metrics", "date_range", "reconciled"),
    [
        ({"read": 10, "written": 6, "duplicates": 3, "dead_lettered": 1}, None, True),
        ({"read": 10, "written": 6, "duplicates": 3, "dead_lettered": 0}, None, False),
        ({"read": 10, "written": 4, "duplicates": 3, "dead_lettered": 1, "out_of_range": 2}, RANGE, True),
        ({"read": 10, "written": 4, "duplicates": 3, "dead_lettered": 1}, RANGE, False),
    ],
)
def test_counts_reconcile_when_every_record_read_is_accounted_for(
    metrics: dict[str, int], date_range: Optional[Mapping[str, str]], reconciled: bool
) -> None:
    built = summary(metrics, date_range=date_range)
    assert built["counts"]["reconciled"] is reconciled
    assert ("out_of_range" in built["counts"]) is (date_range is not None)
    assert f"counts reconcile: {'yes' if reconciled else 'NO'}" in printed(built)


def test_prefixed_counters_are_grouped_without_their_prefix() -> None:
    metrics = {
        "read": 3,
        "duplicates.previous_runs": 2,
        "duplicates.in_run": 1,
        "dead_letter.parse": 4,
        "repairs.ftfy:uncurl_quotes": 5,
        "files_skipped.hidden": 6,
        "documents.rss": 7,
    }
    built = summary(metrics)
    assert built["duplicates"] == {"in_run": 1, "previous_runs": 2}
    assert list(built["duplicates"]) == ["in_run", "previous_runs"]
    assert built["dead_lettered_by_stage"] == {"parse": 4}
    assert built["repairs"] == {"ftfy:uncurl_quotes": 5}
    assert built["skipped"]["files"] == {"hidden": 6}
    assert built["documents"]["by_format"] == {"rss": 7}
    assert built["counters"] == dict(sorted(metrics.items()))


@pytest.mark.parametrize(("elapsed", "rate"), [(4.0, 2.5), (3.0, 3.33), (0.0, None)])
def test_articles_per_second(elapsed: float, rate: Optional[float]) -> None:
    assert summary({"read": 10}, elapsed=elapsed)["timings"]["articles_per_second"] == rate


def test_failing_feeds_are_the_failed_ones_longest_streak_first() -> None:
    rows = [health("https://b.example/", 1), health("https://ok.example/", 0, error=None)]
    rows += [health("https://c.example/", 3), health("https://a.example/", 1)]
    assert [(f["url"], f["consecutive_failures"]) for f in failing_feeds(rows)] == [
        ("https://c.example/", 3),
        ("https://a.example/", 1),
        ("https://b.example/", 1),
    ]


# --------------------------------------------------------------------------
# print_summary
# --------------------------------------------------------------------------


def test_the_printed_failing_feeds_stop_at_twenty_and_say_how_many_more() -> None:
    rows = [health(f"https://feed{n:02d}.example/", 2 if n == 0 else 1) for n in range(23)]
    text = printed(summary({"read": 0, "feeds.failed": 23}, feed_health=rows))
    assert "  feeds failing        23" in text
    listed = [line for line in text.splitlines() if line.startswith("    https://")]
    assert len(listed) == 20
    assert listed[0] == "    https://feed00.example/: HTTPStatusError: 404 Not Found, 2 runs in a row"
    assert listed[1] == "    https://feed01.example/: HTTPStatusError: 404 Not Found"
    assert "    … and 3 more (see feed_health/ and the run summary)" in text


def test_a_run_without_feeds_prints_no_feed_lines() -> None:
    assert "feeds" not in printed(summary({"read": 1, "written": 1, "documents_read": 1}))


def test_only_counts_that_are_not_zero_are_named_inline() -> None:
    text = printed(summary({"read": 3, "written": 1, "duplicates": 2, "duplicates.in_run": 2}))
    assert "  duplicates            2  (in_run=2)" in text
    assert "previous_runs" not in text


def test_the_date_range_is_printed_only_for_a_date_limited_run() -> None:
    metrics = {"read": 5, "written": 2, "out_of_range": 3, "undated_kept": 1}
    assert "out of range" not in printed(summary(metrics))
    text = printed(summary(metrics, date_range=RANGE))
    assert "  out of range          3  (published 2024-03-01 to 2024-03-01, undated kept=1)" in text


def test_what_was_skipped_or_refused_gets_a_line_each() -> None:
    metrics = {
        "files_skipped.hidden": 2,
        "files_skipped.special": 1,
        "opml_references_refused": 4,
        "existing_files_unreadable": 1,
        "file_names_replaced": 3,
    }
    lines = printed(summary(metrics)).splitlines()
    assert "  files skipped         3  (hidden=2, special=1)" in lines
    assert "  refused paths         4  (feed list references: see dead_letter/)" in lines
    assert "  damaged files         1  (under the output, left alone: see the warnings above)" in lines
    assert "  file names            3  (not valid UTF-8: stored with U+FFFD)" in lines
    assert not any(line.startswith(("  files skipped", "  refused")) for line in printed(summary({})).splitlines())


# --------------------------------------------------------------------------
# nothing_read, input_problems
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metrics", "nothing"),
    [
        ({}, True),
        ({"feeds.failed": 3}, True),  # every feed failing is still nothing read
        ({"documents_read": 1}, False),
        ({"feeds.fetched": 1}, False),
        ({"feeds.not_modified": 1}, False),  # a 304 is a feed that answered
        (None, False),  # no metrics: unknown, not nothing
    ],
)
def test_nothing_read(metrics: Optional[dict[str, int]], nothing: bool) -> None:
    assert nothing_read(summary(metrics)) is nothing


def dead_letter(stage: str, error_type: str, message: str, run_id: str = "run-1") -> DeadLetter:
    when = Timestamp.from_utc_datetime(datetime(2024, 3, 2, tzinfo=UTC))
    return DeadLetter(stage, error_type, message, "inputs/x", None, None, run_id, when)


def test_input_problems_name_the_inputs_that_gave_nothing_once_each(tmp_path: Path) -> None:
    assert input_problems(str(tmp_path), "run-1") == []
    letters = [
        dead_letter("source", "FileNotFoundError", "inputs/missing.xml: no such file"),
        dead_letter("source", "FileNotFoundError", "inputs/missing.xml: no such file"),
        dead_letter("read", "BlockedPath", "../secret: outside the feed list's folder"),
        dead_letter("parse", "FeedError", "not a feed"),  # an input that was read: not named
    ]
    folder = tmp_path / "dead_letter" / "ingest_date=2024-03-02"
    write_parquet(str(folder / "part-run-1-0.parquet"), to_arrow_table(letters, DEAD_LETTER_SCHEMA))
    other_run = [dead_letter("source", "FileNotFoundError", "inputs/other.xml", run_id="run-2")]
    write_parquet(str(folder / "part-run-2-0.parquet"), to_arrow_table(other_run, DEAD_LETTER_SCHEMA))
    assert input_problems(str(tmp_path), "run-1") == [
        "BlockedPath: ../secret: outside the feed list's folder",
        "FileNotFoundError: inputs/missing.xml: no such file",
    ]
