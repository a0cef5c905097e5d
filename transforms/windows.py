"""Event time and the per-window report: what only a stream has.

A batch run has one moment (its ingest time) and one summary; a stream
places each article in time and reports as it goes, so this concern has no
batch twin:

* ``to_event_time`` — an article's timestamp is its publication time when
  plausible, else the time of the poll that saw it (``event_time``).
* ``windows_with_late_panes`` — the fixed windows every streaming writer and
  the report share: a pane when the watermark passes, then one per late
  record up to the allowed lateness.
* ``WindowReport`` — one counted line per window pane, kept under
  ``runs/<run_id>/windows/`` for the run summary (``read_window_reports``).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas import Article
from transforms.errors import counter
from transforms.fetch.polling import SKIP_REASONS

DAY = 24 * 60 * 60
#: Seconds per output window (``--window``).
WINDOW_SECONDS = 60.0
#: Oldest publication date, in days before the poll, taken as an event time (``--max-age-days``).
MAX_AGE_DAYS = 7.0
_LOG = logging.getLogger("newsbeam")
_TIMESTAMP: Any = beam.DoFn.TimestampParam


# --------------------------------------------------------------------------
# Event time
# --------------------------------------------------------------------------


def event_time(article: Article, polled_at: Timestamp, max_age: float, skew: float = 600.0) -> Timestamp:
    """``published_at`` when it is plausible for an entry polled at ``polled_at``, else the poll time.

    Plausible: not in the future (beyond ``skew`` seconds of clock
    difference) and not older than ``max_age`` seconds — an entry dated 1970
    or next year would otherwise land in a window long closed or far ahead.
    """
    published = article.published_at
    if published is None:
        return polled_at
    if published > polled_at + Duration(seconds=skew) or published < polled_at - Duration(seconds=max_age):
        return polled_at
    return published


class _ToEventTime(beam.DoFn):
    def __init__(self, max_age: float):
        self.max_age = max_age
        self._implausible = counter("stream.implausible_dates")

    def process(self, article: Article, polled_at: Timestamp = _TIMESTAMP) -> Iterator[Any]:
        moment = event_time(article, polled_at, self.max_age)
        if article.published_at is not None and moment != article.published_at:
            self._implausible.inc()
        yield window.TimestampedValue(article, moment)


def to_event_time(max_age: float) -> beam.ParDo:
    """Re-stamps articles (stamped with their poll time) with their event time."""
    return beam.ParDo(_ToEventTime(max_age)).with_output_types(Article)


# --------------------------------------------------------------------------
# Windows and the per-window report
# --------------------------------------------------------------------------


def windows_with_late_panes(seconds: float, allowed_lateness: float) -> beam.WindowInto:
    """Fixed windows that fire when the watermark passes, then once per late record up to the lateness."""
    return beam.WindowInto(
        window.FixedWindows(seconds),
        trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        allowed_lateness=Duration(seconds=allowed_lateness),
        accumulation_mode=trigger.AccumulationMode.DISCARDING,
    )


class _CountKinds(beam.CombineFn):
    def create_accumulator(self) -> dict[str, int]:
        return {}

    def add_input(self, accumulator: dict[str, int], tally: tuple[str, int]) -> dict[str, int]:
        kind, count = tally
        accumulator[kind] = accumulator.get(kind, 0) + count
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict[str, int]]) -> dict[str, int]:
        merged: dict[str, int] = {}
        for accumulator in accumulators:
            for kind, count in accumulator.items():
                merged[kind] = merged.get(kind, 0) + count
        return merged

    def extract_output(self, accumulator: dict[str, int]) -> dict[str, int]:
        return dict(sorted(accumulator.items()))


def moment_label(moment: Timestamp, form: str = "%Y%m%dT%H%M%S") -> str:
    """A window bound for a name or a line: ``form`` of its UTC time, or ``us<microseconds>`` beyond dates.

    Python's dates end at year 9999 and Beam's time goes further: the end of
    the global window is near year 294247. Nothing should be stamped there
    (see ``ExtractEntities``), but a window that is must still get a name
    and a report rather than crash the write of every other window.
    """
    try:
        return moment.to_utc_datetime().strftime(form)
    except (OverflowError, ValueError, OSError):
        return f"us{moment.micros}"


def moment_iso(moment: Timestamp) -> str:
    """ISO 8601 of a window bound, ``us<microseconds>`` beyond Python's dates (see ``moment_label``)."""
    try:
        return moment.to_utc_datetime().isoformat()
    except (OverflowError, ValueError, OSError):
        return f"us{moment.micros}"


def window_line(start: Timestamp, end: Timestamp, pane_index: int, counts: dict[str, int]) -> str:
    """The CLI's line for one window pane."""
    late = f" (late pane {pane_index})" if pane_index else ""
    span = f"{moment_label(start, '%H:%M:%S')}–{moment_label(end, '%H:%M:%S')}"
    skipped = [
        f"{counts[f'skipped_{reason}']} {reason.replace('_', ' ')}"
        for reason in SKIP_REASONS
        if counts.get(f"skipped_{reason}")
    ]
    return (
        f"window {span}{late}: {counts.get('written', 0)} written, {counts.get('duplicates', 0)} duplicates, "
        f"{counts.get('polled', 0)} feeds polled ({counts.get('failed', 0)} failed, "
        f"{counts.get('not_modified', 0)} not modified), {counts.get('dead_lettered', 0)} dead-lettered"
        + (f"; polls skipped: {', '.join(skipped)}" if skipped else "")
    )


class _ReportWindow(beam.DoFn):
    """Prints a window pane's line and keeps its counts in ``runs/<run_id>/windows/`` for the run summary.

    Counts come from the data, not from Beam metrics: the local streaming
    runner's metrics keep only the first bundle of each step.
    """

    def __init__(self, output: str, run_id: str):
        self.output = output
        self.run_id = run_id

    def process(
        self, counts: dict[str, int], win: Any = beam.DoFn.WindowParam, pane: Any = beam.DoFn.PaneInfoParam
    ) -> Iterator[dict[str, Any]]:
        index = getattr(pane, "index", 0) or 0
        start = getattr(win, "start", None)
        end = getattr(win, "end", None)
        record: dict[str, Any] = {"pane": index, "counts": counts}
        if start is not None and end is not None:
            record["window_start"] = moment_iso(start)
            record["window_end"] = moment_iso(end)
            _LOG.info("%s", window_line(start, end, index, counts))
            name = f"{moment_label(start)}-p{index}.json"
        else:
            name = f"global-p{index}.json"
        path = f"{self.output.rstrip('/')}/runs/{self.run_id}/windows/{name}"
        folder = path.rsplit("/", 1)[0]
        if "://" not in folder:
            os.makedirs(folder, exist_ok=True)
        with FileSystems.create(path, mime_type="application/json") as handle:
            handle.write(json.dumps(record, sort_keys=True).encode("utf-8"))
        yield record


class WindowReport(beam.PTransform):
    """Tallies (``("written", 1)``, ``("bytes", 2048)``, …) to one counted line per window pane."""

    def __init__(self, output: str, run_id: str, window_seconds: float, allowed_lateness: float):
        super().__init__()
        self.output = output
        self.run_id = run_id
        self.window_seconds = window_seconds
        self.allowed_lateness = allowed_lateness

    def expand(self, tallies: beam.PCollection[tuple[str, int]]) -> beam.PCollection[dict[str, Any]]:
        return (
            tallies
            | "Window" >> windows_with_late_panes(self.window_seconds, self.allowed_lateness)
            | "Count" >> beam.CombineGlobally(_CountKinds()).without_defaults()
            | "Report" >> beam.ParDo(_ReportWindow(self.output, self.run_id))
        )


def read_window_reports(output: str, run_id: str) -> list[dict[str, Any]]:
    """Every window report of a stream run, for its summary."""
    pattern = f"{output.rstrip('/')}/runs/{run_id}/windows/*.json"
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - no window closed: no reports
        return []
    reports = []
    for metadata in sorted(matched, key=lambda m: m.path):
        with FileSystems.open(metadata.path) as handle:
            reports.append(json.loads(handle.read().decode("utf-8")))
    return reports
