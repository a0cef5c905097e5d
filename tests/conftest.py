"""The two test tiers, and the guard that keeps them apart.

``make test`` runs everything; ``make test-fast`` runs ``-m "not slow"``, the
tier to run while working, which must stay under a minute. What makes a test
slow here is always one of a few things: a Beam pipeline run (a second or more
each, even a tiny one on the in-process runner), the CLI in a subprocess (a
fresh interpreter imports Beam: seconds), Dask, a real-time stream, or the
real-feed corpora. Such tests carry ``@pytest.mark.slow`` (a whole module of
them ``pytestmark = pytest.mark.slow``).

A forgotten marker is caught, not left to slow the fast tier down unnoticed:
while a test that is not marked slow runs (its fixtures included),
``Pipeline.run`` and ``subprocess.Popen`` of a Python interpreter or of the
``newsbeam`` command are wrapped to fail it with the marker to add. The guard
runs in every tier, so the full suite in CI fails on it too.

Nothing may leave this machine either: only 127.0.0.1 (loopback) is ever
contacted. For the whole session the network guard of ``tests/netguard/`` is
installed under ``socket`` in this process, and its directory goes first on
``PYTHONPATH`` so that its ``sitecustomize`` installs it in every Python
process a test starts (the CLI, Beam and Dask workers). A lookup of a name
that could reach DNS, or a connection to an address that is not loopback, is
refused before any packet is sent and written to the session's log; after
each phase of a test (set-up, call, tear-down) the log is read and the test
that caused new lines fails, naming the host and the code that asked. Fixture
links use names that never resolve (``.example``, ``.invalid``, ``.test``) or
a server on 127.0.0.1. There is no opt-out: no test needs to reach anything
else.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, NoReturn, Optional

import apache_beam as beam
import pytest
from netguard.newsbeam_netguard import DIRECTORY as NETGUARD_DIRECTORY
from netguard.newsbeam_netguard import ENV_LOG, NetGuard, describe, hosts_file_loopback_names, read_log

SLOW = "slow"

#: What a test not marked slow tried to start, kept so that a start swallowed by the
#: code under test (an ``except BaseException``, a worker thread) still fails the test.
_STARTED = pytest.StashKey[str]()


def _refusal(item: pytest.Item, what: str) -> str:
    return (
        f"{item.nodeid} {what} but is not marked slow: add @pytest.mark.slow to the test "
        "(or pytestmark = pytest.mark.slow to a module whose tests all do this), "
        'so that the fast tier (make test-fast, -m "not slow") stays under a minute'
    )


def _refuse(item: pytest.Item, what: str) -> NoReturn:
    message = _refusal(item, what)
    item.stash[_STARTED] = message
    pytest.fail(message, pytrace=False)


def _python_program(args: Any) -> Optional[str]:
    """The name of what ``Popen(args)`` starts when that is a Python interpreter or the CLI, else None."""
    if isinstance(args, os.PathLike):
        words = [os.fspath(args)]
    elif isinstance(args, (str, bytes)):
        words = os.fsdecode(args).split()  # a command line (shell=True) or a bare program
    else:
        words = [os.fsdecode(arg) for arg in list(args)[:1]]
    program = str(words[0]) if words else ""
    name = os.path.basename(program)
    return name if program == sys.executable or name == "newsbeam" or name.startswith("python") else None


def _guard_run(item: pytest.Item, run: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(run)
    def guarded(self: beam.Pipeline, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(item, "runs a Beam pipeline (Pipeline.run)")

    return guarded


def _guard_popen(item: pytest.Item, init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        program = _python_program(args)
        if program is not None:
            _refuse(item, f"starts {program} in a subprocess")
        init(self, args, *rest, **kwargs)

    return guarded


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Generator[None, Any, Any]:
    if item.get_closest_marker(SLOW) is not None:
        return (yield)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(beam.Pipeline, "run", _guard_run(item, beam.Pipeline.run))
        patch.setattr(subprocess.Popen, "__init__", _guard_popen(item, subprocess.Popen.__init__))
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    message = item.stash.get(_STARTED, None)
    if message is not None and report.passed and report.when == "call":
        report.outcome = "failed"
        report.longrepr = message
    _blame(item, report)
    return report


# --------------------------------------------------------------------------
# The network guard
# --------------------------------------------------------------------------


@dataclass
class _GuardedSession:
    """The session's guard, what undoes it, and how far its log has been read."""

    guard: NetGuard
    uninstall: Callable[[], None]
    folder: str
    environ: dict[str, Optional[str]]
    offset: int = 0
    unattributed: list[dict[str, Any]] = field(default_factory=list)

    def take(self) -> list[dict[str, Any]]:
        """The refusals logged since the last call (in this process or any other of the session)."""
        entries, self.offset = read_log(self.guard.log_path, self.offset)
        return entries


_GUARDED = pytest.StashKey[_GuardedSession]()


def pytest_configure(config: pytest.Config) -> None:
    folder = tempfile.mkdtemp(prefix="newsbeam-netguard-")
    guard = NetGuard(os.path.join(folder, "refusals.jsonl"), hosts_file_loopback_names())
    environ = {name: os.environ.get(name) for name in ("PYTHONPATH", ENV_LOG)}
    inherited = [environ["PYTHONPATH"]] if environ["PYTHONPATH"] else []
    os.environ["PYTHONPATH"] = os.pathsep.join([str(NETGUARD_DIRECTORY), *inherited])
    os.environ[ENV_LOG] = guard.log_path
    config.stash[_GUARDED] = _GuardedSession(guard, guard.install(), folder, environ)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_GUARDED, None)
    if session is None:
        return
    session.uninstall()
    for name, value in session.environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(session.folder, ignore_errors=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What was refused while collecting belongs to no test: kept for the summary, which fails the run."""
    guarded = session.config.stash.get(_GUARDED, None)
    if guarded is not None:
        guarded.unattributed += guarded.take()


def _blame(item: pytest.Item, report: pytest.TestReport) -> None:
    """Fails the phase ``report`` describes when the guard refused anything during it."""
    guarded = item.config.stash.get(_GUARDED, None)
    entries = guarded.take() if guarded is not None else []
    if not entries:
        return
    message = (
        f"{item.nodeid} tried to reach beyond this machine during {report.when}; only loopback may be "
        "contacted in tests (links on .example/.invalid/.test names, pages on a server at 127.0.0.1). "
        f"Refused:\n{describe(entries)}"
    )
    if report.failed:
        report.sections.append(("network guard", message))
    else:
        report.outcome = "failed"
        report.longrepr = message


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    guarded = config.stash.get(_GUARDED, None)
    if guarded is None:
        return
    guarded.unattributed += guarded.take()
    if guarded.unattributed:
        terminalreporter.section("network guard", red=True)
        terminalreporter.line("Refused outside any test (collection, or a process that outlived its test):")
        terminalreporter.line(describe(guarded.unattributed))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guarded = session.config.stash.get(_GUARDED, None)
    if guarded is None:
        return
    guarded.unattributed += guarded.take()
    if guarded.unattributed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
