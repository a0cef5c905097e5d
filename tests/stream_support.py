"""Helpers shared by the streaming tests: TestStream pipelines, stamped articles, windowed files read back.

``TestStream`` runs only on the BundleBasedDirectRunner locally. Its
pipelines run pickled copies of everything, so what reaches an
``assert_that`` is saved to a file (``collector``) and read back after the
run (``collected``).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Optional

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.utils.timestamp import Duration, Timestamp
from support import blank_article

from schemas import Article

#: Midnight UTC, so windows before it land in the previous day's partition.
BASE = Timestamp.from_utc_datetime(datetime(2024, 3, 10, tzinfo=UTC))
ARTICLE_CODER = beam.coders.registry.get_coder(Article)
#: The name of a file ``WriteWindowedParquet`` writes.
FILE_NAME = re.compile(
    r"^part-(?P<run>[\w.-]+?)-w(?P<window>\d{8}T\d{6})-(?P<token>[0-9a-f]{12})-(?P<shard>\d{5})\.parquet$"
)


def streaming_pipeline() -> beam.Pipeline:
    return beam.Pipeline(runner=BundleBasedDirectRunner(), options=PipelineOptions(streaming=True))


def collector(directory: str, name: str) -> Callable[[list[Any]], None]:
    """A matcher body that saves what reached it: the pipeline runs pickled copies, so no shared list would fill."""
    path = os.path.join(directory, f"{name}.json")

    def save(items: list[Any]) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump([list(item) for item in items], handle)

    return save


def collected(directory: str, name: str) -> list[tuple[Any, ...]]:
    path = os.path.join(directory, f"{name}.json")
    assert os.path.exists(path), f"nothing reached {name}"
    with open(path, encoding="utf-8") as handle:
        return [tuple(item) for item in json.load(handle)]


def article(article_id: str, published: Optional[Timestamp] = None, **fields: Any) -> Article:
    fields.setdefault("source", f"http://feeds.test/{article_id}")
    fields.setdefault("url", f"http://news.test/{article_id}")
    fields.setdefault("ingested_at", BASE)
    return blank_article(article_id=article_id, published_at=published, **fields)


def at(seconds: float) -> Timestamp:
    return BASE + Duration(seconds=seconds)


def written_files(root: Path) -> list[Path]:
    """Finished Parquet files (what ``_staging`` holds is not output)."""
    return sorted(p for p in root.rglob("*.parquet") if "_staging" not in p.relative_to(root).parts)


def files_by_window(table_dir: Path) -> dict[tuple[str, str, str], list[str]]:
    """(partition folder, window start, file token) → the ids in that file, each file read alone with pyarrow.

    Every pane of a window is a file of its own, told apart by the random
    token in its name (fileio gives the naming function no pane index).
    """
    grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for path in written_files(table_dir):
        match = FILE_NAME.match(path.name)
        assert match, f"unexpected file name {path.name}"
        table = pq.read_table(path)
        assert table.num_rows > 0, f"empty file {path}"
        grouped[(path.parent.name, match["window"], match["token"])].extend(table.column("article_id").to_pylist())
    return dict(grouped)


def duckdb_rows(table_dir: Path, columns: str) -> list[tuple[Any, ...]]:
    pattern = table_dir / "**" / "*.parquet"
    return duckdb.sql(f"SELECT {columns} FROM read_parquet('{pattern}', hive_partitioning = true)").fetchall()


def assert_every_file_reads(root: Path) -> list[Path]:
    """Every finished Parquet file under ``root`` parses, with pyarrow and with DuckDB."""
    files = written_files(root)
    assert files, f"no Parquet under {root}"
    for path in files:
        pq.read_table(path)
        duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    return files
