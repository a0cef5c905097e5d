"""Helpers shared by the test modules: paths, pipelines, counters, Parquet read-back.

Every pipeline here is a real Beam pipeline on the in-process FnApiRunner
(``make_runner("DirectRunner")``): the bare DirectRunner would first try to
download Prism.
"""

from __future__ import annotations

import codecs
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import pyarrow.dataset as ds
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import BeamAssertException
from apache_beam.utils.timestamp import Timestamp

from pipeline.runners import make_runner
from schemas import SCHEMA_VERSION, Article, EncodingInfo, RawDocument

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
EXPECTED = SEEDS / "_expected"
CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"
NAMESPACE = "newsbeam"


def new_pipeline() -> TestPipeline:
    """A TestPipeline on the in-process runner (never the network-bound DirectRunner default)."""
    return TestPipeline(runner=make_runner("DirectRunner"), options=PipelineOptions([]))


def counters(result: Any, step_prefix: Optional[str] = None) -> Counter[str]:
    """Committed ``newsbeam`` counters of a finished pipeline, optionally only of steps under a label."""
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    totals: Counter[str] = Counter()
    for item in query["counters"]:
        if step_prefix is not None and not item.key.step.startswith(step_prefix):
            continue
        value = item.committed if item.committed is not None else item.attempted
        totals[item.key.metric.name] += int(value or 0)
    return totals


def document(path: Path, source: Optional[str] = None, payload: Optional[bytes] = None) -> RawDocument:
    """A ``RawDocument`` as ``ReadDocuments`` makes it for a (non-gzip) file."""
    return RawDocument(
        source=source or str(path),
        source_type="file",
        payload=payload if payload is not None else path.read_bytes(),
        fetched_at=Timestamp.of(time.time()),
        content_type=None,
        parent=None,
    )


def load_expected(name: str) -> dict[str, Any]:
    return json.loads((EXPECTED / name).read_text(encoding="utf-8"))


def expected_fixture_files() -> list[Path]:
    return sorted(p for p in EXPECTED.glob("*.json") if p.name != "ingest_seeds.json")


def same_codec(a: Optional[str], b: Optional[str]) -> bool:
    if a is None or b is None:
        return a is b
    return codecs.lookup(a).name == codecs.lookup(b).name


def read_articles_pyarrow(output: Path) -> list[dict[str, Any]]:
    """Every article row, with the Hive partition column, read back with pyarrow.dataset."""
    directory = output / "articles"
    if not directory.exists():
        return []
    table = ds.dataset(str(directory), format="parquet", partitioning="hive").to_table()
    return table.to_pylist()


def read_dead_letters_pyarrow(output: Path) -> list[dict[str, Any]]:
    directory = output / "dead_letter"
    if not directory.exists():
        return []
    return ds.dataset(str(directory), format="parquet", partitioning="hive").to_table().to_pylist()


def parquet_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.parquet")) if directory.exists() else []


def run_summary(output: Path, run_id: Optional[str] = None) -> dict[str, Any]:
    """The summary of run ``run_id``, or of the latest run under ``output``."""
    if run_id is not None:
        return json.loads((output / "runs" / f"{run_id}.json").read_text(encoding="utf-8"))
    runs = sorted((output / "runs").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    assert runs, f"no run summary under {output / 'runs'}"
    return json.loads(runs[-1].read_text(encoding="utf-8"))


def matcher(function: Any) -> Any:
    """Wraps a plain ``function(actual_list)`` that uses ``assert`` into an ``assert_that`` matcher."""

    def _match(actual: Iterable[Any]) -> None:
        try:
            function(list(actual))
        except AssertionError as error:
            raise BeamAssertException(str(error)) from error

    return _match


def blank_article(**fields: Any) -> Article:
    """An ``Article`` with every column empty or neutral, then ``fields`` set: tests name only what matters."""
    base = Article(
        article_id="a",
        schema_version=np.int32(SCHEMA_VERSION),
        run_id="run-test",
        ingested_at=Timestamp(0),
        source_type="file",
        source="test",
        source_domain=None,
        url=None,
        guid=None,
        title=None,
        subtitle=None,
        dateline=None,
        authors=[],
        published_at=None,
        published_raw=None,
        published_offset_minutes=None,
        text="",
        language="en",
        word_count=np.int32(0),
        categories=[],
        encoding=EncodingInfo("utf-8", "utf-8", None, []),
        content_hash="0" * 64,
        entities=[],
        people=[],
        organizations=[],
        locations=[],
        countries=[],
    )
    return base._replace(**fields)
