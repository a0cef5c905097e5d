"""``transforms.windows``: event time and the per-window report, the concern only a stream has.

* Pure: ``event_time`` (which timestamp an article gets), the window bounds
  as names and lines, the per-window tally.
* The report's files and lines are tested with a stopping stream
  (tests/test_stream_stop.py) and end to end (tests/test_streaming.py).
"""

from __future__ import annotations

from typing import Optional

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Duration, Timestamp
from stream_support import article, at

from transforms.windows import DAY, _CountKinds, event_time, moment_iso, moment_label, window_line

WEEK = 7 * DAY


# --------------------------------------------------------------------------
# event_time
# --------------------------------------------------------------------------

POLLED = at(3600)
MICRO = Duration(micros=1)


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        pytest.param(POLLED - Duration(seconds=3600), "published", id="an-hour-old"),
        pytest.param(POLLED, "published", id="at-poll-time"),
        pytest.param(None, "polled", id="no-date"),
        pytest.param(POLLED + Duration(seconds=599), "published", id="future-within-skew"),
        pytest.param(POLLED + Duration(seconds=600), "published", id="future-exactly-skew"),
        pytest.param(POLLED + Duration(seconds=600) + MICRO, "polled", id="future-just-beyond-skew"),
        pytest.param(POLLED + Duration(seconds=400 * DAY), "polled", id="next-year"),
        pytest.param(POLLED - Duration(seconds=WEEK), "published", id="exactly-max-age"),
        pytest.param(POLLED - Duration(seconds=WEEK) - MICRO, "polled", id="just-older-than-max-age"),
        pytest.param(Timestamp(0), "polled", id="epoch"),
    ],
)
def test_event_time(published: Optional[Timestamp], expected: str) -> None:
    moment = event_time(article("a", published), POLLED, WEEK)
    assert moment == (published if expected == "published" else POLLED)


def test_event_time_custom_skew_and_max_age() -> None:
    assert event_time(article("a", POLLED + MICRO), POLLED, WEEK, skew=0) == POLLED
    assert event_time(article("a", POLLED), POLLED, WEEK, skew=0) == POLLED
    assert event_time(article("a", POLLED - Duration(seconds=61)), POLLED, 60) == POLLED
    assert event_time(article("a", POLLED - Duration(seconds=60)), POLLED, 60) == POLLED - Duration(seconds=60)


# --------------------------------------------------------------------------
# Window bounds and tallies
# --------------------------------------------------------------------------


def test_window_bounds_beyond_python_dates_still_have_a_name() -> None:
    end = GlobalWindow().max_timestamp()
    assert moment_label(end) == f"us{end.micros}"
    assert moment_iso(end) == f"us{end.micros}"
    assert moment_iso(at(90)) == "2024-03-10T00:01:30"  # UTC, as Beam gives it: no offset


def test_tallies_of_a_window_are_summed_per_kind_across_accumulators() -> None:
    count = _CountKinds()
    first = count.add_input(count.add_input(count.create_accumulator(), ("written", 1)), ("bytes", 2048))
    second = count.add_input(count.add_input(count.create_accumulator(), ("written", 1)), ("written", 1))
    merged = count.extract_output(count.merge_accumulators([first, second]))
    assert merged == {"bytes": 2048, "written": 3}
    assert list(merged) == ["bytes", "written"]  # sorted: the report's JSON is stable


def test_window_line_names_the_skipped_polls_in_a_fixed_order() -> None:
    counts = {"written": 4, "polled": 3, "failed": 1, "skipped_abandoned": 1, "skipped_not_due": 2}
    line = window_line(at(0), at(60), 1, counts)
    assert line == (
        "window 00:00:00–00:01:00 (late pane 1): 4 written, 0 duplicates, 3 feeds polled (1 failed, 0 not modified), "
        "0 dead-lettered; polls skipped: 2 not due, 1 abandoned"
    )
