"""Per-host scheduling: politeness per host, hosts in parallel, shared by every transform that fetches.

A host gets at most N requests at once and a minimum gap between request
starts, however many transforms fetch from it: the two OPML rounds of a
batch run, a stream's polls of listed and unlisted feeds, and the pages the
articles link to. So the gates and slots are not module globals (each
worker process would hold one set, invisible to the graph) but one
``FetchContext`` per process, acquired through Beam's ``Shared`` from a
``SharedFetchContext`` handle: the transforms given the same handle share a
host's limits, as the NER model is shared (``transforms/entities.py``).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar
from urllib.parse import urlparse

from apache_beam.utils.shared import Shared

from transforms.fetch.watchdog import StopSignal, Watchdog

T = TypeVar("T")
J = TypeVar("J")


def host_of(url: str) -> str:
    return (urlparse(url).hostname or "").lower()


class HostGate:
    """Spaces request starts to one host at least ``delay`` seconds apart, across threads."""

    def __init__(
        self,
        delay: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def __call__(self) -> None:
        self.wait_turn()

    def wait_turn(self, stop: Optional[StopSignal] = None) -> bool:
        """Waits for this caller's turn; False when ``stop`` was set meanwhile (the turn is not to be used)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.delay
        if start > now:
            if stop is not None:
                return not stop.wait(start - now)
            self._sleep(start - now)
        return stop is None or not stop.is_set()


class FetchContext:
    """One process's fetching, shared by every transform given the same handle: host gates, host slots, a watchdog.

    Weak-referenceable, as ``Shared`` requires. Never made at import: a
    DoFn acquires it in ``setup`` through its ``SharedFetchContext``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[str, HostGate] = {}
        self._slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
        #: Cuts off the responses of every session made with it (``client.make_session``).
        self.watchdog = Watchdog()

    def gate(self, host: str, delay: float) -> HostGate:
        """The gate for ``host``: shared by every fetch under this context (both OPML rounds
        included), so the delay between two requests to a host holds across them."""
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = HostGate(delay)
            gate.delay = delay
            return gate

    def slots(self, host: str, concurrency: int) -> threading.BoundedSemaphore:
        """The limit on requests in flight to ``host`` (for fetches not scheduled by ``fetch_all``)."""
        with self._lock:
            slots = self._slots.get((host, concurrency))
            if slots is None:
                slots = self._slots[(host, concurrency)] = threading.BoundedSemaphore(concurrency)
            return slots


class SharedFetchContext:
    """A picklable handle on a ``FetchContext``: every copy of it in one process reaches the same one.

    Give the same handle to every transform whose requests must share a
    host's limits; two handles are two contexts (Beam's ``Shared`` keys each
    handle apart). The context is acquired once per copy and kept, so the
    DoFns holding a copy keep it alive between the stages that use it.
    """

    def __init__(self) -> None:
        self._shared = Shared()
        self._context: Optional[FetchContext] = None

    def __getstate__(self) -> dict[str, Any]:
        return {"_shared": self._shared}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._shared = state["_shared"]
        self._context = None

    def acquire(self) -> FetchContext:
        if self._context is None:
            self._context = self._shared.acquire(FetchContext, tag="fetch-context")
        return self._context


def fetch_all(
    jobs: Iterable[J],
    work: Callable[[J, HostGate], T],
    key: Callable[[J], str],
    threads: int,
    per_host: int,
    delay: float,
    gate_for: Optional[Callable[[str], HostGate]] = None,
) -> Iterator[tuple[J, T | BaseException]]:
    """Runs ``work`` on every job, yielding ``(job, result or exception)`` as each finishes.

    Each host gets at most ``per_host`` lanes; a lane takes that host's jobs
    one after another, passing through the host's gate before each request.
    Lanes of different hosts run side by side on ``threads`` threads, so one
    slow or rate-limited host never holds up the others, and a lane never
    waits on a host it is not fetching.
    """
    by_host: dict[str, queue.SimpleQueue[J]] = {}
    total = 0
    for job in jobs:
        by_host.setdefault(key(job), queue.SimpleQueue()).put(job)
        total += 1
    if not total:
        return
    gates = {host: gate_for(host) if gate_for else HostGate(delay) for host in by_host}
    done: queue.SimpleQueue[tuple[J, T | BaseException]] = queue.SimpleQueue()

    def lane(host: str) -> None:
        pending = by_host[host]
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((job, work(job, gates[host])))
            except BaseException as error:  # noqa: BLE001 - handed to the caller, never lost
                done.put((job, error))

    lanes = [host for index in range(per_host) for host in by_host if by_host[host].qsize() > index]
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="newsbeam-fetch") as pool:
        for host in lanes:
            pool.submit(lane, host)
        for _ in range(total):
            yield done.get()
