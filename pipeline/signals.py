"""What a run does while it blocks: Ctrl-C handling and progress lines, as context managers.

A batch run and a stream treat Ctrl-C differently: an interrupted batch run
publishes nothing, so it ends at once (``Interruptible``); a stream drains,
writing its open window, and only a second Ctrl-C aborts (``Draining``). Both
install their handler only on the main thread (``signal`` allows no other)
and put the previous one back on exit.
"""

from __future__ import annotations

import abc
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional, TextIO

EXIT_INTERRUPTED = 130
INTERRUPTED_LINE = "newsbeam: interrupted: nothing of this run was published"


class _SigintHandler(abc.ABC):
    """Installs ``handle`` for SIGINT while the context is open, on the main thread only."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    @abc.abstractmethod
    def handle(self, *_: object) -> None:
        """What Ctrl-C does: each subclass is one policy."""

    def __enter__(self) -> Any:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self.handle)
            self._installed = True
        return self

    def __exit__(self, *_: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


class Interruptible(_SigintHandler):
    """Ctrl-C during a batch run: one line, exit 130, at once — not Beam's tracebacks, not a hang.

    An interrupted batch run publishes nothing, so nothing in the pipeline is
    worth waiting for: a step blocked on a slow server (or Beam unwinding the
    interrupt, which it wraps and logs with its stack) could keep the process
    alive for minutes. The handler releases the output (``cleanup``), says
    so in one line and ends the process. Its staging is removed by the next
    run into the output; if the interrupt came while files were being moved
    into place, the next run completes the moves from the journal, exactly
    as after a crash.
    """

    def __init__(self, err: TextIO, cleanup: Callable[[], None]) -> None:
        super().__init__()
        self.err = err
        self.cleanup = cleanup

    def handle(self, *_: object) -> None:
        try:
            self.cleanup()
        finally:
            self.err.write(f"\n{INTERRUPTED_LINE}\n")
            self.err.flush()
            sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)


class Draining(_SigintHandler):
    """Ctrl-C during a stream: the first drains (``stop``: no more polls, the open window is written), a second aborts.

    ``interrupted`` tells the caller afterwards whether the stream ended on a
    Ctrl-C rather than ``--stop-after``, for its summary.
    """

    def __init__(self, err: TextIO, stop: Optional[Callable[[], None]]) -> None:
        super().__init__()
        self.err = err
        self.stop = stop
        self.interrupted = False

    def __enter__(self) -> Draining:
        # Without a way to stop the ticks (a remote runner) Ctrl-C keeps its default meaning.
        return super().__enter__() if self.stop is not None else self

    def handle(self, *_: object) -> None:
        if self.interrupted:  # a second Ctrl-C: stop now, without draining
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.interrupted = True
        self.err.write("[newsbeam] stopping: draining, the open window will be written… (Ctrl-C again to abort)\n")
        if self.stop is not None:
            self.stop()


class Heartbeat:
    """Prints a progress line every few seconds while a local run blocks."""

    def __init__(self, interval: float, out: TextIO):
        self.interval = interval
        self.out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.out.write(f"[newsbeam] running… {time.monotonic() - self._started:.0f}s elapsed\n")
            self.out.flush()

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
