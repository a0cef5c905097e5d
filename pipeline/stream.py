"""``newsbeam stream``: the unbounded pipeline — poll feeds, write windowed Parquet.

Same transforms as batch in the middle (parse, enrich, entities); only the
source (poll ticks), the dedup (keyed state with expiry instead of one
CoGroupByKey) and the sink (windows through ``fileio``) differ.

Locally the ticks come from a ``TestStream`` fed in real time by
``TickServer`` (a gRPC TestStreamService in this process): Beam 2.77's local
streaming runner, the BundleBasedDirectRunner, cannot run the
``PeriodicImpulse`` splittable DoFn ("was not replaced as expected"), and the
FnApiRunner would run it but hold every window until the end. When the tick
server stops (``--stop-after``, or Ctrl-C) it stops the fetches
(``StreamControl``: none starts, waits end, requests in flight are cut off
after ``STOP_CUT_AFTER`` seconds), sends a last *drain* tick that collects
every feed's fetch (``STOP_FETCH_GRACE`` seconds in all, then what is left
is abandoned and counted), and ends the stream: the watermark goes to
infinity and every open window is flushed, whatever a server is doing.
On Dataflow the ticks are a ``PeriodicImpulse``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Any, Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam import coders
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.test_stream_service import TestStreamServiceController
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from pipeline.settings import StreamConfig
from pipeline.steps import AFTER_DEDUP, Step, add_steps
from schemas import (
    ARTICLE_SCHEMA,
    CLUSTER_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FEED_HEALTH_SCHEMA,
    DeadLetter,
    FeedFetch,
    FeedRequest,
)
from transforms.archive import WriteWarc
from transforms.clusters import CLUSTERS, ClusterStoriesContinuously, article_tallies, cluster_partition, row_tallies
from transforms.enrich import Enrich
from transforms.errors import DEAD_LETTER, READ_STAGES, SKIPPED, skip_tallies
from transforms.fetch import (
    EXCHANGES,
    FETCHES,
    LISTED,
    SKIP_TALLIES,
    STOP_CUT_AFTER,
    STREAKS,
    PollFeeds,
    StreamControl,
    feed_requests,
)
from transforms.formats.base import Format
from transforms.formats.registry import formats_for
from transforms.health import FEED_HEALTH, FEED_STATE, PollHealth, ReadFeedState, health_partition
from transforms.identify import DUPLICATES, DeduplicateContinuously, ReadExistingIds
from transforms.pages import page_tallies
from transforms.parse import OUTCOMES, ParseDocuments
from transforms.select import SelectArticles
from transforms.sinks import (
    ARTICLES,
    DEAD_LETTERS,
    WriteWindowedParquet,
    article_partition,
    dead_letter_partition,
    join,
)
from transforms.sources import (
    RANGES,
    URLS,
    ReadFileRanges,
    WatchFiles,
    _ReadFile,
    is_url,
    looks_like_opml,
    opml_feeds,
    read_bytes,
    resolve_relative,
)
from transforms.windows import WindowReport, to_event_time

_Event = beam_runner_api_pb2.TestStreamPayload.Event
#: Tick kinds on the one tick stream: a poll, a watch of the landing folders,
#: and the drain, the last poll of every feed once the stream is stopping.
POLL, WATCH, DRAIN = "poll", "watch", "drain"
_TICK_CODER = coders.FastPrimitivesCoder()
_LOG = logging.getLogger("newsbeam")
#: The TestStream reader gives up after 30 s without an event: heartbeat well before. Each
#: heartbeat advances the watermark, which is when the polls' harvest timers look at their fetches.
_HEARTBEAT = 2.0
#: How often a poll tick held back (the pipeline is still on the previous one) checks again.
_ACK_CHECK = 0.1
#: Poll ticks sent that the pipeline may not have taken up yet: a tick on its way while the last is polled.
_MAX_PENDING_POLLS = 2
#: The longest a poll tick is held back (or three poll intervals, if longer) before polling goes on unpaced.
_MAX_HOLD = 120.0


class TickServer:
    """Feeds a ``TestStream`` with poll ticks in real time, until stopped or ``stop_after`` elapses.

    Each tick is an element ``(kind, seconds since the epoch)`` stamped with
    that time, followed by a watermark advance to it; between ticks the
    watermark is advanced every ``_HEARTBEAT`` seconds, so windows close on
    time even with a long poll interval, and finished fetches are harvested
    promptly. On a stop it stops the fetches (``control``, to be handed to
    the pipeline's ``PollFeeds``), sends one ``DRAIN`` tick, and ends.

    A poll tick waits while the pipeline (``control``) has not yet taken up
    the two before it: a runner slower than the poll interval skips polls
    rather than piling up ticks, so a stop never waits behind a backlog.
    A consumer that takes ticks up without a ``control`` (a bare
    ``TestStream``) is never held back.
    """

    def __init__(
        self,
        poll_interval: float,
        stop_after: Optional[float] = None,
        watch_interval: Optional[float] = None,
        control: Optional[StreamControl] = None,
    ):
        self.poll_interval = poll_interval
        self.stop_after = stop_after
        self.watch_interval = watch_interval
        self.control = control or StreamControl()
        self.stopped = threading.Event()
        self.ticks = 0
        self._controller = TestStreamServiceController(self)

    @property
    def endpoint(self) -> str:
        return str(self._controller.endpoint)

    def start(self) -> TickServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        """Ends the stream (the pipeline then drains); safe to call from a signal handler.

        Only an event is set here; the tick thread wakes on it and stops the fetches.
        """
        self.stopped.set()

    def close(self) -> None:
        self.stopped.set()
        self.control.stop()
        self._controller.stop()

    @property
    def abandoned(self) -> int:
        """Polls whose fetch the stop abandoned (none once every fetch finished in time)."""
        return self.control.abandoned

    def _tick(self, kind: str) -> tuple[Any, int]:
        """A tick event of ``kind`` now, and its time in µs."""
        moment = Timestamp.of(time.time())
        element = beam_runner_api_pb2.TestStreamPayload.TimestampedElement(
            encoded_element=_TICK_CODER.encode((kind, float(moment))), timestamp=moment.micros
        )
        return _Event(element_event=_Event.AddElements(elements=[element])), moment.micros

    def read_multiple(self, _: Any) -> Iterator[Any]:
        started = time.monotonic()
        schedule = {POLL: (started, self.poll_interval)}
        if self.watch_interval:
            schedule[WATCH] = (started, self.watch_interval)
        runtime = self.control.runtime
        unacknowledged: list[int] = []  # µs of the poll ticks sent that the pipeline has not taken up yet
        last_poll_at = started
        warned = False
        last_watermark = float("-inf")
        while not self.stopped.is_set():
            now = time.monotonic()
            if self.stop_after is not None and now - started >= self.stop_after:
                break
            sent = False
            held = False
            for kind, (due, interval) in sorted(schedule.items()):
                if now < due:
                    continue
                unacknowledged = [tick for tick in unacknowledged if not runtime.caught_up(tick)]
                if kind == POLL and len(unacknowledged) >= _MAX_PENDING_POLLS:
                    if now - last_poll_at < max(_MAX_HOLD, 3 * interval):
                        held = True  # the pipeline is behind: no backlog of polls
                        continue
                    if not warned:  # a pipeline that never reports (its polls run in another process)
                        _LOG.warning(
                            "the pipeline reports no poll taken up for %.0f s: polling unpaced", now - last_poll_at
                        )
                        warned = True
                event, micros = self._tick(kind)
                yield event
                sent = True
                if kind == POLL:
                    self.ticks += 1
                    unacknowledged.append(micros)
                    last_poll_at = time.monotonic()
                schedule[kind] = (next_due(due, interval, time.monotonic()), interval)
            if sent or time.monotonic() - last_watermark >= _HEARTBEAT:
                last_watermark = time.monotonic()
                yield _Event(watermark_event=_Event.AdvanceWatermark(new_watermark=Timestamp.of(time.time()).micros))
            next_at = min(due for due, _ in schedule.values())
            wait = min(_HEARTBEAT, max(0.0, next_at - time.monotonic()), last_watermark + _HEARTBEAT - time.monotonic())
            if held:
                wait = min(wait, _ACK_CHECK)
            if self.stop_after is not None:
                wait = min(wait, max(0.0, started + self.stop_after - time.monotonic()))
            self.stopped.wait(max(0.0, wait))
        # Stopping: no fetch starts or waits any more, requests in flight are cut off after
        # STOP_CUT_AFTER; the drain tick gives every feed a last poll that collects what its fetch
        # got. It is an element, so it holds the watermark: whatever it collects reaches its
        # window before the stream's end closes it.
        in_flight = runtime.in_flight
        self.control.stop()
        _LOG.info(
            "stopping: no new fetches; %d in flight get %g s to finish, then the last poll of every feed "
            "and the open windows are written",
            in_flight,
            STOP_CUT_AFTER,
        )
        event, _ = self._tick(DRAIN)
        yield event
        yield _Event(watermark_event=_Event.AdvanceWatermark(new_watermark=Timestamp.of(time.time()).micros))


def next_due(due: float, interval: float, now: float) -> float:
    """The next slot of a fixed-rate schedule after ``now``: slots missed while held back are skipped, not bunched."""
    if interval <= 0:
        return now
    return due + interval * (int(max(0.0, now - due) // interval) + 1)


class Ticks(beam.PTransform):
    """Poll (and watch) ticks: a ``TestStream`` on a tick server's endpoint locally, else ``PeriodicImpulse``s."""

    def __init__(
        self,
        poll_interval: float,
        endpoint: Optional[str] = None,
        stop_after: Optional[float] = None,
        watch_interval: Optional[float] = None,
    ):
        super().__init__()
        self.poll_interval = poll_interval
        self.endpoint = endpoint
        self.stop_after = stop_after
        self.watch_interval = watch_interval

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        if self.endpoint:
            return pbegin | "TickStream" >> TestStream(coder=_TICK_CODER, endpoint=self.endpoint)
        start = time.time()
        stop = start + self.stop_after if self.stop_after else MAX_TIMESTAMP
        intervals = {POLL: self.poll_interval}
        if self.watch_interval:
            intervals[WATCH] = self.watch_interval
        streams = [
            pbegin
            | f"{kind.title()}Impulse"
            >> PeriodicImpulse(start_timestamp=start, stop_timestamp=stop, fire_interval=every)
            | f"As{kind.title()}Tick" >> beam.Map(lambda moment, kind=kind: (kind, float(moment)))
            for kind, every in intervals.items()
        ]
        return tuple(streams) | "AllTicks" >> beam.Flatten()


def feed_list(inputs: Sequence[str], max_bytes: int) -> list[FeedRequest]:
    """The feeds to poll: URLs given, and the URLs local OPML files list (read now, so edits count)."""
    requests: list[FeedRequest] = []
    for value in inputs:
        if is_url(value):
            requests.append(FeedRequest(value, None))
            continue
        try:
            data = read_bytes(value, max_bytes)
        except Exception:  # noqa: BLE001 - an unreadable list yields no feeds this poll; the next may
            continue
        if looks_like_opml(data):
            for reference in opml_feeds(data):
                child = resolve_relative(value, reference)
                if is_url(child):
                    requests.append(FeedRequest(child, value))
    return requests


class _FeedList:
    """Picklable "the feeds now" callable for ``feed_requests``."""

    def __init__(self, inputs: Sequence[str], max_bytes: int):
        self.inputs = list(inputs)
        self.max_bytes = max_bytes

    def __call__(self) -> list[FeedRequest]:
        return feed_list(self.inputs, self.max_bytes)


class StreamOutputs(NamedTuple):
    articles: beam.PCollection
    dead_letters: beam.PCollection
    article_files: beam.PCollection
    dead_letter_files: beam.PCollection
    window_reports: beam.PCollection
    feed_health: beam.PCollection
    feed_health_files: beam.PCollection


def build_stream(
    pipeline: beam.Pipeline,
    config: StreamConfig,
    steps: Sequence[Step] = AFTER_DEDUP,
    formats: Optional[Sequence[Format]] = None,
) -> StreamOutputs:
    """Adds the streaming ingest: ticks → poll → parse → enrich → dedup → entities → event time → windows.

    ``formats``: the input formats (default: ``FORMATS`` as the settings configure them).
    """
    settings = config.settings.with_hosts()
    # A stream has no archive join (its pages are fetched per bundle): archived pages are read as pages.
    formats = formats_for(replace(settings.warc, archived_pages=False)) if formats is None else formats
    ticks = pipeline | "Ticks" >> Ticks(
        config.poll_interval,
        config.tick_endpoint,
        config.stop_after,
        config.watch_interval if config.watch else None,
    )
    polls = ticks | "PollTicks" >> beam.Filter(lambda tick: tick[0] in (POLL, DRAIN))
    control = config.control or StreamControl()
    control.pace()  # this pipeline reports the poll ticks it takes up: the tick server keeps no backlog
    requests = feed_requests(polls, _FeedList(settings.inputs, settings.max_file_bytes), control)
    state = pipeline | "ReadFeedState" >> ReadFeedState(join(settings.output, FEED_STATE))
    initial = beam.pvalue.AsDict(state)
    # One fetch context for every poll of the stream: a host's delay and concurrency hold across them.
    hosts = settings.hosts
    polled = requests | "PollFeeds" >> PollFeeds(
        settings.run_id, settings.fetch, initial, True, control, tick_driven=True, context=hosts
    )
    watched_documents: list[beam.PCollection] = []
    watched_dead: list[beam.PCollection] = []
    watched_skipped: list[beam.PCollection] = []
    listed_requests = [polled[LISTED]]
    if config.watch:
        landed = (
            ticks
            | "WatchTicks" >> beam.Filter(lambda tick: tick[0] == WATCH)
            | "WatchFiles" >> WatchFiles(config.watch)
            | "ReadLanded"
            >> beam.ParDo(
                _ReadFile(settings.run_id, settings.max_file_bytes, settings.opml_local_files, formats)
            ).with_outputs(DEAD_LETTER, URLS, RANGES, SKIPPED, main="documents")
        )
        # A large file landed (a WARC) is read in ranges, as in batch.
        ranged = landed[RANGES] | "ReadLandedRanges" >> ReadFileRanges(
            settings.run_id, settings.max_file_bytes, formats
        )
        watched_documents.extend((landed.documents, ranged.records))
        watched_dead.extend((landed[DEAD_LETTER], ranged[DEAD_LETTER]))
        watched_skipped.extend((landed[SKIPPED], ranged[SKIPPED]))
        listed_requests.append(landed[URLS])  # feeds an OPML file dropped in the directory lists
    listed = (
        tuple(listed_requests)
        | "AllListed" >> beam.Flatten()
        | "PollListedFeeds" >> PollFeeds(settings.run_id, settings.fetch, initial, False, control, context=hosts)
    )
    documents = (polled["documents"], listed["documents"], *watched_documents) | "AllDocuments" >> beam.Flatten()
    parsed = documents | "ParseDocuments" >> ParseDocuments(settings.run_id, settings.max_entries_per_feed, formats)
    enriched = parsed["articles"] | "Enrich" >> Enrich(settings.run_id, settings.ingested_at, settings.uncurl_quotes)
    candidates = enriched["articles"]
    selected_out: list[beam.PCollection] = []
    if settings.selection.selects:
        selected = candidates | "Select" >> SelectArticles(settings.selection)
        candidates = selected.articles
        # Read was tallied when these were parsed: only the skip is.
        selected_out.append(selected[SKIPPED] | "TallySelected" >> beam.FlatMap(skip_tallies, read=False))
    written = pipeline | "ReadExistingIds" >> ReadExistingIds(join(settings.output, ARTICLES))
    identified = candidates | "Identify" >> DeduplicateContinuously(config.dedup_ttl, written)
    articles = identified["articles"]
    exchanges = [polled[EXCHANGES], listed[EXCHANGES]]
    articles, step_dead = add_steps(articles, settings, steps, exchanges)
    if settings.warc_out:
        (
            exchanges
            | "AllExchanges" >> beam.Flatten()
            | "WriteWarc" >> WriteWarc(settings.warc_out, settings.run_id, settings.warc_roll_mb)
        )
    lateness = config.max_age + config.window
    cluster_tallies: list[beam.PCollection] = []
    if settings.clusters.enabled:
        clustered = articles | "ClusterStories" >> ClusterStoriesContinuously(
            settings.clusters, settings.output, settings.run_id, settings.ingested_at
        )
        articles = clustered["articles"]
        cluster_tallies.append(clustered[CLUSTERS] | "TallyClusterRows" >> beam.FlatMap(row_tallies))
        # Rows carry the poll time they were made at: they land in the window being written.
        clustered[CLUSTERS] | "WriteClusters" >> WriteWindowedParquet(
            settings.output,
            CLUSTERS,
            CLUSTER_SCHEMA,
            cluster_partition,
            settings.run_id,
            config.window,
            config.window,
            "cluster_rows",
        )
    timed = articles | "EventTime" >> to_event_time(config.max_age)
    dead_letters = (
        polled[DEAD_LETTER],
        listed[DEAD_LETTER],
        *watched_dead,
        parsed[DEAD_LETTER],
        enriched[DEAD_LETTER],
        *step_dead,
    ) | "CollectDeadLetters" >> beam.Flatten()
    article_files = timed | "WriteArticles" >> WriteWindowedParquet(
        settings.output,
        ARTICLES,
        ARTICLE_SCHEMA,
        article_partition,
        settings.run_id,
        config.window,
        lateness,
        "written",
    )
    dead_letter_files = dead_letters | "WriteDeadLetters" >> WriteWindowedParquet(
        settings.output,
        DEAD_LETTERS,
        DEAD_LETTER_SCHEMA,
        dead_letter_partition,
        settings.run_id,
        config.window,
        lateness,
        "dead_lettered",
    )
    fetches = (polled[FETCHES], listed[FETCHES]) | "AllFetches" >> beam.Flatten()
    health = {
        "fetches": fetches,
        "outcomes": parsed[OUTCOMES],
        "streaks": (polled[STREAKS], listed[STREAKS]) | "AllStreaks" >> beam.Flatten(),
        "new": identified["articles"],
        "duplicates": identified[DUPLICATES],
        "dead_letters": dead_letters,
    } | "FeedHealth" >> PollHealth(settings.run_id, config.window)
    health_files = health | "WriteFeedHealth" >> WriteWindowedParquet(
        settings.output,
        FEED_HEALTH,
        FEED_HEALTH_SCHEMA,
        health_partition,
        settings.run_id,
        config.window,
        config.window,
        "feed_health_rows",
    )
    # Counts per window, from the data: the local runner's metrics are incomplete in streaming.
    tallies = (
        parsed["articles"] | "TallyRead" >> beam.Map(lambda _: ("read", 1)),
        dead_letters | "TallyDead" >> beam.FlatMap(_dead_letter_tallies),
        timed | "TallyWritten" >> beam.Map(lambda _: ("written", 1)),
        identified[DUPLICATES] | "TallyDuplicates" >> beam.Map(lambda _: ("duplicates", 1)),
        fetches | "TallyFetches" >> beam.FlatMap(_fetch_tallies),
        polled[SKIP_TALLIES],
        listed[SKIP_TALLIES],
        (parsed[SKIPPED], *watched_skipped)
        | "AllSkipped" >> beam.Flatten()
        | "TallySkipped" >> beam.FlatMap(skip_tallies),
        *([timed | "TallyPages" >> beam.FlatMap(page_tallies)] if settings.pages.enabled else []),
        *([timed | "TallyClusters" >> beam.FlatMap(article_tallies)] if settings.clusters.enabled else []),
        *cluster_tallies,
        *selected_out,
    ) | "AllTallies" >> beam.Flatten()
    reports = tallies | "WindowReport" >> WindowReport(settings.output, settings.run_id, config.window, lateness)
    return StreamOutputs(timed, dead_letters, article_files, dead_letter_files, reports, health, health_files)


def _dead_letter_tallies(dead: DeadLetter) -> list[tuple[str, int]]:
    tallies = [("dead_lettered", 1), (f"dead_letter.{dead.stage}", 1)]
    if dead.stage in READ_STAGES:  # a record read that never became an article (as in batch)
        tallies.append(("read", 1))
    return tallies


def _fetch_tallies(fetch: FeedFetch) -> list[tuple[str, int]]:
    tallies = [("polled", 1), ("bytes", int(fetch.bytes))]
    if fetch.error_class is not None:
        tallies.append(("failed", 1))
    elif fetch.not_modified:
        tallies.append(("not_modified", 1))
    return tallies
