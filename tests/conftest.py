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
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any, Callable, Generator, NoReturn, Optional

import apache_beam as beam
import pytest

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
    return report
