"""The output folder under concurrent, repeated, interrupted and killed runs.

Real runs only: the CLI as subprocesses (two at once, one killed with
SIGKILL in the middle of publishing, one interrupted with SIGINT), a feed
server on 127.0.0.1 that answers slowly so runs overlap for certain, and the
output read back with DuckDB. What must hold: every article once, no run
visible by halves after the next run starts, no earlier run's data lost.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from feedserver import FeedServer, Response, rss
from support import ROOT, SEEDS, run_summary
from test_flex_template import NetworkGuard

from pipeline.output import LOCK, OutputLock, process_start
from pipeline.run import EXIT_LOCKED, EXIT_OK, EXIT_USAGE, run_ingest
from pipeline.signals import EXIT_INTERRUPTED
from pipeline.summary import build_summary, print_summary

ARTICLES = SEEDS / "articles"
BASE_ARGS = ["--runner", "DirectRunner", "--progress-seconds", "0", "--entities", "off"]


def ingest(inputs: list[str], output: Path, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_ingest(inputs, ["--output", str(output), *BASE_ARGS, *extra], out, err)
    return code, out.getvalue(), err.getvalue()


def command(inputs: list[str], output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "ingest", *inputs, "--output", str(output), *BASE_ARGS, *extra]


def start(inputs: list[str], output: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        command(inputs, output, *extra), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def wait_for(predicate: Any, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def article_ids(output: Path) -> list[str]:
    pattern = str(output / "articles" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        return [row[0] for row in con.execute(f"SELECT article_id FROM read_parquet('{pattern}')").fetchall()]
    finally:
        con.close()


def slow_feed(server: FeedServer, seconds: float) -> str:
    entries = [
        {"title": f"Story {i}", "link": f"https://news.example/{i}", "description": f"Story {i} text."}
        for i in range(5)
    ]
    return server.route("/slow.xml", Response(body=rss(entries), delay=seconds))


# ==========================================================================
# One writer at a time
# ==========================================================================


@pytest.mark.slow
def test_two_runs_at_once_write_every_article_once(tmp_path: Path) -> None:
    output = tmp_path / "out"
    with FeedServer() as server:
        inputs = [slow_feed(server, 6.0), str(ARTICLES)]
        first = start(inputs, output, "--allow-private-hosts")
        wait_for((output / LOCK).exists, what="the first run's lock")
        holder = json.loads((output / LOCK).read_text())
        refused = finish(start(inputs, output, "--allow-private-hosts"))
        patient = start(inputs, output, "--allow-private-hosts", "--wait-for-lock", "200")
        code, _, err = finish(first)
        waited = finish(patient)
    assert code == EXIT_OK, err
    assert refused[0] == EXIT_LOCKED, refused
    assert holder["run_id"] in refused[2] and "--wait-for-lock" in refused[2]
    assert "Traceback" not in refused[2]
    assert waited[0] == EXIT_OK, waited[2]
    second = run_summary(output)
    assert second["counts"]["written"] == 0 and second["counts"]["reconciled"] is True
    ids = article_ids(output)
    assert len(ids) == len(set(ids)) > 5
    assert not (output / LOCK).exists()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    record = {"run_id": "crashed-run", "host": socket.gethostname(), "pid": _dead_pid(), "pid_start": "1"}
    (output / LOCK).write_text(json.dumps(record))
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
    assert code == EXIT_OK, err
    assert "took over the lock left by run crashed-run" in err
    assert run_summary(output)["recovered"]


@pytest.mark.slow
def test_a_reused_pid_does_not_keep_a_dead_lock(tmp_path: Path) -> None:
    """Our own pid, with another start time: the process that wrote the lock is gone, its pid reused."""
    output = tmp_path / "out"
    output.mkdir()
    record = {"run_id": "old", "host": socket.gethostname(), "pid": os.getpid(), "pid_start": "1"}
    assert process_start(os.getpid()) not in (None, "1")
    (output / LOCK).write_text(json.dumps(record))
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
    assert code == EXIT_OK, err


@pytest.mark.slow
def test_a_live_lock_of_another_host_is_respected_until_its_heartbeat_stops(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    lock = output / LOCK
    lock.write_text(json.dumps({"run_id": "elsewhere", "host": "another-host.invalid", "pid": 1}))
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
    assert code == EXIT_LOCKED and "run elsewhere" in err and "another-host.invalid" in err
    old = time.time() - 3600
    os.utime(lock, (old, old))  # no heartbeat for an hour
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
    assert code == EXIT_OK, err
    assert "took over" in err


@pytest.mark.slow
def test_a_held_lock_is_kept_fresh_and_released(tmp_path: Path) -> None:
    output = tmp_path / "out"
    with OutputLock(str(output), "holder", heartbeat=0.2).acquire() as lock:
        before = (output / LOCK).stat().st_mtime
        wait_for(lambda: (output / LOCK).stat().st_mtime > before, timeout=30, what="a heartbeat")
        assert not lock.stale(json.loads((output / LOCK).read_text()))
        code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
        assert code == EXIT_LOCKED, err
    assert not (output / LOCK).exists()


# ==========================================================================
# Run ids
# ==========================================================================


@pytest.mark.slow
def test_a_run_id_already_used_is_refused_and_nothing_is_overwritten(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([str(ARTICLES)], output, "--run-id", "nightly-1")[0] == EXIT_OK
    summary = (output / "runs" / "nightly-1.json").read_text()
    before = sorted(article_ids(output))
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output, "--run-id", "nightly-1")
    assert code == EXIT_USAGE
    assert "already used" in err
    assert (output / "runs" / "nightly-1.json").read_text() == summary
    assert sorted(article_ids(output)) == before


@pytest.mark.slow
def test_a_run_id_with_published_files_but_no_summary_is_refused(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert ingest([str(ARTICLES)], output, "--run-id", "r1")[0] == EXIT_OK
    (output / "runs" / "r1.json").unlink()  # the summary lost, the data is there
    code, _, err = ingest([str(ARTICLES)], output, "--run-id", "r1")
    assert code == EXIT_USAGE and "already has published files" in err


# ==========================================================================
# Killed and interrupted runs
# ==========================================================================

KILL_WHILE_PUBLISHING = textwrap.dedent(
    """
    import os, signal, sys
    from apache_beam.io.filesystems import FileSystems
    rename = FileSystems.rename
    moved = []

    def dying_rename(sources, destinations, *args, **kwargs):
        if len(moved) == int(os.environ["MOVES_BEFORE_DEATH"]):
            os.kill(os.getpid(), signal.SIGKILL)
        moved.append(destinations)
        return rename(sources, destinations, *args, **kwargs)

    FileSystems.rename = staticmethod(dying_rename)
    from pipeline.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow
def test_a_run_killed_while_publishing_is_completed_by_the_next_run(tmp_path: Path) -> None:
    output = tmp_path / "out"
    argv = command([str(SEEDS)], output, "--run-id", "killed")[3:]
    env = {**os.environ, "MOVES_BEFORE_DEATH": "3"}
    killed = subprocess.run(
        [sys.executable, "-c", KILL_WHILE_PUBLISHING, *argv], cwd=ROOT, env=env, capture_output=True, timeout=240
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (output / "_staging" / "killed" / "_publish.json").exists()
    assert len(list((output / "articles").rglob("*.parquet"))) == 3  # the state a crash leaves
    code, _, err = ingest([str(SEEDS)], output)
    assert code == EXIT_OK, err
    assert "recovered: run killed died while publishing" in err
    recovered = run_summary(output, "killed")
    assert recovered["state"] == "RECOVERED" and recovered["completed_moves"] == recovered["files"] - 3
    latest = run_summary(output)
    assert latest["counts"]["written"] == 0  # the killed run's articles were all there once completed
    ids = article_ids(output)
    assert len(ids) == len(set(ids)) > 10
    assert not (output / "_staging").exists()


@pytest.mark.slow
def test_an_interrupted_run_says_one_line_and_its_staging_is_removed_next_time(tmp_path: Path) -> None:
    output = tmp_path / "out"
    with FeedServer() as server:
        process = start([slow_feed(server, 100.0)], output, "--allow-private-hosts", "--run-id", "stopped")
        wait_for(lambda: server.requests_for("/slow.xml"), what="the run to start fetching")
        process.send_signal(signal.SIGINT)
        code, out, err = finish(process, timeout=60)
    assert code == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip() and not line.startswith("[newsbeam]")] == [
        "newsbeam: interrupted: nothing of this run was published"
    ]
    assert not (output / LOCK).exists()
    assert (output / "_staging" / "stopped").exists()
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
    assert code == EXIT_OK, err
    assert "recovered: run stopped stopped before publishing" in err
    assert not (output / "_staging").exists()
    assert not (output / "runs" / "stopped.json").exists()


@pytest.mark.slow
def test_staging_of_a_live_run_is_left_alone(tmp_path: Path) -> None:
    """A detached job (or a run of another host) still staging: the next local run must not touch it."""
    output = tmp_path / "out"
    live = output / "_staging" / "detached-job"
    live.mkdir(parents=True)
    (live / "_run.json").write_text(json.dumps({"run_id": "detached-job", "detached": True}))
    (live / "part.parquet").write_bytes(b"staged")
    code, _, err = ingest([str(ARTICLES / "wire_story.txt")], output)
    assert code == EXIT_OK, err
    assert (live / "part.parquet").read_bytes() == b"staged"


# ==========================================================================
# Runners without metrics, dry runs
# ==========================================================================


@pytest.mark.slow
def test_a_dataflow_dry_run_builds_the_job_and_exits_0(tmp_path: Path) -> None:
    guard = NetworkGuard()
    with guard.active():
        code, out, err = ingest(
            [str(ARTICLES), "https://site.example/feed.xml"],
            Path("gs://my-bucket/out"),
            "--runner",
            "DataflowRunner",
            "--project",
            "my-project",
            "--region",
            "us-central1",
            "--temp_location",
            "gs://my-bucket/tmp",
            "--requirements_cache=skip",
            "--dry_run=True",
        )
    assert code == EXIT_OK, err
    assert "dry run" in out and "not submitted" in out
    assert "Traceback" not in err
    assert guard.attempts == []  # built offline: no lookup, no connection beyond loopback


def test_a_summary_without_metrics_says_the_counts_are_unknown(tmp_path: Path) -> None:
    summary = build_summary(
        None,
        run_id="r",
        inputs=[],
        output=str(tmp_path),
        options={},
        started_at="",
        finished_at="",
        elapsed_seconds=1.0,
        state="DONE",
    )
    assert summary["counts"]["reconciled"] is None and "metrics_note" in summary
    printed = io.StringIO()
    print_summary(summary, "runs/r.json", printed)
    assert "counts reconcile: unknown" in printed.getvalue()


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Any:
    yield
    # Subprocesses above are always waited for; a leak would show as a zombie here.
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_zombie_child(int(p))]


def _is_zombie_child(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] == "Z" and int(fields[1]) == os.getpid()
