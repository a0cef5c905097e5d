"""A small output folder as years of newsbeam runs leave it, for ``newsbeam report``'s tests.

``build_output`` writes, with pyarrow, what the pipeline's writers write
(the same Arrow schemas, the same partition folders and file names, batch
and stream names side by side), but every number in it is chosen, so the
tests can state what the report must say:

* 16 articles over five days, from schema versions 1, 2, early 3 (no
  ``text_source``), 3 and 4 (story clusters), each version in files of its
  own columns only, as the release that wrote them did;
* story cluster ``a1``: six members over five outlets, two of which came
  from cluster ``a4``, merged into ``a1`` by a later run (``merged_ids``);
  cluster ``b1``: two articles, written by a run that had no ``clusters/``
  row for it (found by grouping the articles); a hostile title in it;
* dead letters, feed health over three runs (a feed answering 304, one
  failing three times in a row, one failing once after a success), run
  summaries batch and stream.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.utils.timestamp import Timestamp
from support import blank_article

from schemas import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, FEED_HEALTH_SCHEMA, EncodingInfo, Repair, to_arrow_table

#: A title written to break the page: markup, quotes of both kinds, an ampersand, a terminal escape.
HOSTILE_TITLE = '<script>alert("pwned")</script> Harbour & \'quay\' "strike" \x1b[31mred</b>'
HOSTILE_URL = "javascript:alert(1)"

#: Columns each older release did not write (schema_version → columns absent).
_CLUSTER_COLUMNS = ("cluster_id", "cluster_size", "minhash", "cluster_rule")
_PAGE_COLUMNS = (
    "text_source",
    "summary",
    "page_url",
    "page_status",
    "page_error",
    "image_url",
    "site_name",
    "description",
    "canonical_url",
    "published_source",
)
_ENTITY_COLUMNS = ("entities", "people", "organizations", "locations", "countries")
ABSENT = {
    1: (*_ENTITY_COLUMNS, "id_rule", *_PAGE_COLUMNS, *_CLUSTER_COLUMNS),
    2: ("id_rule", *_PAGE_COLUMNS, *_CLUSTER_COLUMNS),
    30: (*_PAGE_COLUMNS, *_CLUSTER_COLUMNS),  # version 3 as first released (id_rule, no page columns)
    3: _CLUSTER_COLUMNS,
    4: (),
}


def at(day: str, hour: int = 12) -> Timestamp:
    moment = dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)
    return Timestamp.from_utc_datetime(moment)


INGESTED = at("2024-03-05", 23)


def article(
    article_id: str,
    day: Optional[str],
    domain: Optional[str],
    title: Optional[str],
    *,
    version: int = 4,
    cluster: Optional[str] = None,
    url: Optional[str] = None,
    **fields: Any,
) -> dict[str, Any]:
    """One article row (as a dict of the current schema), with ``_version`` and ``_cluster`` for the writer."""
    record = blank_article(
        article_id=article_id,
        schema_version=np.int32(3 if version == 30 else version),
        run_id=f"run-v{version}",
        ingested_at=INGESTED,
        source_type="feed",
        source=f"https://{domain}/rss" if domain else "inbox/story.txt",
        source_domain=domain,
        url=url if url is not None else (f"https://{domain}/{article_id}" if domain else None),
        title=title,
        published_at=at(day) if day else None,
        **fields,
    )
    row = to_arrow_table([record], ARTICLE_SCHEMA).to_pylist()[0]
    row["_version"] = version
    row["_cluster"] = cluster if cluster is not None else (article_id if version == 4 else None)
    return row


def repairs(*pairs: tuple[str, int]) -> EncodingInfo:
    return EncodingInfo("utf-8", "utf-8", None, [Repair(kind, np.int32(n)) for kind, n in pairs])


def articles() -> list[dict[str, Any]]:
    a = article
    return [
        # Story a1, six copies (a4 and a5 first formed cluster a4; a6 joined both, merging a4 into a1).
        a(
            "a1",
            "2024-03-01",
            "wire.example",
            "Ferry strike halts harbour crossings",
            cluster="a1",
            people=["Ana Costa"],
            organizations=["Harbour Authority"],
            locations=["Lisbon"],
            countries=["PT"],
            text_source="page",
        ),
        a(
            "a2",
            "2024-03-01",
            "harbour.example",
            "Ferry strike halts crossings",
            cluster="a1",
            people=["Ana Costa"],
            organizations=["Harbour Authority"],
            countries=["PT"],
            text_source="page",
        ),
        a(
            "a3",
            "2024-03-02",
            "city.example",
            "Strike halts ferry crossings",
            cluster="a1",
            people=["Ana Costa", "Rui Lima"],
            text_source="feed",
            page_error="paywall",
            page_url="https://city.example/paywalled/a3",
        ),
        a("a4", "2024-02-28", "valley.example", "Ferry crews vote to strike", cluster="a4", text_source="page"),
        a("a5", "2024-02-29", "quay.test", "Ferry crews vote for a strike", cluster="a4", text_source="page"),
        a("a6", "2024-03-04", "city.example", "Ferry strike: crossings halted", cluster="a1", text_source="page"),
        # Story b1: two copies, no clusters/ row (grouped from the articles); one title hostile.
        a(
            "b1",
            "2024-03-03",
            "wire.example",
            "Quay wall repairs start",
            cluster="b1",
            text_source="feed",
            page_error="http_404",
            page_url="https://wire.example/b1",
            language="fr",
        ),
        a(
            "b2",
            "2024-03-03",
            "harbour.example",
            HOSTILE_TITLE,
            cluster="b1",
            url=HOSTILE_URL,
            text_source="feed",
            page_error="http_404",
            language="fr",
        ),
        # Singletons of version 4: a cluster of one is not a story cluster.
        a(
            "c1",
            "2024-03-04",
            "wire.example",
            "Council approves budget",
            text_source="feed",
            page_error="timeout",
            people=["Rui Lima"],
            encoding=repairs(("mojibake:sloppy-windows-1252", 2), ("lost_bytes:quote", 1)),
        ),
        # Version 3 (late: page columns), early 3 (no page columns), 2 (entities), 1 (none of these).
        a(
            "d1",
            "2024-03-02",
            "city.example",
            "Tram line reopens",
            version=3,
            text_source="file",
            language="de",
            people=["Ana Costa"],
            encoding=repairs(("lost_bytes:quote", 3)),
        ),
        a("d2", "2024-03-05", "valley.example", "Valley road closed", version=30, people=["Rui Lima"]),
        a("e1", "2024-03-01", "wire.example", "Market opens early", version=2, people=["Ana Costa"]),
        a("e2", "2024-03-05", "harbour.example", "Tide tables", version=2),
        a("f1", "2024-03-02", "wire.example", "Weather warning", version=1),
        a("f2", None, None, "Undated note", version=1),  # no date: filed under its ingest day, 2024-03-05
        a("f3", "0001-01-01", "city.example", "Year-one date", version=1),  # implausible: its ingest day too
    ]


def cluster_schema() -> pa.Schema:
    """The ``clusters/`` schema: the pipeline's own when the tree has it, else the documented columns."""
    try:
        from schemas import CLUSTER_SCHEMA  # type: ignore[attr-defined]

        return CLUSTER_SCHEMA
    except ImportError:
        time = pa.timestamp("us", tz="UTC")
        return pa.schema(
            [
                ("cluster_id", pa.string()),
                ("size", pa.int64()),
                ("first_seen", time),
                ("last_seen", time),
                ("sources", pa.list_(pa.string())),
                ("title", pa.string()),
                ("merged_ids", pa.list_(pa.string())),
                ("run_id", pa.string()),
                ("updated_at", time),
                ("cluster_rule", pa.int32()),
            ]
        )


def _utc(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def cluster_rows() -> list[dict[str, Any]]:
    """Three runs' rows: a4 formed (r1), a1 formed (r2), a1 grew and absorbed a4 (r3)."""
    base = {"cluster_rule": 1}
    return [
        {
            **base,
            "cluster_id": "a4",
            "size": 2,
            "first_seen": _utc("2024-02-28"),
            "last_seen": _utc("2024-02-29"),
            "sources": ["quay.test", "valley.example"],
            "title": "Ferry crews vote to strike",
            "merged_ids": [],
            "run_id": "r1",
            "updated_at": _utc("2024-02-29", 23),
        },
        {
            **base,
            "cluster_id": "a1",
            "size": 3,
            "first_seen": _utc("2024-03-01"),
            "last_seen": _utc("2024-03-02"),
            "sources": ["city.example", "harbour.example", "wire.example"],
            "title": "Ferry strike halts harbour crossings",
            "merged_ids": [],
            "run_id": "r2",
            "updated_at": _utc("2024-03-02", 23),
        },
        {
            **base,
            "cluster_id": "a1",
            "size": 6,
            "first_seen": _utc("2024-02-28"),
            "last_seen": _utc("2024-03-04"),
            "sources": ["city.example", "harbour.example", "quay.test", "valley.example", "wire.example"],
            "title": "Ferry strike halts harbour crossings",
            "merged_ids": ["a4"],
            "run_id": "r3",
            "updated_at": _utc("2024-03-04", 23),
        },
    ]


def health_row(run: str, day: str, url: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": run,
        "url": url,
        "final_url": None,
        "parent": None,
        "kind": "feed",
        "status": 200,
        "error_class": None,
        "error_message": None,
        "bytes": 1000,
        "entries_seen": 1,
        "new_articles": 1,
        "duplicates": 0,
        "dead_lettered": 0,
        "not_modified": False,
        "attempts": 1,
        "redirects": 0,
        "elapsed_ms": 100,
        "consecutive_failures": 0,
        "content_type": "application/rss+xml",
        "fetched_at": _utc(day, 6),
    }
    row.update(fields)
    return row


def health_rows() -> list[dict[str, Any]]:
    ok, down, flaky = "https://wire.example/rss", "https://down.example/rss", "https://flaky.example/rss"
    fail = {
        "status": 503,
        "error_class": "HTTPError",
        "error_message": "503 Service Unavailable",
        "entries_seen": 0,
        "new_articles": 0,
    }
    return [
        health_row("r1", "2024-03-01", ok, elapsed_ms=100),
        health_row("r2", "2024-03-02", ok, status=304, not_modified=True, elapsed_ms=20, new_articles=0),
        health_row("r3", "2024-03-03", ok, status=304, not_modified=True, elapsed_ms=30, new_articles=0),
        health_row("r1", "2024-03-01", down, **fail, elapsed_ms=900, consecutive_failures=1),
        health_row("r2", "2024-03-02", down, **fail, elapsed_ms=1100, consecutive_failures=2),
        health_row(
            "r3",
            "2024-03-03",
            down,
            status=None,
            error_class="ConnectionFailed",
            error_message="connection refused",
            elapsed_ms=5,
            consecutive_failures=3,
            entries_seen=0,
            new_articles=0,
        ),
        health_row("r1", "2024-03-01", flaky, elapsed_ms=300),
        health_row("r2", "2024-03-02", flaky, elapsed_ms=500),
        health_row("r3", "2024-03-03", flaky, **fail, elapsed_ms=700, consecutive_failures=1),
    ]


def dead_rows() -> list[dict[str, Any]]:
    def row(stage: str, error: str, message: str, day: str) -> dict[str, Any]:
        return {
            "stage": stage,
            "error_type": error,
            "message": message,
            "source": "https://down.example/rss",
            "raw_bytes": None,
            "raw_text": "x",
            "run_id": "r1",
            "time": _utc(day),
        }

    return [
        row("parse", "FeedError", "not a readable feed: first", "2024-03-01"),
        row("parse", "FeedError", "not a readable feed: latest", "2024-03-03"),
        row("fetch", "BlockedURL", "refused: 10.0.0.1 is a private address", "2024-03-02"),
    ]


def _write(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def write_articles(root: Path, rows: list[dict[str, Any]]) -> None:
    """Each (version, partition) group as its own file, with that version's columns only."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in rows:
        published = row["published_at"]
        day = published.date().isoformat() if published is not None and published.year >= 1800 else "2024-03-05"
        groups.setdefault((row["_version"], day), []).append(row)
    for (version, day), members in sorted(groups.items()):
        fields = [f for f in ARTICLE_SCHEMA if f.name not in ABSENT[version] and f.name not in _CLUSTER_COLUMNS]
        schema = pa.schema(
            fields, metadata={b"newsbeam.schema_version": str(min(version, 4) if version != 30 else 3).encode()}
        )
        data = [{k: v for k, v in r.items() if not k.startswith("_")} for r in members]
        table = pa.Table.from_pylist(data, schema=schema)
        if version == 4:
            table = table.append_column(pa.field("cluster_id", pa.string()), pa.array([r["_cluster"] for r in members]))
            table = table.append_column(
                pa.field("cluster_size", pa.int32()), pa.array([None] * len(members), type=pa.int32())
            )
        # A stream names its files by window; a batch run by shard: both layouts are read.
        compact = day.replace("-", "")
        if version == 4 and day == "2024-03-03":
            name = f"part-s1-w{compact}T000000-0123456789ab-00000.parquet"
        else:
            name = f"part-run-v{version}-{compact}-00000.parquet"
        _write(root / "articles" / f"published_date={day}" / name, table)


def write_runs(root: Path) -> None:
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for n, (run, written) in enumerate((("r1", 7), ("r2", 5), ("r3", 4)), 1):
        summary = {
            "run_id": run,
            "state": "DONE",
            "started_at": f"2024-03-0{n}T06:00:00+00:00",
            "finished_at": f"2024-03-0{n}T06:01:00+00:00",
            "counts": {"written": written, "dead_lettered": 1},
        }
        (runs / f"{run}.json").write_text(json.dumps(summary), encoding="utf-8")
    stream = {
        "run_id": "s1",
        "state": "DONE",
        "started_at": "2024-03-03T00:00:00+00:00",
        "counts": {"written": 2},
        "stream": {"polls": 3, "windows": []},
    }
    (runs / "s1.json").write_text(json.dumps(stream), encoding="utf-8")
    (runs / "s1" / "windows").mkdir(parents=True)
    (runs / "s1" / "windows" / "20240303T000000-p0.json").write_text("{}", encoding="utf-8")


def build_output(root: Path, clusters_table: bool = True) -> Path:
    """The whole folder under ``root`` (returned); ``clusters_table=False`` leaves ``clusters/`` out."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "_newsbeam_output.json").write_text('{"what": "newsbeam output folder: not an input"}')
    write_articles(root, articles())
    if clusters_table:
        rows = cluster_rows()
        for run in ("r1", "r2", "r3"):
            mine = [r for r in rows if r["run_id"] == run]
            day = mine[0]["updated_at"].date().isoformat()
            _write(
                root / "clusters" / f"updated_date={day}" / f"part-{run}-00000.parquet",
                pa.Table.from_pylist(mine, schema=cluster_schema()),
            )
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        health = [r for r in health_rows() if r["fetched_at"].date().isoformat() == day]
        _write(
            root / "feed_health" / f"fetch_date={day}" / f"part-r-{day}-00000.parquet",
            pa.Table.from_pylist(health, schema=FEED_HEALTH_SCHEMA),
        )
        dead = [r for r in dead_rows() if r["time"].date().isoformat() == day]
        if dead:
            _write(
                root / "dead_letter" / f"ingest_date={day}" / f"part-r-{day}-00000.parquet",
                pa.Table.from_pylist(dead, schema=DEAD_LETTER_SCHEMA),
            )
    write_runs(root)
    # What a reader must leave alone: a run's staging, and a hidden file.
    _write(root / "_staging" / "r9" / "articles" / "part-r9.parquet", pa.table({"article_id": ["zz"]}))
    _write(root / "articles" / "published_date=2024-03-01" / ".part-hidden.parquet", pa.table({"article_id": ["zz"]}))
    return root
