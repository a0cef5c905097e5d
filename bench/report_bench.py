"""How long ``newsbeam report`` takes on outputs of growing size (medians of several runs, side by side).

A synthetic output of N articles over a year (one Parquet file per day,
the articles' columns that the report reads, in the current schema; a
fifth of the articles in story clusters of two to six, a ``clusters/``
table, a year of feed health for 200 feeds) is written once per size; then
``collect``, ``render_text`` and ``render_html`` are timed, each the median
of ``--repeat`` runs in this one process.

    .venv/bin/python bench/report_bench.py [--sizes 10000 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.report import collect  # noqa: E402
from pipeline.report.page import render_html  # noqa: E402
from pipeline.report.text import render_text  # noqa: E402
from schemas import ARTICLE_SCHEMA, FEED_HEALTH_SCHEMA  # noqa: E402

DAYS = 365
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NAMES = [f"Person {n}" for n in range(500)]
DOMAINS = [f"outlet{n}.example" for n in range(60)]
KINDS = ["mojibake:sloppy-windows-1252", "lost_bytes:quote", "ftfy:unescape_html"]


def _articles(day: int, count: int, rng: random.Random, offset: int) -> pa.Table:
    fields = [
        "article_id", "schema_version", "run_id", "ingested_at", "published_at", "source", "source_domain", "url",
        "title", "language", "text_source", "page_url", "page_error", "people", "organizations", "locations",
        "countries", "encoding", "cluster_id",
    ]  # fmt: skip
    schema = pa.schema([ARTICLE_SCHEMA.field(f) for f in fields if f in ARTICLE_SCHEMA.names])
    moment = START + dt.timedelta(days=day, hours=6)
    rows = []
    for n in range(count):
        number = offset + n
        article_id = f"{number:016x}"
        domain = rng.choice(DOMAINS)
        clustered = number % 5 == 0
        rows.append(
            {
                "article_id": article_id,
                "schema_version": 4,
                "run_id": f"run-{day}",
                "ingested_at": moment,
                "published_at": moment - dt.timedelta(minutes=rng.randrange(600)),
                "source": f"https://{domain}/rss",
                "source_domain": domain,
                "url": f"https://{domain}/{article_id}",
                "title": f"Story {number}",
                "language": rng.choice(["en", "en", "en", "fr", "de", "pt"]),
                "text_source": rng.choice(["page", "page", "feed"]),
                "page_url": None,
                "page_error": rng.choice([None, None, None, "paywall", "http_404", "timeout"]),
                "people": rng.sample(NAMES, 2),
                "organizations": [],
                "locations": [],
                "countries": [rng.choice(["US", "FR", "DE", "BR", "IN"])],
                "encoding": {
                    "codec": "utf-8",
                    "decode_path": "utf-8",
                    "declared": None,
                    "repairs": [{"kind": rng.choice(KINDS), "count": 1}] if number % 7 == 0 else [],
                },
                "cluster_id": f"{(number // 25 * 25):016x}" if clustered else article_id,
            }
        )
    return pa.Table.from_pylist(rows, schema=schema)


def make_output(root: Path, articles: int) -> None:
    rng = random.Random(articles)
    per_day = articles // DAYS
    clusters: dict[str, list[dt.datetime]] = {}
    for day in range(DAYS):
        table = _articles(day, per_day, rng, day * per_day)
        folder = root / "articles" / f"published_date={(START + dt.timedelta(days=day)).date().isoformat()}"
        folder.mkdir(parents=True)
        pq.write_table(table, folder / f"part-run-{day}-00000.parquet", compression="zstd")
        for row in table.select(["article_id", "cluster_id", "published_at"]).to_pylist():
            if row["cluster_id"] != row["article_id"]:
                clusters.setdefault(row["cluster_id"], []).append(row["published_at"])
    table_rows = [
        {"cluster_id": cid, "size": len(times) + 1, "first_seen": min(times), "last_seen": max(times),
         "sources": ["outlet1.example"], "title": f"Story {int(cid, 16)}", "merged_ids": [], "run_id": "r",
         "updated_at": max(times), "cluster_rule": 1}
        for cid, times in clusters.items()
    ]  # fmt: skip
    (root / "clusters" / "updated_date=2025-12-31").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(table_rows), root / "clusters" / "updated_date=2025-12-31" / "part-r.parquet")
    health = [
        {"run_id": f"run-{day}", "url": f"https://outlet{feed % 60}.example/rss{feed}", "final_url": None,
         "parent": None, "kind": "feed", "status": 304 if day % 3 else 200, "error_class": None,
         "error_message": None, "bytes": 0, "entries_seen": 0, "new_articles": 0, "duplicates": 0,
         "dead_lettered": 0, "not_modified": bool(day % 3), "attempts": 1, "redirects": 0,
         "elapsed_ms": rng.randrange(20, 2000), "consecutive_failures": 0, "content_type": None,
         "fetched_at": START + dt.timedelta(days=day, hours=6)}
        for day in range(DAYS)
        for feed in range(200)
    ]  # fmt: skip
    (root / "feed_health").mkdir()
    pq.write_table(pa.Table.from_pylist(health, schema=FEED_HEALTH_SCHEMA), root / "feed_health" / "part-all.parquet")
    (root / "_newsbeam_output.json").write_text("{}")


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'articles':>9}  {'files':>5}  {'collect s':>9}  {'text s':>7}  {'html s':>7}  {'html KB':>7}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            output = Path(scratch) / "out"
            make_output(output, size)
            report = collect(str(output))
            assert report.totals.articles == size // DAYS * DAYS
            collect_s = median_seconds(lambda output=output: collect(str(output)), args.repeat)
            text_s = median_seconds(lambda report=report: render_text(report), args.repeat)
            html_s = median_seconds(lambda report=report: render_html(report), args.repeat)
            page_kb = len(render_html(report).encode()) / 1024
            files = DAYS + 2
            print(f"{size:>9,}  {files:>5}  {collect_s:>9.2f}  {text_s:>7.3f}  {html_s:>7.3f}  {page_kb:>7.0f}")


if __name__ == "__main__":
    main()
