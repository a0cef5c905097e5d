"""Cutting requests off: a deadline on the whole response, and a stop that every wait honours.

A read timeout cannot stop a server that trickles a byte every few seconds,
and a stopping stream must not wait on it either. So every attempt runs
under a ``Watch`` (its deadline and its ``StopSignal``), and a ``Watchdog``
shuts the attempt's socket down when the deadline passes or the signal is
cut; the read in progress then fails, and the fetch reports why
(``DeadlineExceeded`` or ``FetchCancelled``).

The watchdog is not a process-wide singleton: each ``FetchContext``
(``hosts.py``) holds one, and a session made without one gets its own.
"""

from __future__ import annotations

import heapq
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from transforms.errors import FetchError

#: How long the watchdog's thread waits with nothing to watch before it ends (a new watch starts it again).
_IDLE = 60.0


class FetchCancelled(FetchError):
    """The run is stopping: a fetch in flight, or waiting for its turn, was abandoned.

    Never a fact about the feed: not retried, not a dead letter, not a
    failure in the feed's health; the stream counts the poll as abandoned.
    """


class StopSignal:
    """A stop that every wait of a fetch honours: the back-off, the turn at a host, the request in flight.

    Two steps, each once and from any thread. ``set``: nothing new starts
    (no attempt, no redirect hop, no retry) and every wait wakes, so a fetch
    that is not talking to a server ends in ``FetchCancelled`` at once; a
    request in flight may still finish. ``cut``: the sockets of the requests
    still in flight are shut down (through the watchdogs that watch them), so
    they end in ``FetchCancelled`` too, whatever the server is doing
    (trickling a body, or sending nothing). Only a connection still being
    opened runs on to its connect timeout, and nothing need wait for it.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._cut = threading.Event()
        self._lock = threading.Lock()
        #: The watchdogs that watched a request under this signal: the ones ``cut`` must reach.
        self._watchdogs: list[Watchdog] = []

    def set(self) -> None:
        self._event.set()

    def cut(self) -> None:
        """Sets the signal, and cuts off the requests still in flight under it."""
        self._event.set()
        with self._lock:
            if self._cut.is_set():
                return
            self._cut.set()
            watchdogs = list(self._watchdogs)
        for watchdog in watchdogs:
            watchdog.cancel(self)

    def is_set(self) -> bool:
        return self._event.is_set()

    def is_cut(self) -> bool:
        return self._cut.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleeps ``seconds``, or less if the signal is set meanwhile; True when it is set."""
        return self._event.wait(max(0.0, seconds))

    def enlist(self, watchdog: Watchdog) -> bool:
        """Notes a watchdog that watches a request under this signal; True when the signal is already cut.

        A watch registers with its watchdog first and enlists second, so a
        cut either finds the watch registered, or is seen here and the
        watchdog cuts the watch itself.
        """
        with self._lock:
            if not any(known is watchdog for known in self._watchdogs):
                self._watchdogs.append(watchdog)
            return self._cut.is_set()


class Watch:
    """One attempt's deadline (monotonic seconds), its stop signal, and whether either cut it off."""

    def __init__(self, deadline: float, stop: Optional[StopSignal] = None):
        self.deadline = deadline
        self.stop = stop
        self.fired = False
        self.cancelled = False
        self.sock: Any = None


class Watchdog:
    """A thread that shuts down the sockets of responses past their deadline or stopped.

    Cheaper than a timer thread per request: registering is a heap push under
    a lock, and the thread sleeps until the earliest deadline (it ends after
    a minute with nothing to watch, and the next watch starts it again). A
    stop signal shuts its watches' sockets down at once (``cancel``), and a
    watch registered after its signal was cut is shut down as it registers.

    It also carries the watch of the request each thread is making
    (``attempt``/``current``): urllib3 gives a connection no per-request
    argument, so the connection finds the watch here when the response
    head starts to arrive.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._active: dict[int, tuple[Watch, Any]] = {}
        self._next = 0
        self._thread: Optional[threading.Thread] = None
        self._attempts = threading.local()

    @contextmanager
    def attempt(self, watch: Watch) -> Iterator[None]:
        """Makes ``watch`` the current thread's watch while its request is sent and its head read."""
        self._attempts.current = watch
        try:
            yield
        finally:
            self._attempts.current = None

    def current(self) -> Optional[Watch]:
        """The watch of the request the current thread is making, if any."""
        return getattr(self._attempts, "current", None)

    def watch(self, watch: Watch, sock: Any) -> int:
        with self._lock:
            self._next += 1
            token = self._next
            self._active[token] = (watch, sock)
            heapq.heappush(self._heap, (watch.deadline, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="newsbeam-fetch-watchdog", daemon=True)
                self._thread.start()
            self._lock.notify()
        if watch.stop is not None and watch.stop.enlist(self):
            self._cut([token], cancelled=True)  # the cut came before this watch registered
        return token

    def release(self, token: int) -> None:
        with self._lock:
            self._active.pop(token, None)

    def cancel(self, stop: StopSignal) -> None:
        """Shuts down every socket watched under ``stop``."""
        with self._lock:
            tokens = [token for token, (watch, _) in self._active.items() if watch.stop is stop]
        self._cut(tokens, cancelled=True)

    def _cut(self, tokens: list[int], cancelled: bool) -> None:
        cut = []
        with self._lock:
            for token in tokens:
                entry = self._active.pop(token, None)
                if entry is not None:
                    cut.append(entry)
        for watch, sock in cut:
            if cancelled:
                watch.cancelled = True
            else:
                watch.fired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _run(self) -> None:
        idle = False
        while True:
            with self._lock:
                while self._heap and self._heap[0][1] not in self._active:
                    heapq.heappop(self._heap)  # released before its deadline
                if not self._heap:
                    if idle:
                        self._thread = None  # under the lock: the next watch starts a new thread
                        return
                    idle = True
                    self._lock.wait(timeout=_IDLE)
                    continue
                idle = False
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
            self._cut([token], cancelled=False)
