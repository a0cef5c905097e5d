"""The streaming edges: poll ticks, keyed feed polling, exactly-once articles, windowed Parquet.

The middle of the pipeline (parse, enrich, entities) is the batch one; only
these differ in streaming:

* ``Ticks`` — when to poll. On Dataflow a ``PeriodicImpulse``; locally a
  ``TestStream`` fed in real time by a tick server in the driver
  (``pipeline.stream``), because Beam 2.77's local streaming runner (the
  BundleBasedDirectRunner) cannot run ``PeriodicImpulse``'s splittable DoFn.
* ``PollFeeds`` — every tick, every feed; each feed's ETag, Last-Modified and
  failure streak live in keyed state, so each poll is conditional.
* ``DedupeArticles`` — one output per ``article_id`` however many polls see
  it: keyed state with an expiry timer that every sighting pushes back.
* ``to_event_time`` — an article's timestamp is its publication time when
  plausible, else the poll time.
* ``WriteWindowedParquet`` — fixed windows through ``fileio.WriteToFiles``
  with a Parquet ``FileSink`` (``WriteToParquet`` wrote corrupt files in
  streaming on 2.77), in the batch layout (``published_date=…/``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.coders import BooleanCoder
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.transforms import trigger, window
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas import Article, FeedHealth, FeedRequest, FeedState, to_arrow_table
from transforms.errors import DEAD_LETTER, counter
from transforms.fetch import (
    FETCHES,
    LISTED,
    FetchOutcome,
    FetchPolicy,
    _FetchShard,
    fetch,
    host_gate,
    host_of,
    host_slots,
)
from transforms.fetch import validators_for as _validators_for
from transforms.health import health_row
from transforms.sources import is_hidden

DAY = 24 * 60 * 60
#: Output tag of ``DedupeArticles``: the sources (feed or file) of copies dropped.
DUPLICATES = "duplicates"
_LOG = logging.getLogger("newsbeam")

_SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
_EXPIRY = TimerSpec("expiry", beam.TimeDomain.WATERMARK)
_FEED = ReadModifyWriteStateSpec("feed", beam.coders.registry.get_coder(FeedState))
# Parameter defaults for the stateful DoFns, made once (not a call per signature).
_SEEN_PARAM = beam.DoFn.StateParam(_SEEN)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)
_FEED_PARAM = beam.DoFn.StateParam(_FEED)
_TIMESTAMP: Any = beam.DoFn.TimestampParam
#: Output tag of ``PollFeeds``: (url, failures in a row before this poll).
STREAKS = "streaks"
#: Tick kinds on the one tick stream.
POLL, WATCH = "poll", "watch"


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
# Exactly-once articles
# --------------------------------------------------------------------------


class _KeepFirstSighting(beam.DoFn):
    """Emits an article the first time its id is seen; forgets the id ``ttl`` after its last sighting.

    Elements carry their poll time as timestamp, so the expiry timer is in
    event time: it follows the watermark the polls advance, is exact under
    TestStream, and every sighting pushes it back — an entry that stays in a
    feed for months is still written once.
    """

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._new = counter("stream.new_articles")
        self._duplicates = counter("duplicates")
        self._in_stream = counter("duplicates.in_stream")
        self._expired = counter("stream.ids_expired")

    def process(
        self,
        element: tuple[str, Article],
        polled_at: Timestamp = _TIMESTAMP,
        seen: Any = _SEEN_PARAM,
        expiry: Any = _EXPIRY_PARAM,
    ) -> Iterator[Article]:
        _, article = element
        expiry.set(polled_at + Duration(seconds=self.ttl))
        if seen.read():
            self._duplicates.inc()
            self._in_stream.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, article.source)  # type: ignore[misc]
            return
        seen.write(True)
        self._new.inc()
        yield article

    @on_timer(_EXPIRY)
    def expire(self, seen: Any = _SEEN_PARAM) -> None:
        self._expired.inc()
        seen.clear()


class _SkipWritten(beam.DoFn):
    """Drops articles whose id an earlier run (batch or stream) already wrote."""

    def __init__(self) -> None:
        self._previous = counter("duplicates.previous_runs")
        self._duplicates = counter("duplicates")

    def process(self, article: Article, written: Any) -> Iterator[Article]:
        if article.article_id in written:
            self._previous.inc()
            self._duplicates.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, article.source)  # type: ignore[misc]
            return
        yield article


class DedupeArticles(beam.PTransform):
    """One output per ``article_id`` for the life of the stream (ids forgotten ``ttl`` after their last sighting).

    ``written_ids`` (ids already under ``articles/``) is read once at start,
    so a restarted stream does not write again what it wrote before. Returns
    ``articles`` and ``duplicates`` (the source of every copy dropped).
    """

    def __init__(self, ttl: float, written_ids: Optional[beam.PCollection[str]] = None):
        super().__init__()
        self.ttl = ttl
        self.written_ids = written_ids

    def expand(self, articles: beam.PCollection[Article]) -> dict[str, beam.PCollection]:
        dropped: list[beam.PCollection] = []
        if self.written_ids is not None:
            fresh = articles | "SkipWritten" >> beam.ParDo(
                _SkipWritten(), beam.pvalue.AsDict(self.written_ids | "AsPairs" >> beam.Map(lambda i: (i, True)))
            ).with_outputs(DUPLICATES, main="articles")
            articles = fresh.articles
            dropped.append(fresh[DUPLICATES])
        kept = (
            articles
            | "KeyById" >> beam.Map(lambda a: (a.article_id, a)).with_output_types(tuple[str, Article])
            | "KeepFirstSighting" >> beam.ParDo(_KeepFirstSighting(self.ttl)).with_outputs(DUPLICATES, main="articles")
        )
        dropped.append(kept[DUPLICATES])
        duplicates = tuple(dropped) | "AllDuplicates" >> beam.Flatten()
        return {"articles": kept.articles, DUPLICATES: duplicates}


# --------------------------------------------------------------------------
# Per-window report
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


def window_line(start: Timestamp, end: Timestamp, pane_index: int, counts: dict[str, int]) -> str:
    """The CLI's line for one window pane."""
    late = f" (late pane {pane_index})" if pane_index else ""
    span = f"{start.to_utc_datetime():%H:%M:%S}–{end.to_utc_datetime():%H:%M:%S}"
    return (
        f"window {span}{late}: {counts.get('written', 0)} written, {counts.get('duplicates', 0)} duplicates, "
        f"{counts.get('polled', 0)} feeds polled ({counts.get('failed', 0)} failed, "
        f"{counts.get('not_modified', 0)} not modified), {counts.get('dead_lettered', 0)} dead-lettered"
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
            record["window_start"] = start.to_utc_datetime().isoformat()
            record["window_end"] = end.to_utc_datetime().isoformat()
            _LOG.info("%s", window_line(start, end, index, counts))
            name = f"{start.to_utc_datetime():%Y%m%dT%H%M%S}-p{index}.json"
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


# --------------------------------------------------------------------------
# Polling feeds with keyed state
# --------------------------------------------------------------------------


class _PollFeed(_FetchShard):
    """Fetches one feed per element; its validators and failure streak live in keyed state.

    Politeness holds per worker through the process-wide host gates and
    slots (delay and concurrency per host); the
    first poll of a feed starts from the state a batch run left in
    ``feed_state/`` (a side input), so switching from nightly batch to
    streaming does not refetch everything in full.
    """

    def process(  # type: ignore[override]
        self,
        element: tuple[str, FeedRequest],
        initial: Any,
        polled_at: Timestamp = _TIMESTAMP,
        feed_state: Any = _FEED_PARAM,
    ) -> Iterator[Any]:
        url, request = element
        if self._session is None:
            self.setup()
        assert self._session is not None
        previous: Optional[FeedState] = feed_state.read() or initial.get(url)
        policy = self.policy
        host = host_of(url)
        with host_slots(host, policy.per_host_concurrency):
            outcome = fetch(
                self._session, url, policy, _validators_for(previous, policy), host_gate(host, policy.per_host_delay)
            )
        outputs = list(self._emit(request, outcome))
        feed_state.write(_next_feed_state(previous, outcome, polled_at, self.run_id, outputs))
        yield from outputs
        streak = int(previous.consecutive_failures) if previous is not None else 0
        yield beam.pvalue.TaggedOutput(STREAKS, (url, streak))


def _next_feed_state(
    previous: Optional[FeedState], outcome: FetchOutcome, polled_at: Timestamp, run_id: str, outputs: list[Any]
) -> FeedState:
    kind = "feed"
    for output in outputs:
        if isinstance(output, beam.pvalue.TaggedOutput) and output.tag == FETCHES:
            kind = output.value.kind
    ok = outcome.error is None
    return FeedState(
        url=outcome.url,
        kind=kind,
        etag=outcome.etag if ok else (previous.etag if previous else None),
        last_modified=outcome.last_modified if ok else (previous.last_modified if previous else None),
        last_status=np.int32(outcome.status) if outcome.status is not None else None,
        consecutive_failures=np.int32(0 if ok else (previous.consecutive_failures if previous else 0) + 1),
        last_attempt_at=polled_at,
        last_success_at=polled_at if ok else (previous.last_success_at if previous else None),
        run_id=run_id,
    )


class PollFeeds(beam.PTransform):
    """Feed requests (one per feed per tick) to fetched documents, each poll conditional.

    Outputs as ``FetchFeeds``: documents, ``fetches``, ``listed`` (feeds of
    an OPML list polled here) and dead letters.
    """

    def __init__(
        self,
        run_id: str,
        policy: FetchPolicy,
        initial_state: beam.pvalue.AsSideInput,
        expand_opml: bool = True,
    ):
        super().__init__()
        self.run_id = run_id
        self.policy = policy
        self.initial_state = initial_state
        self.expand_opml = expand_opml

    def expand(self, requests: beam.PCollection[FeedRequest]) -> dict[str, beam.PCollection]:
        polled = (
            requests
            | "KeyByUrl" >> beam.Map(lambda r: (r.url, r)).with_output_types(tuple[str, FeedRequest])
            | "Poll"
            >> beam.ParDo(_PollFeed(self.run_id, self.policy, self.expand_opml), self.initial_state).with_outputs(
                DEAD_LETTER, FETCHES, LISTED, STREAKS, main="documents"
            )
        )
        return {
            "documents": polled.documents,
            FETCHES: polled[FETCHES],
            LISTED: polled[LISTED],
            STREAKS: polled[STREAKS],
            DEAD_LETTER: polled[DEAD_LETTER],
        }


def feed_requests(ticks: beam.PCollection, feeds: Callable[[], Sequence[FeedRequest]]) -> beam.PCollection:
    """Every feed, once per tick, stamped with the tick's time.

    ``feeds`` is called on every tick, so a local OPML list it re-reads takes
    edits into account at the next poll.
    """
    return ticks | "EveryFeed" >> beam.FlatMap(lambda _: list(feeds())).with_output_types(FeedRequest)


# --------------------------------------------------------------------------
# Feed health per poll
# --------------------------------------------------------------------------


class _StampKey(beam.DoFn):
    """Keys a record by (its feed URL, its poll time): all of one poll's evidence meets under one key."""

    def __init__(self, url_of: Callable[[Any], str]):
        self.url_of = url_of

    def process(self, record: Any, polled_at: Timestamp = _TIMESTAMP) -> Iterator[tuple[tuple[str, int], Any]]:
        yield (self.url_of(record), polled_at.micros), record


class _JoinPoll(beam.DoFn):
    def __init__(self, run_id: str):
        self.run_id = run_id

    def process(self, element: tuple[tuple[str, int], dict[str, Iterable[Any]]]) -> Iterator[FeedHealth]:
        _, grouped = element
        fetches = list(grouped["fetch"])
        if not fetches:
            return
        fetch_ = fetches[0]
        streak = next(iter(grouped["streak"]), 0)
        previous = FeedState(
            fetch_.url, fetch_.kind, None, None, None, np.int32(streak), fetch_.fetched_at, None, self.run_id
        )
        yield health_row(
            self.run_id,
            fetch_,
            next(iter(grouped["outcome"]), None),
            sum(1 for _ in grouped["new"]),
            sum(1 for _ in grouped["duplicates"]),
            sum(1 for _ in grouped["dead"]),
            previous,
        )


class PollHealth(beam.PTransform):
    """One ``FeedHealth`` row per feed per poll, joined by (URL, poll time) within the poll's window.

    Everything a poll leads to keeps the poll's timestamp until the articles
    are re-stamped with their event time, so the fetch, the parse outcome,
    the new and duplicate articles and the dead letters of one poll share a
    key and a window.
    """

    def __init__(self, run_id: str, window_seconds: float):
        super().__init__()
        self.run_id = run_id
        self.window_seconds = window_seconds

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection[FeedHealth]:
        def keyed(label: str, name: str, url_of: Callable[[Any], str]) -> beam.PCollection:
            return (
                inputs[name]
                | f"Key{label}" >> beam.ParDo(_StampKey(url_of))
                | f"Window{label}" >> beam.WindowInto(window.FixedWindows(self.window_seconds))
            )

        joined = (
            {
                "fetch": keyed("Fetch", "fetches", lambda f: f.url),
                "outcome": keyed("Outcome", "outcomes", lambda o: o.source),
                "streak": keyed("Streak", "streaks", lambda s: s[0])
                | "StreakValue" >> beam.Map(lambda kv: (kv[0], kv[1][1])),
                "new": keyed("New", "new", lambda a: a.source),
                "duplicates": keyed("Duplicates", "duplicates", lambda source: source),
                "dead": keyed(
                    "Dead",
                    "dead_letters",
                    lambda d: d.source,
                )
                | "EntryDeadOnly" >> beam.Filter(lambda kv: kv[1].stage not in ("fetch", "source", "read")),
            }
            | "GroupByPoll" >> beam.CoGroupByKey()
            | "Join" >> beam.ParDo(_JoinPoll(self.run_id)).with_output_types(FeedHealth)
        )
        # Failure streaks across polls: keyed state lives per key and window,
        # so the rows visit the global window for it, then go back to theirs.
        return (
            joined
            | "KeyByUrl" >> beam.Map(lambda row: (row.url, row)).with_output_types(tuple[str, FeedHealth])
            | "AcrossWindows" >> beam.WindowInto(window.GlobalWindows())
            | "Streaks" >> beam.ParDo(_Streaks()).with_output_types(FeedHealth)
            | "BackToPollWindows" >> beam.WindowInto(window.FixedWindows(self.window_seconds))
        )


_STREAK = ReadModifyWriteStateSpec("streak", beam.coders.VarIntCoder())
_STREAK_PARAM = beam.DoFn.StateParam(_STREAK)


class _Streaks(beam.DoFn):
    """Counts a feed's failed polls in a row, content failures (an HTML page, a broken feed) included.

    The poll's keyed fetch state only sees transport failures; this sees the
    joined row. A feed's first row keeps the streak the fetch state started
    from (which a batch run's ``feed_state/`` may have seeded).
    """

    def process(self, element: tuple[str, FeedHealth], streak: Any = _STREAK_PARAM) -> Iterator[FeedHealth]:
        _, row = element
        previous = streak.read()
        if previous is None:
            current = int(row.consecutive_failures)
        else:
            current = previous + 1 if row.error_class is not None else 0
        streak.write(current)
        yield row._replace(consecutive_failures=np.int32(current))


# --------------------------------------------------------------------------
# Watching a landing directory
# --------------------------------------------------------------------------


class FileSeen(NamedTuple):
    path: str
    size: int
    modified: float


def watch_matches(pattern: str) -> list[FileSeen]:
    """Files under a watched directory (recursive, hidden ``.``/``_`` entries skipped) or matching a glob."""
    directory = pattern.endswith("/") or ("://" not in pattern and os.path.isdir(pattern))
    base = pattern.rstrip("/") + "/"
    glob = base + "**" if directory else pattern
    try:
        matched = FileSystems.match([glob])[0].metadata_list
    except Exception:  # noqa: BLE001 - nothing there yet is normal for a landing directory
        return []
    seen = []
    for metadata in matched:
        path = metadata.path
        if path.endswith("/") or ("://" not in path and os.path.isdir(path)):
            continue
        if directory and is_hidden(path[len(base) :]):
            continue
        seen.append(FileSeen(path, int(metadata.size_in_bytes), float(metadata.last_updated_in_seconds or 0.0)))
    return sorted(seen)


_LAST_SEEN = ReadModifyWriteStateSpec("last_seen", beam.coders.PickleCoder())
_LAST_SEEN_PARAM = beam.DoFn.StateParam(_LAST_SEEN)


class _NewStableFiles(beam.DoFn):
    """Emits a file's path once it is new (or changed) and unchanged since the previous match.

    Our own dedup, keyed by path, instead of ``MatchContinuously``'s (which
    stopped early in our probe): a file is read when two matches in a row
    see the same size and modification time — a file still being copied in
    is not read half-written — and read again only if it changes later.
    """

    def __init__(self) -> None:
        self._new = counter("stream.files_new")

    def process(self, element: tuple[str, FileSeen], last: Any = _LAST_SEEN_PARAM) -> Iterator[str]:
        path, seen = element
        previous = last.read()  # (size, modified, emitted)
        version = (seen.size, seen.modified)
        if previous is not None and previous[:2] == version:
            if not previous[2]:
                last.write((*version, True))
                self._new.inc()
                yield path
            return
        last.write((*version, False))


class WatchFiles(beam.PTransform):
    """Watch ticks to the paths of new, complete files under the watched patterns."""

    def __init__(self, patterns: Sequence[str]):
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, ticks: beam.PCollection) -> beam.PCollection[str]:
        patterns = self.patterns
        return (
            ticks
            | "Match" >> beam.FlatMap(lambda _: [f for p in patterns for f in watch_matches(p)])
            | "KeyByPath" >> beam.Map(lambda f: (f.path, f)).with_output_types(tuple[str, FileSeen])
            | "NewStableFiles" >> beam.ParDo(_NewStableFiles()).with_output_types(str)
        )


# --------------------------------------------------------------------------
# Windowed Parquet through fileio
# --------------------------------------------------------------------------


class ParquetSink(fileio.FileSink):
    """A ``fileio`` sink writing one Parquet file per (window, pane, destination) shard.

    Rows are buffered and written on ``flush``: a pane's rows are one
    window's worth, and a Parquet file needs its footer written in one go.
    """

    def __init__(self, schema: pa.Schema, count_name: str, table: str):
        self.schema = schema
        self.count_name = count_name
        self.table = table
        self._handle: Any = None
        self._rows: list[Any] = []

    def open(self, fh: Any) -> None:
        self._handle = fh
        self._rows = []

    def write(self, record: Any) -> None:
        self._rows.append(record)

    def flush(self) -> None:
        buffer = io.BytesIO()
        pq.write_table(to_arrow_table(self._rows, self.schema), buffer, compression="zstd")
        self._handle.write(buffer.getvalue())
        counter(self.count_name).inc(len(self._rows))
        counter(f"files.{self.table}").inc()
        self._rows = []


def _naming(run_id: str) -> Callable[..., str]:
    """File names unique per pane: ``part-<run_id>-w<window start>-<token>-<shard>.parquet``.

    ``WriteToFiles`` hands the naming function no pane (it is always None on
    2.77) and restarts shard numbers for every pane, so a late pane of a
    window would be renamed onto the on-time pane's file and replace it; a
    random token per name keeps every pane's file apart.
    """

    def name(window_: Any, pane: Any, shard_index: int, total_shards: int, compression: Any, destination: str) -> str:
        start = window_.start.to_utc_datetime().strftime("%Y%m%dT%H%M%S") if hasattr(window_, "start") else "global"
        token = uuid.uuid4().hex[:12]
        return f"{destination}/part-{run_id}-w{start}-{token}-{shard_index:05d}.parquet"

    return name


_MADE: set[str] = set()


class _PartitionDestination:
    """The partition of a record, as a ``WriteToFiles`` destination, with its folder made.

    ``WriteToFiles`` moves finished files to ``path/<file name>`` with a plain
    rename, which fails (and only logs a warning, leaving the file in the
    temporary folder) when the name has a folder that does not exist yet.
    """

    def __init__(self, base: str, partition: Callable[[Any], str]):
        self.base = base
        self.partition = partition

    def __call__(self, record: Any) -> str:
        value = self.partition(record)
        folder = f"{self.base}/{value}"
        if folder not in _MADE:
            if "://" not in folder:
                os.makedirs(folder, exist_ok=True)
            _MADE.add(folder)
        return value


class WriteWindowedParquet(beam.PTransform):
    """Records into fixed windows, each window's records into Parquet under ``output/table/<partition>/``.

    Late records (allowed up to ``allowed_lateness``) are written as extra
    panes of their window, in files of their own: nothing is rewritten.
    """

    def __init__(
        self,
        output: str,
        table: str,
        schema: pa.Schema,
        partition: Callable[[Any], str],
        run_id: str,
        window_seconds: float,
        allowed_lateness: float,
        count_name: str,
    ):
        super().__init__()
        self.count_name = count_name
        self.output = output
        self.table = table
        self.schema = schema
        self.partition = partition
        self.run_id = run_id
        self.window_seconds = window_seconds
        self.allowed_lateness = allowed_lateness

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[Any]:
        schema, count_name, table = self.schema, self.count_name, self.table
        base = f"{self.output.rstrip('/')}/{self.table}"
        return (
            records
            | "Window" >> windows_with_late_panes(self.window_seconds, self.allowed_lateness)
            | "WriteFiles"
            >> fileio.WriteToFiles(
                path=base,
                destination=_PartitionDestination(base, self.partition),
                sink=lambda _: ParquetSink(schema, count_name, table),
                file_naming=_naming(self.run_id),
                shards=1,
                temp_directory=StaticValueProvider(
                    str, f"{self.output.rstrip('/')}/_staging/{self.run_id}/{self.table}"
                ),
            )
        )
