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
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
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
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas import Article, FeedHealth, FeedRequest, FeedState, to_arrow_table
from transforms.errors import DEAD_LETTER, ConnectionFailed, counter
from transforms.fetch import (
    FETCHES,
    LISTED,
    FetchCancelled,
    FetchOutcome,
    FetchPolicy,
    StopSignal,
    _FetchShard,
    fetch,
    host_gate,
    host_of,
    host_slots,
    make_session,
)
from transforms.fetch import validators_for as _validators_for
from transforms.health import health_row
from transforms.sources import is_hidden, portable_path, walk_local

DAY = 24 * 60 * 60
#: Output tag of ``DedupeArticles``: the sources (feed or file) of copies dropped.
DUPLICATES = "duplicates"
_LOG = logging.getLogger("newsbeam")

_SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
_EXPIRY = TimerSpec("expiry", beam.TimeDomain.WATERMARK)
_FEED = ReadModifyWriteStateSpec("feed", beam.coders.registry.get_coder(FeedState))
#: The poll whose fetch is in flight: (token, request, poll time in µs).
_POLL = ReadModifyWriteStateSpec("poll", beam.coders.PickleCoder())
#: The feeds an OPML list named at its last poll, for their drain polls.
_LISTED = ReadModifyWriteStateSpec("listed", beam.coders.PickleCoder())
_HARVEST = TimerSpec("harvest", beam.TimeDomain.WATERMARK)
# Parameter defaults for the stateful DoFns, made once (not a call per signature).
_SEEN_PARAM = beam.DoFn.StateParam(_SEEN)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)
_FEED_PARAM = beam.DoFn.StateParam(_FEED)
_POLL_PARAM = beam.DoFn.StateParam(_POLL)
_LISTED_PARAM = beam.DoFn.StateParam(_LISTED)
_HARVEST_PARAM = beam.DoFn.TimerParam(_HARVEST)
_TIMESTAMP: Any = beam.DoFn.TimestampParam
#: Output tag of ``PollFeeds``: (url, failures in a row before this poll).
STREAKS = "streaks"
#: Tick kinds on the one tick stream: a poll, a watch of the landing folders,
#: and the drain, the last poll of every feed once the stream is stopping.
POLL, WATCH, DRAIN = "poll", "watch", "drain"


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


# --------------------------------------------------------------------------
# Polling feeds with keyed state
# --------------------------------------------------------------------------


#: Output tag of ``PollFeeds``: ``(url, reason)`` of a poll that fetched nothing (``SKIP_REASONS``).
SKIPPED = "skipped"
#: Why a poll fetched nothing: the publisher's refresh hint says not yet, the
#: previous poll of the feed is still fetching, or the stream stopped with
#: the fetch in flight. None is a failure of the feed.
NOT_DUE, IN_FLIGHT, ABANDONED = "not_due", "in_flight", "abandoned"
SKIP_REASONS = (NOT_DUE, IN_FLIGHT, ABANDONED)
#: Output of ``PollFeeds``: the skipped polls as window-report tallies.
SKIP_TALLIES = "skip_tallies"
#: When a stream stops, a request in flight may finish for ``STOP_CUT_AFTER``
#: seconds, then it is cut off; the stream's last polls wait ``STOP_FETCH_GRACE``
#: seconds in all for the fetches to hand back what they got (a cut fetch ends
#: within moments; only a connection still being opened can take longer, and
#: is abandoned). Back-off and politeness waits end at once.
STOP_CUT_AFTER = 2.0
STOP_FETCH_GRACE = 5.0
#: A poll is due this much before its publisher's hint, so that a hint equal
#: to the poll interval never loses a poll to the jitter of the ticks.
DUE_TOLERANCE = 1.0
#: A poll waits up to ``QUICK_WAIT`` seconds for its fetch to hand the result on at once, and the polls
#: of one bundle together at most ``QUICK_BUDGET``: a feed that hangs costs the others that much, once.
QUICK_WAIT = 0.5
QUICK_BUDGET = 2.0
#: How often a harvest timer looks again at a fetch still running.
_HARVEST_STEP = Duration(seconds=0.1)
#: Where a stopping stream parks its harvest timers: they fire only when the
#: stream has ended, when nothing they emitted could still be written.
_END_OF_STREAM = window.GlobalWindow().max_timestamp()


def poll_due(state: Optional[FeedState], polled_at: Timestamp, tolerance: float = DUE_TOLERANCE) -> bool:
    """Whether a poll at ``polled_at`` may fetch the feed: no refresh hint holds it back."""
    if state is None or state.next_fetch_after is None:
        return True
    return polled_at + Duration(seconds=tolerance) >= state.next_fetch_after


class _PollRuntime:
    """One process's side of a stream's polls: the stop signal, the fetches in flight, their session.

    Fetches run on their own (daemon) threads, so a feed that trickles its
    response holds up no other feed's polls and no step of the pipeline;
    at most ``policy.threads`` fetch at once, each host within its
    concurrency and delay limits (the process-wide ``host_slots`` and
    ``host_gate``). Every wait of a fetch honours the stop signal.
    """

    def __init__(self) -> None:
        self.stop = StopSignal()
        self.abandoned = 0
        #: Set when a pipeline reports the ticks it takes up (``note_tick``): its tick server then paces itself.
        self.paced = False
        self._last_tick = -1
        self._stopped_at: Optional[float] = None
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[FetchOutcome]] = {}
        self._sessions: dict[FetchPolicy, Any] = {}
        self._threads: dict[int, threading.BoundedSemaphore] = {}

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    def stop_all(self) -> None:
        """Lets no fetch start or wait any more; cuts off the requests still in flight ``STOP_CUT_AFTER`` s later."""
        with self._lock:
            if self._stopped_at is not None:
                return
            self._stopped_at = time.monotonic()
        self.stop.set()
        cutter = threading.Timer(STOP_CUT_AFTER, self.stop.cut)
        cutter.daemon = True
        cutter.start()

    def grace_left(self) -> float:
        """Seconds a stopping stream still waits for cancelled fetches (0 when not stopping)."""
        with self._lock:
            stopped = self._stopped_at
        return 0.0 if stopped is None else max(0.0, stopped + STOP_FETCH_GRACE - time.monotonic())

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def note_tick(self, micros: int) -> None:
        """The pipeline has taken up the poll tick of ``micros`` (its time, in µs)."""
        with self._lock:
            self._last_tick = max(self._last_tick, micros)

    def caught_up(self, micros: int) -> bool:
        """Whether the pipeline took up the poll tick of ``micros`` (always, for a pipeline that does not pace)."""
        with self._lock:
            return not self.paced or self._last_tick >= micros

    def start(self, token: str, url: str, policy: FetchPolicy, validators: Optional[Any]) -> None:
        future: Future[FetchOutcome] = Future()
        with self._lock:
            self._in_flight[token] = future
            session = self._sessions.get(policy)
            if session is None:
                session = self._sessions[policy] = make_session(policy)
            slots = self._threads.get(policy.threads)
            if slots is None:
                slots = self._threads[policy.threads] = threading.BoundedSemaphore(max(1, policy.threads))
        thread = threading.Thread(
            target=self._run, args=(future, session, slots, url, policy, validators), name="newsbeam-poll", daemon=True
        )
        thread.start()

    def outcome(self, token: str, wait: float = 0.0) -> Optional[FetchOutcome]:
        """The finished fetch of ``token`` (waiting up to ``wait`` s); None while it runs.

        A token this process never started (a worker restarted with the
        feed's state elsewhere) is reported as abandoned.
        """
        with self._lock:
            future = self._in_flight.get(token)
        if future is None:
            return FetchOutcome("", error=FetchCancelled("abandoned: the fetch was lost with its worker"))
        try:
            return future.result(timeout=max(0.0, wait))
        except FutureTimeout:
            return None

    def forget(self, token: str) -> None:
        with self._lock:
            self._in_flight.pop(token, None)

    def _run(
        self,
        future: Future[FetchOutcome],
        session: Any,
        slots: threading.BoundedSemaphore,
        url: str,
        policy: FetchPolicy,
        validators: Optional[Any],
    ) -> None:
        try:
            outcome = self._fetch(session, slots, url, policy, validators)
        except BaseException as error:  # noqa: BLE001 - handed to the poll as this feed's failure, never lost
            outcome = FetchOutcome(url, error=ConnectionFailed(f"fetch crashed: {error!r}", url))
        future.set_result(outcome)

    def _fetch(
        self, session: Any, slots: threading.BoundedSemaphore, url: str, policy: FetchPolicy, validators: Any
    ) -> FetchOutcome:
        stop = self.stop
        host = host_of(url)
        per_host = host_slots(host, policy.per_host_concurrency)
        gate = host_gate(host, policy.per_host_delay)
        return fetch(
            session,
            url,
            policy,
            validators,
            lambda: gate.wait_turn(stop),
            sleep=stop.wait,
            stop=stop,
            slot=lambda: _turn(slots, per_host, stop, url),
        )


@contextmanager
def _turn(
    slots: threading.BoundedSemaphore, per_host: threading.BoundedSemaphore, stop: StopSignal, url: str
) -> Iterator[None]:
    """One attempt's place among the fetches of the process and of its host; a stop while waiting cancels it."""
    if not _acquire(slots, stop):
        raise FetchCancelled("abandoned: the run is stopping", url)
    try:
        if not _acquire(per_host, stop):
            raise FetchCancelled("abandoned: the run is stopping", url)
        try:
            yield
        finally:
            per_host.release()
    finally:
        slots.release()


def _acquire(semaphore: threading.BoundedSemaphore, stop: StopSignal) -> bool:
    """Takes a slot, giving up (False) as soon as ``stop`` is set."""
    while not semaphore.acquire(timeout=0.1):
        if stop.is_set():
            return False
    if stop.is_set():
        semaphore.release()
        return False
    return True


class StreamControl:
    """Stops a stream's fetches: a picklable handle on the process's ``_PollRuntime``.

    The driver makes one and keeps it (the tick server, and the
    ``PollFeeds`` transforms of the pipeline graph, hold it); every copy of
    it pickled into a DoFn of the same process reaches the same runtime
    through ``apache_beam.utils.shared.Shared``, so the driver's ``stop``
    reaches the fetches the DoFns started. A worker of another process gets
    its own runtime, which only a drain of the stream ends.
    """

    def __init__(self) -> None:
        self._shared = Shared()
        self._runtime: Optional[_PollRuntime] = self._shared.acquire(_PollRuntime, tag="poll-runtime")

    def __getstate__(self) -> dict[str, Any]:
        return {"_shared": self._shared}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._shared = state["_shared"]
        self._runtime = None

    @property
    def runtime(self) -> _PollRuntime:
        if self._runtime is None:
            self._runtime = self._shared.acquire(_PollRuntime, tag="poll-runtime")
        return self._runtime

    def stop(self) -> None:
        """Cancels the fetches in flight; polls from now on fetch nothing (safe from any thread)."""
        self.runtime.stop_all()

    def pace(self) -> None:
        """Declares that the pipeline reports the poll ticks it takes up (the tick server then paces itself)."""
        self.runtime.paced = True

    def note_tick(self, moment: Timestamp) -> None:
        self.runtime.note_tick(moment.micros)

    @property
    def stopping(self) -> bool:
        return self.runtime.stopping

    @property
    def abandoned(self) -> int:
        """Polls whose fetch was abandoned by the stop (their feed is fetched afresh next run)."""
        return self.runtime.abandoned


class _PollFeed(_FetchShard):
    """Polls one feed per element; its validators, refresh hint and failure streak live in keyed state.

    A poll starts the feed's fetch on its own thread (``_PollRuntime``) and
    waits for it briefly (``QUICK_WAIT``, at most ``QUICK_BUDGET`` for all
    the polls of a bundle); a fetch that takes longer is harvested by a
    timer (or by the feed's next poll), so one feed that hangs never holds
    up the others. What a timer harvests is stamped with the time of the
    harvest, never an older one, so it is never late for a window (the
    local runner holds no watermark for a timer). A poll
    is skipped — counted on the ``skipped`` output, never a failure — while
    the publisher's refresh hint holds the feed back or its previous fetch
    is still running. Once the stream stops, polls start nothing: the
    stream's last (drain) poll of each feed collects what its fetch got
    within ``STOP_FETCH_GRACE``, and abandons the rest.

    Politeness holds per process through the host gates and slots; the
    first poll of a feed starts from the state a batch run left in
    ``feed_state/`` (a side input), so switching from nightly batch to
    streaming does not refetch everything in full, and honours the refresh
    hint the batch run recorded.
    """

    def __init__(
        self, run_id: str, policy: FetchPolicy, expand_opml: bool, control: StreamControl, tick_driven: bool = False
    ):
        super().__init__(run_id, policy, expand_opml)
        self.control = control
        self.tick_driven = tick_driven
        self._skipped = {reason: counter(f"stream.polls_{reason}") for reason in SKIP_REASONS}

    def setup(self) -> None:
        """Nothing per instance: the session and the fetches belong to the process's runtime."""

    def teardown(self) -> None:
        """The runtime outlives DoFn instances (the local runner makes one per bundle)."""

    def process(  # type: ignore[override]
        self,
        element: tuple[str, FeedRequest],
        initial: Any,
        polled_at: Timestamp = _TIMESTAMP,
        feed_state: Any = _FEED_PARAM,
        poll: Any = _POLL_PARAM,
        listed: Any = _LISTED_PARAM,
        harvest: Any = _HARVEST_PARAM,
    ) -> Iterator[Any]:
        url, request = element
        runtime = self.control.runtime
        if self.tick_driven:
            runtime.note_tick(polled_at.micros)
        if feed_state.read() is None and url in initial:
            feed_state.write(initial[url])
        pending = poll.read()
        harvested_list = False
        if pending is not None:
            outcome = runtime.outcome(pending[0], runtime.grace_left() if runtime.stopping else 0.0)
            if outcome is None and runtime.stopping:
                outcome = FetchOutcome(url, error=FetchCancelled("abandoned: the run stopped", url))
            if outcome is not None:
                for output in self._harvest(pending, outcome, feed_state, poll, listed):
                    harvested_list = harvested_list or getattr(output, "tag", None) == LISTED
                    yield output
                pending = None
        if runtime.stopping:
            # The drain: nothing new starts; the feeds this list named get their own last poll.
            if not harvested_list:
                for child in listed.read() or ():
                    yield beam.pvalue.TaggedOutput(LISTED, child)
            return
        if pending is not None:
            yield from self._skip(url, IN_FLIGHT)
            return
        if not poll_due(feed_state.read(), polled_at):
            yield from self._skip(url, NOT_DUE)
            return
        token = uuid.uuid4().hex
        runtime.start(token, url, self.policy, _validators_for(feed_state.read(), self.policy))
        pending = (token, request, polled_at.micros)
        poll.write(pending)
        # Most fetches take milliseconds: wait a little, within this bundle's budget, and hand the
        # result on with the poll itself; a fetch that takes longer is harvested by the timer.
        outcome = runtime.outcome(token, self._quick_wait())
        if outcome is not None:
            yield from self._harvest(pending, outcome, feed_state, poll, listed)
            return
        harvest.set(polled_at)

    def start_bundle(self) -> None:
        self._budget_until = time.monotonic() + QUICK_BUDGET

    def _quick_wait(self) -> float:
        """How long this poll may wait for its fetch: ``QUICK_WAIT``, within what is left of the bundle's budget."""
        until = getattr(self, "_budget_until", None)
        left = QUICK_BUDGET if until is None else until - time.monotonic()
        return max(0.0, min(QUICK_WAIT, left))

    @on_timer(_HARVEST)
    def harvested(
        self,
        fired: Timestamp = _TIMESTAMP,
        feed_state: Any = _FEED_PARAM,
        poll: Any = _POLL_PARAM,
        listed: Any = _LISTED_PARAM,
        harvest: Any = _HARVEST_PARAM,
    ) -> Iterator[Any]:
        pending = poll.read()
        if pending is None:
            return
        runtime = self.control.runtime
        if runtime.stopping:
            if fired >= _END_OF_STREAM:
                # The stream has ended and this feed had no drain poll (it left the list meanwhile):
                # nothing emitted now could be written. Counted, and the feed is fetched afresh next run.
                runtime.forget(pending[0])
                poll.clear()
                runtime.abandoned += 1
                self._skipped[ABANDONED].inc()
                return
            harvest.set(_END_OF_STREAM)  # the drain poll of the feed collects it
            return
        outcome = runtime.outcome(pending[0], 0.05)
        stamp = max(fired, Timestamp.now())
        if outcome is None:
            harvest.set(stamp + _HARVEST_STEP)
            return
        for output in self._harvest(pending, outcome, feed_state, poll, listed):
            if isinstance(output, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(output.tag, window.TimestampedValue(output.value, stamp))
            else:
                yield window.TimestampedValue(output, stamp)

    def _harvest(
        self, pending: tuple[str, FeedRequest, int], outcome: FetchOutcome, feed_state: Any, poll: Any, listed: Any
    ) -> Iterator[Any]:
        """A finished fetch's outputs, with the feed's state moved on (or a count, if it was abandoned)."""
        token, request, polled_micros = pending
        runtime = self.control.runtime
        runtime.forget(token)
        poll.clear()
        if isinstance(outcome.error, FetchCancelled):
            runtime.abandoned += 1
            yield from self._skip(request.url, ABANDONED)
            return
        polled_at = Timestamp(micros=polled_micros)
        previous: Optional[FeedState] = feed_state.read()
        outputs = list(self._emit(request, outcome, polled_at))
        feed_state.write(_next_feed_state(previous, outcome, polled_at, self.run_id, outputs))
        fetched = [o.value for o in outputs if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == FETCHES]
        if fetched and fetched[0].kind == "opml":  # what the list names now, for the drain
            listed.write([o.value for o in outputs if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == LISTED])
        yield from outputs
        streak = int(previous.consecutive_failures) if previous is not None else 0
        yield beam.pvalue.TaggedOutput(STREAKS, (request.url, streak))

    def _skip(self, url: str, reason: str) -> Iterator[Any]:
        self._skipped[reason].inc()
        yield beam.pvalue.TaggedOutput(SKIPPED, (url, reason))


def _next_feed_state(
    previous: Optional[FeedState], outcome: FetchOutcome, polled_at: Timestamp, run_id: str, outputs: list[Any]
) -> FeedState:
    fetched = next(
        (o.value for o in outputs if isinstance(o, beam.pvalue.TaggedOutput) and o.tag == FETCHES),
        None,
    )
    ok = outcome.error is None
    return FeedState(
        url=outcome.url,
        kind=fetched.kind if fetched is not None else "feed",
        etag=outcome.etag if ok else (previous.etag if previous else None),
        last_modified=outcome.last_modified if ok else (previous.last_modified if previous else None),
        last_status=np.int32(outcome.status) if outcome.status is not None else None,
        consecutive_failures=np.int32(0 if ok else (previous.consecutive_failures if previous else 0) + 1),
        last_attempt_at=polled_at,
        last_success_at=polled_at if ok else (previous.last_success_at if previous else None),
        run_id=run_id,
        next_fetch_after=fetched.next_fetch_after if fetched is not None else None,
        refresh_hint=fetched.refresh_hint if fetched is not None else None,
    )


class PollFeeds(beam.PTransform):
    """Feed requests (one per feed per tick) to fetched documents, each poll conditional.

    Outputs as ``FetchFeeds``: documents, ``fetches``, ``listed`` (feeds of
    an OPML list polled here) and dead letters; and ``skipped``: ``(url,
    reason)`` of each poll that fetched nothing (``SKIP_REASONS``), and the
    same as window-report tallies (``skip_tallies``: ``("skipped_<reason>", 1)``). The
    ``control`` stops the fetches (the tick server's, for a local stream);
    a ``tick_driven`` one (requests straight from the ticks) tells it which
    poll ticks the pipeline has taken up, so the tick server never runs
    ahead of the pipeline.
    """

    def __init__(
        self,
        run_id: str,
        policy: FetchPolicy,
        initial_state: beam.pvalue.AsSideInput,
        expand_opml: bool = True,
        control: Optional[StreamControl] = None,
        tick_driven: bool = False,
    ):
        super().__init__()
        self.run_id = run_id
        self.policy = policy
        self.initial_state = initial_state
        self.expand_opml = expand_opml
        self.control = control or StreamControl()
        self.tick_driven = tick_driven

    def expand(self, requests: beam.PCollection[FeedRequest]) -> dict[str, beam.PCollection]:
        polled = (
            requests
            | "KeyByUrl" >> beam.Map(lambda r: (r.url, r)).with_output_types(tuple[str, FeedRequest])
            | "Poll"
            >> beam.ParDo(
                _PollFeed(self.run_id, self.policy, self.expand_opml, self.control, self.tick_driven),
                self.initial_state,
            ).with_outputs(DEAD_LETTER, FETCHES, LISTED, STREAKS, SKIPPED, main="documents")
        )
        return {
            "documents": polled.documents,
            FETCHES: polled[FETCHES],
            LISTED: polled[LISTED],
            STREAKS: polled[STREAKS],
            SKIPPED: polled[SKIPPED],
            SKIP_TALLIES: polled[SKIPPED]
            | "TallySkipped" >> beam.Map(lambda skip: (f"skipped_{skip[1]}", 1)).with_output_types(tuple[str, int]),
            DEAD_LETTER: polled[DEAD_LETTER],
        }


class _EveryFeed(beam.DoFn):
    """A tick to one request per feed; a tick with no feed to poll is taken up here (``StreamControl``)."""

    def __init__(self, feeds: Callable[[], Sequence[FeedRequest]], control: Optional[StreamControl]):
        self.feeds = feeds
        self.control = control

    def process(self, _: Any, tick: Timestamp = _TIMESTAMP) -> Iterator[FeedRequest]:
        requests = list(self.feeds())
        if not requests and self.control is not None:
            self.control.note_tick(tick)
        yield from requests


def feed_requests(
    ticks: beam.PCollection, feeds: Callable[[], Sequence[FeedRequest]], control: Optional[StreamControl] = None
) -> beam.PCollection:
    """Every feed, once per tick, stamped with the tick's time.

    ``feeds`` is called on every tick, so a local OPML list it re-reads takes
    edits into account at the next poll.
    """
    return ticks | "EveryFeed" >> beam.ParDo(_EveryFeed(feeds, control)).with_output_types(FeedRequest)


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
    """Files under a watched directory (recursive) or matching a glob.

    A local landing directory is listed with the batch rules
    (``sources.walk_local``): hidden ``.``/``_`` entries, special files
    (a FIFO would block the read), symlinks leaving the directory and
    newsbeam output folders are skipped, each counted under
    ``files_skipped.<rule>``. A name that is not valid UTF-8 cannot be a
    state key: it is skipped and counted (``files_skipped.non_utf8_name``).
    """
    directory = pattern.endswith("/") or ("://" not in pattern and os.path.isdir(pattern))
    if directory and "://" not in pattern:
        return _local_landing(pattern.rstrip("/") or "/")
    base = pattern.rstrip("/") + "/"
    try:
        matched = FileSystems.match([base + "**" if directory else pattern])[0].metadata_list
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


def _local_landing(folder: str) -> list[FileSeen]:
    if not os.path.isdir(folder):
        return []
    paths, skipped = walk_local(folder)
    seen = []
    for path in paths:
        if isinstance(portable_path(path), bytes):
            skipped["non_utf8_name"] += 1
            continue
        try:
            status = os.stat(path)
        except OSError:  # gone since it was listed
            continue
        seen.append(FileSeen(path, status.st_size, status.st_mtime))
    for rule, count in skipped.items():
        counter(f"files_skipped.{rule}").inc(count)
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
    random token per name keeps every pane's file apart. A window beyond
    Python's dates is named by ``moment_label`` rather than failing the write.
    """

    def name(window_: Any, pane: Any, shard_index: int, total_shards: int, compression: Any, destination: str) -> str:
        start = moment_label(window_.start) if hasattr(window_, "start") else "global"
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
