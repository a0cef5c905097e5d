"""``newsbeam stream`` as a user runs it: a real process, Ctrl-C, a landing directory.

The feeds come from a real HTTP server on 127.0.0.1 (tests/feedserver.py);
the output is read back with pyarrow and DuckDB.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from feedserver import FeedServer, entry, rss, static

from pipeline.output import remove_staging
from pipeline.run import run_stream

NEWSBEAM = Path(sys.executable).parent / "newsbeam"
COMMON = ["--runner", "DirectRunner", "--entities", "off", "--allow-private-hosts", "--per-host-delay", "0"]


def parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if "_staging" not in p.parts)


def assert_all_readable(output: Path) -> None:
    files = parquet_files(output)
    assert files, "no Parquet written"
    for path in files:
        pq.read_table(path)  # raises on a corrupt or empty file


@pytest.mark.slow
def test_ctrl_c_drains_and_writes_the_open_window(tmp_path: Path) -> None:
    """SIGINT ends the stream like --stop-after: the open (60 s) window is written, exit 0."""
    output = tmp_path / "out"
    items = [entry(n, "ctrlc") for n in range(4)]
    with FeedServer() as server:
        url = server.route("/feed.xml", static(rss(items), etag='"c1"'))
        args = [str(NEWSBEAM), "stream", url, "--output", str(output), *COMMON]
        args += ["--poll-interval", "2", "--window", "60", "--run-id", "ctrlc"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(server.requests_for("/feed.xml")) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(server.requests_for("/feed.xml")) >= 2, "the stream never polled twice"
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    assert "draining" in err
    assert "(interrupted)" in out
    assert_all_readable(output)
    pattern = output / "articles" / "**" / "*.parquet"
    rows = duckdb.sql(f"SELECT url FROM read_parquet('{pattern}')").fetchall()
    assert sorted(r[0] for r in rows) == sorted(e["link"] for e in items)
    summary = json.loads((output / "runs" / "ctrlc.json").read_text())
    assert summary["counts"]["reconciled"] and summary["counts"]["written"] == 4


@pytest.mark.slow
def test_watched_directory_new_files_are_each_read_once(tmp_path: Path) -> None:
    """Files landing during the run are all ingested once; hidden ones and half-written ones are not read early."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "before.txt").write_text("Ferry timetable changes\nThe harbour authority published new ferry times.\n")
    output = tmp_path / "out"
    dropped: list[str] = []

    def drop_files() -> None:
        for n in range(3):
            time.sleep(1.5)
            path = landing / f"story-{n}.txt"
            # Written in two steps: the watcher must not read the first half alone.
            with path.open("w") as handle:
                handle.write(f"Council story {n} on the new bridge\n")
                handle.flush()
                time.sleep(0.3)
                handle.write(f"The council voted on day {n} to fund the bridge repairs.\n")
            dropped.append(path.name)
        hidden = landing / "_incoming"
        hidden.mkdir()
        (hidden / "partial.txt").write_text("Not yet\nstill being uploaded\n")

    with FeedServer() as server:
        url = server.route("/feed.xml", static(rss([entry(1, "watch")]), etag='"w1"'))
        writer = threading.Thread(target=drop_files, daemon=True)
        writer.start()
        err = io.StringIO()
        code = run_stream(
            [url],
            [
                "--output",
                str(output),
                *COMMON,
                "--watch",
                str(landing),
                "--watch-interval",
                "1",
                "--poll-interval",
                "3",
                "--window",
                "2",
                "--stop-after",
                "9",
                "--run-id",
                "watch",
            ],
            io.StringIO(),
            err,
        )
        writer.join()
    assert code == 0, err.getvalue()
    assert_all_readable(output)
    pattern = output / "articles" / "**" / "*.parquet"
    rows = duckdb.sql(f"SELECT source, title, text FROM read_parquet('{pattern}')").fetchall()
    sources = sorted(os.path.basename(r[0]) for r in rows if r[0].startswith(str(landing)))
    assert sources == sorted(["before.txt", *dropped])
    for source, title, text in rows:
        if "story-" in source:
            assert "voted" in text, (source, title, text)  # read complete, not half-written
    assert not any("partial" in r[0] for r in rows)
    assert len(rows) == len(sources) + 1  # plus the one feed entry
    ((total, distinct),) = duckdb.sql(
        f"SELECT count(*), count(DISTINCT article_id) FROM read_parquet('{pattern}')"
    ).fetchall()
    assert total == distinct
    summary = json.loads((output / "runs" / "watch.json").read_text())
    assert summary["counts"]["reconciled"], summary["counts"]
    assert not (output / "_staging").exists() or not list((output / "_staging").rglob("*"))


def test_remove_staging_keeps_and_reports_unpublished_files(tmp_path: Path) -> None:
    """An empty staging tree is removed; a file still in it is data that was never published: kept, reported."""
    empty = tmp_path / "_staging" / "run-a" / "articles"
    empty.mkdir(parents=True)
    err = io.StringIO()
    remove_staging(str(tmp_path), "run-a", err)
    assert not (tmp_path / "_staging").exists() and err.getvalue() == ""
    stranded = tmp_path / "_staging" / "run-b" / "articles" / "x.parquet"
    stranded.parent.mkdir(parents=True)
    stranded.write_bytes(b"PAR1")
    remove_staging(str(tmp_path), "run-b", err)
    assert stranded.exists()
    assert "1 file(s) left unpublished" in err.getvalue()


@pytest.mark.slow
def test_window_lines_feed_health_per_poll_and_reconciled_counts(tmp_path: Path) -> None:
    """The CLI's per-window lines, one feed_health row per feed per poll, counts that reconcile."""
    output = tmp_path / "out"
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("newsbeam")
    level = logger.level
    logger.setLevel(logging.INFO)  # what main() configures
    logger.addHandler(handler)
    try:
        with FeedServer() as server:
            good = server.route("/good.xml", static(rss([entry(n, "health") for n in range(3)]), etag='"h1"'))
            page = server.route("/page.html", static(b"<html><body>Not a feed</body></html>", content_type="text/html"))
            args = ["--output", str(output), *COMMON, "--poll-interval", "2", "--window", "2", "--stop-after", "7"]
            code = run_stream([good, page], [*args, "--run-id", "health"], io.StringIO(), io.StringIO())
            polls = len(server.requests_for("/good.xml"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert code == 0
    window_lines = [line for line in lines if line.startswith("window ")]
    assert window_lines and all("written" in line and "feeds polled" in line for line in window_lines)
    assert sum(int(line.split(": ", 1)[1].split(" written")[0]) for line in window_lines) == 3
    health_dir = output / "feed_health"
    rows = duckdb.sql(
        f"SELECT url, status, error_class, not_modified, new_articles, consecutive_failures "
        f"FROM read_parquet('{health_dir}/**/*.parquet') ORDER BY url, fetched_at"
    ).fetchall()
    good_rows = [r for r in rows if r[0] == good]
    page_rows = [r for r in rows if r[0] == page]
    assert len(good_rows) == polls >= 2
    assert good_rows[0][1:] == (200, None, False, 3, 0)
    assert all(r[1] == 304 and r[3] for r in good_rows[1:])
    assert [r[2] for r in page_rows] == ["FeedError"] * len(page_rows)
    assert [r[5] for r in page_rows] == list(range(1, len(page_rows) + 1))  # the streak grows poll by poll
    summary = json.loads((output / "runs" / "health.json").read_text())
    counts = summary["counts"]
    assert counts["reconciled"] and counts["written"] == 3 and counts["dead_lettered"] == len(page_rows)
    assert [f["url"] for f in summary["failing_feeds"]] == [page]
    assert summary["feeds"]["not_modified"] == polls - 1
