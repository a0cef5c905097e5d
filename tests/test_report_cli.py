"""``newsbeam report`` as a user runs it: a real process over outputs real runs wrote.

Each output is made the way a user makes one (``newsbeam ingest`` of the
seeds, ``newsbeam stream`` against a feed server on 127.0.0.1, an ingest
that reads nothing), and the report is checked against that run's own
summary (``runs/<run id>.json``), not against numbers copied here. The
mixed-version folder is ``report_fixtures.build_output``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, Response, entry, rss, static
from report_fixtures import build_output
from support import SEEDS

pytestmark = pytest.mark.slow  # every test here starts the CLI in a subprocess

NEWSBEAM = Path(sys.executable).parent / "newsbeam"


def newsbeam(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NEWSBEAM), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def report_json(output: Path, *args: str) -> dict[str, Any]:
    done = newsbeam("report", str(output), "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def summary(output: Path, run_id: str) -> dict[str, Any]:
    return json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seeds_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("report-batch") / "out"
    done = newsbeam("ingest", str(SEEDS), "--output", str(output), "--runner", "DirectRunner", "--run-id", "seeds")
    assert done.returncode == 0, done.stderr
    return output


def test_batch_output_agrees_with_its_run_summary(seeds_output: Path, tmp_path: Path) -> None:
    run = summary(seeds_output, "seeds")
    data = report_json(seeds_output)
    assert data["totals"]["articles"] == run["counts"]["written"] > 0
    assert sum(s["articles"] for s in data["sources"]) == run["counts"]["written"]
    by_stage: dict[str, int] = {}
    for row in data["dead_letters"]:
        by_stage[row["stage"]] = by_stage.get(row["stage"], 0) + row["count"]
    assert by_stage == run["dead_lettered_by_stage"]
    assert data["totals"]["failing_feeds"] == run["feeds"]["failing"]
    assert {r["kind"]: r["repairs"] for r in data["repairs"]} == run["repairs"]
    assert [r["run_id"] for r in data["runs"]] == ["seeds"]
    assert data["schema_versions"] == [{"version": run["schema_version"], "articles": run["counts"]["written"]}]

    page, saved = tmp_path / "report.html", tmp_path / "report.json"
    done = newsbeam("report", str(seeds_output), "--html", str(page), "--json", str(saved))
    assert done.returncode == 0, done.stderr
    assert "Articles per source and day" in done.stdout  # the text still goes to the terminal
    assert f"HTML report written to {page}" in done.stderr
    assert json.loads(saved.read_text(encoding="utf-8"))["totals"] == data["totals"]
    assert '<svg class="chart" id="chart-days"' in page.read_text(encoding="utf-8")


def test_range_of_the_batch_output(seeds_output: Path) -> None:
    everything = report_json(seeds_output)
    first_day = everything["totals"]["first_day"]
    one_day = report_json(seeds_output, "--since", first_day, "--until", first_day)
    expected = sum(row["articles"] for row in everything["articles_per_day"] if row["day"] == first_day)
    assert one_day["totals"]["articles"] == expected > 0
    assert one_day["range"] == {"since": first_day, "until": first_day}


def test_stream_output(tmp_path: Path) -> None:
    output = tmp_path / "out"
    with FeedServer() as server:
        good = server.route("/feed.xml", static(rss([entry(n, "report") for n in range(3)]), etag='"r1"'))
        down = server.route("/down.xml", lambda request: Response(503, {}, b"unavailable"))
        done = newsbeam(
            "stream", good, down, "--output", str(output), "--runner", "DirectRunner", "--entities", "off",
            "--allow-private-hosts", "--per-host-delay", "0", "--fetch-retries", "0", "--full-text", "off",
            "--poll-interval", "1", "--window", "2", "--stop-after", "4", "--run-id", "live",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = summary(output, "live")
    data = report_json(output)
    assert data["totals"]["articles"] == run["counts"]["written"] == 3
    feeds = run["feeds"]
    assert data["feeds"]["fetches"] == feeds["fetched"] + feeds["not_modified"] + feeds["failed"]
    assert data["feeds"]["not_modified"] == feeds["not_modified"]
    failing = [f["url"] for f in data["feeds"]["per_feed"] if f["failing"]]
    assert failing == ([down] if feeds["failed"] else [])
    assert data["runs"][0]["mode"] == "stream"


def test_empty_outputs(tmp_path: Path) -> None:
    """An ingest that read nothing leaves only its dead letter and summary; a bare empty folder, nothing."""
    empty_input = tmp_path / "in"
    empty_input.mkdir()
    output = tmp_path / "out"
    done = newsbeam("ingest", str(empty_input), "--output", str(output), "--runner", "DirectRunner", "--run-id", "none")
    assert done.returncode == 4, done.stderr  # nothing could be read
    data = report_json(output)
    assert data["totals"]["articles"] == 0 and data["articles_per_day"] == [] and data["clusters"] == []
    assert [(d["stage"], d["error_type"]) for d in data["dead_letters"]] == [("source", "InputNotFound")]
    bare = tmp_path / "bare"
    bare.mkdir()
    done = newsbeam("report", str(bare))
    assert done.returncode == 0 and "no articles in range" in done.stdout, done.stderr


def test_mixed_schema_versions(tmp_path: Path) -> None:
    output = build_output(tmp_path / "out")
    data = report_json(output)
    assert [v["version"] for v in data["schema_versions"]] == [1, 2, 3, 4]
    assert data["totals"]["articles"] == 16 and data["totals"]["clusters"] == 2
    page = tmp_path / "r.html"
    done = newsbeam("report", str(output), "--since", "2024-03-02", "--until", "2024-03-03", "--html", str(page))
    assert done.returncode == 0, done.stderr
    assert "5 article(s)" in done.stdout and "&lt;script&gt;" in page.read_text(encoding="utf-8")


def test_usage_problems_are_one_line(tmp_path: Path) -> None:
    """As a process: exit 2, one line on stderr, nothing on stdout (every case is in test_report.py, in process)."""
    (tmp_path / "notes.txt").write_text("not an output")
    for args in ([str(tmp_path / "missing")], [str(tmp_path)], [str(tmp_path), "--since", "2024-02-30"]):
        done = newsbeam("report", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("newsbeam: error: ") and done.stderr.count("\n") == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == ""
