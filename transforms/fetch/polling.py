"""Feeds polled in a stream: ``PollFeeds``, the streaming twin of ``FetchFeeds``.

Every tick, every feed (``feed_requests``); each feed's ETag,
Last-Modified, refresh hint and failure streak live in keyed state, so each
poll is conditional and a publisher's "not before" is honoured. A poll's
fetch is the batch one (``feeds.fetch_feed`` under the run's
``FetchContext``), run on its own thread by the process's ``_PollRuntime``
so that one feed that hangs never holds up the others, and stopped through
``StreamControl`` when the stream stops.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.transforms import window
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas import FeedRequest, FeedState
from transforms.errors import DEAD_LETTER, ConnectionFailed, counter
from transforms.fetch.client import EXCHANGES, FetchOutcome, make_session
from transforms.fetch.feeds import FETCHES, LISTED, _FetchShard, fetch_feed, validators_for
from transforms.fetch.hosts import FetchContext, SharedFetchContext, host_of
from transforms.fetch.policy import FetchPolicy
from transforms.fetch.watchdog import FetchCancelled, StopSignal

_FEED = ReadModifyWriteStateSpec("feed", beam.coders.registry.get_coder(FeedState))
#: The poll whose fetch is in flight: (token, request, poll time in µs).
_POLL = ReadModifyWriteStateSpec("poll", beam.coders.PickleCoder())
#: The feeds an OPML list named at its last poll, for their drain polls.
_LISTED = ReadModifyWriteStateSpec("listed", beam.coders.PickleCoder())
_HARVEST = TimerSpec("harvest", beam.TimeDomain.WATERMARK)
# Parameter defaults for the stateful DoFns, made once (not a call per signature).
_FEED_PARAM = beam.DoFn.StateParam(_FEED)
_POLL_PARAM = beam.DoFn.StateParam(_POLL)
_LISTED_PARAM = beam.DoFn.StateParam(_LISTED)
_HARVEST_PARAM = beam.DoFn.TimerParam(_HARVEST)
_TIMESTAMP: Any = beam.DoFn.TimestampParam
#: Output tag of ``PollFeeds``: (url, failures in a row before this poll).
STREAKS = "streaks"
#: Seconds between two polls of every feed (``--poll-interval``).
POLL_INTERVAL = 300.0

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
    concurrency and delay limits (the slots and gates of the ``FetchContext``
    the poll hands over, shared with every transform given the same
    handle). Every wait of a fetch honours the stop signal.
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
        self._sessions: dict[tuple[FetchPolicy, FetchContext], Any] = {}
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

    def start(self, token: str, url: str, policy: FetchPolicy, validators: Optional[Any], hosts: FetchContext) -> None:
        future: Future[FetchOutcome] = Future()
        with self._lock:
            self._in_flight[token] = future
            session = self._sessions.get((policy, hosts))
            if session is None:
                session = self._sessions[(policy, hosts)] = make_session(policy, hosts.watchdog)
            slots = self._threads.get(policy.threads)
            if slots is None:
                slots = self._threads[policy.threads] = threading.BoundedSemaphore(max(1, policy.threads))
        thread = threading.Thread(
            target=self._run,
            args=(future, session, slots, url, policy, validators, hosts),
            name="newsbeam-poll",
            daemon=True,
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
        hosts: FetchContext,
    ) -> None:
        try:
            outcome = self._fetch(session, slots, url, policy, validators, hosts)
        except BaseException as error:  # noqa: BLE001 - handed to the poll as this feed's failure, never lost
            outcome = FetchOutcome(url, error=ConnectionFailed(f"fetch crashed: {error!r}", url))
        future.set_result(outcome)

    def _fetch(
        self,
        session: Any,
        slots: threading.BoundedSemaphore,
        url: str,
        policy: FetchPolicy,
        validators: Any,
        hosts: FetchContext,
    ) -> FetchOutcome:
        stop = self.stop
        host = host_of(url)
        per_host = hosts.slots(host, policy.per_host_concurrency)
        gate = hosts.gate(host, policy.per_host_delay)
        return fetch_feed(
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

    Politeness holds per process through the host gates and slots of the
    ``FetchContext`` (shared with every transform given the same handle); the
    first poll of a feed starts from the state a batch run left in
    ``feed_state/`` (a side input), so switching from nightly batch to
    streaming does not refetch everything in full, and honours the refresh
    hint the batch run recorded.
    """

    def __init__(
        self,
        run_id: str,
        policy: FetchPolicy,
        expand_opml: bool,
        control: StreamControl,
        tick_driven: bool = False,
        context: Optional[SharedFetchContext] = None,
    ):
        super().__init__(run_id, policy, expand_opml, context or SharedFetchContext())
        self.control = control
        self.tick_driven = tick_driven
        self._skipped = {reason: counter(f"stream.polls_{reason}") for reason in SKIP_REASONS}

    def setup(self) -> None:
        """Only the fetch context (its handle keeps it): the session and the fetches belong to the process's runtime."""
        self.context.acquire()

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
        runtime.start(token, url, self.policy, validators_for(feed_state.read(), self.policy), self.context.acquire())
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
    ahead of the pipeline. Every ``PollFeeds`` of a stream (and whatever
    else fetches in it) takes the same ``context``, so a host's limits hold
    across them.
    """

    def __init__(
        self,
        run_id: str,
        policy: FetchPolicy,
        initial_state: beam.pvalue.AsSideInput,
        expand_opml: bool = True,
        control: Optional[StreamControl] = None,
        tick_driven: bool = False,
        context: Optional[SharedFetchContext] = None,
    ):
        super().__init__()
        self.run_id = run_id
        self.policy = policy
        self.initial_state = initial_state
        self.expand_opml = expand_opml
        self.control = control or StreamControl()
        self.tick_driven = tick_driven
        self.context = context or SharedFetchContext()

    def expand(self, requests: beam.PCollection[FeedRequest]) -> dict[str, beam.PCollection]:
        polled = (
            requests
            | "KeyByUrl" >> beam.Map(lambda r: (r.url, r)).with_output_types(tuple[str, FeedRequest])
            | "Poll"
            >> beam.ParDo(
                _PollFeed(self.run_id, self.policy, self.expand_opml, self.control, self.tick_driven, self.context),
                self.initial_state,
            ).with_outputs(DEAD_LETTER, FETCHES, LISTED, STREAKS, SKIPPED, EXCHANGES, main="documents")
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
            EXCHANGES: polled[EXCHANGES],
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
