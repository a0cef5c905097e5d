"""The Parquet writers: batch ``WritePartitionedParquet`` + ``Publish``, streaming ``WriteWindowedParquet``.

* Batch: staged, Hive-partitioned zstd Parquet made visible at the end.
* Streaming: ``to_event_time`` + ``WriteWindowedParquet`` on a ``TestStream``
  (files per window and partition, late data), and ``ParquetSink`` alone.
* Both: one set of writer settings, read back from the files' metadata.
"""

from __future__ import annotations

import io
import os
import typing
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import duckdb
import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp
from stream_support import (
    ARTICLE_CODER,
    BASE,
    assert_every_file_reads,
    at,
    duckdb_rows,
    files_by_window,
    streaming_pipeline,
    written_files,
)
from stream_support import article as stamped_article
from support import blank_article, counters, matcher, new_pipeline, parquet_files

from schemas import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, SCHEMA_VERSION, Article, DeadLetter, EncodingInfo, Repair
from transforms.sinks import (
    ARTICLES,
    DEAD_LETTERS,
    WRITE_OPTIONS,
    ParquetSink,
    Publish,
    WritePartitionedParquet,
    WriteWindowedParquet,
    _WritePartition,
    article_partition,
    dead_letter_partition,
)
from transforms.windows import DAY, to_event_time

RUN = "run-sinks"
INGESTED_AT = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 8, 30, tzinfo=UTC))
WEEK = 7 * DAY


def make_article(
    number: int, published: Optional[datetime], offset: Optional[int] = None, title: Any = None
) -> Article:
    return blank_article(
        article_id=f"id-{number:02d}",
        run_id=RUN,
        ingested_at=INGESTED_AT,
        source_type="feed",
        source="feeds/x.xml",
        source_domain="site.example",
        url=f"https://site.example/{number}",
        title=title if title is not None else f"Article {number}",
        dateline="BEIJING" if number == 0 else None,
        authors=["Ana Lima", "Peter Okafor"] if number % 2 else [],
        published_at=Timestamp.from_utc_datetime(published) if published else None,
        published_raw=published.isoformat() if published else None,
        published_offset_minutes=np.int32(offset) if offset is not None else None,
        text=f"Text of article {number}.",
        word_count=np.int32(4),
        categories=["World"],
        encoding=EncodingInfo("utf-8", "declared", "utf-8", [Repair("lost_bytes:quote", np.int32(number))]),
        content_hash=f"{number:064d}",
    )


MARCH_1 = datetime(2024, 3, 1, 10, tzinfo=UTC)
ARTICLE_RECORDS = [make_article(n, MARCH_1) for n in range(5)] + [
    make_article(5, datetime(2024, 3, 2, 23, 59, 59, 123456, tzinfo=UTC)),
    # 20:00 at UTC-05:00 on 2 March is 3 March in UTC: partitions are UTC dates.
    make_article(6, datetime(2024, 3, 3, 1, 0, tzinfo=UTC), offset=-300),
    make_article(7, None),  # no date: the ingest date
]
DEAD_RECORDS = [
    DeadLetter("parse", "FeedError", "not a feed", "feeds/bad.xml", b"<inventory/>", None, RUN, INGESTED_AT),
    DeadLetter("source", "InputNotFound", "input matched no files: x", "x", None, "x", RUN, INGESTED_AT),
]
ARTICLE_PARTITIONS = {
    "published_date=2024-03-01": 3,  # 5 rows at 2 rows per file
    "published_date=2024-03-02": 1,
    "published_date=2024-03-03": 1,
    "published_date=2024-04-01": 1,
}


def _write_and_publish(
    pipeline: beam.Pipeline, output: Path, articles: beam.PCollection, dead: beam.PCollection
) -> Any:
    article_files = articles | "WriteArticles" >> WritePartitionedParquet(
        ARTICLES, ARTICLE_SCHEMA, article_partition, str(output), RUN, 2, "written"
    )
    dead_files = dead | "WriteDeadLetters" >> WritePartitionedParquet(
        DEAD_LETTERS, DEAD_LETTER_SCHEMA, dead_letter_partition, str(output), RUN, 2, "dead_lettered"
    )
    published = (article_files, dead_files) | "AllFiles" >> beam.Flatten() | "Publish" >> Publish(str(output), RUN)
    return article_files, dead_files, published


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    output = tmp_path_factory.mktemp("sinks") / "out"
    other_run = output / "_staging" / "another-run"
    other_run.mkdir(parents=True)
    (other_run / "keep.parquet").write_bytes(b"staged by a concurrent run")

    def moves_match(actual: list[tuple[str, str]]) -> None:
        assert len(actual) == sum(ARTICLE_PARTITIONS.values())
        for staged, final in actual:
            staged_rel, final_rel = os.path.relpath(staged, output), os.path.relpath(final, output)
            assert staged_rel.startswith(f"_staging/{RUN}/articles/published_date="), staged_rel
            assert final_rel == staged_rel.removeprefix(f"_staging/{RUN}/"), (staged_rel, final_rel)
            assert Path(final).name.startswith(f"part-{RUN}-") and final.endswith(".parquet")
        partitions = [Path(final).parent.name for _, final in actual]
        assert {p: partitions.count(p) for p in set(partitions)} == ARTICLE_PARTITIONS

    pipeline = new_pipeline()
    articles = pipeline | "Articles" >> beam.Create(ARTICLE_RECORDS)
    dead = pipeline | "DeadLetters" >> beam.Create(DEAD_RECORDS)
    article_files, dead_files, published = _write_and_publish(pipeline, output, articles, dead)
    assert_that(article_files, matcher(moves_match), label="CheckArticleMoves")
    assert_that(
        dead_files | "DeadFinal" >> beam.Map(lambda m: os.path.relpath(m[1], output).rsplit("/", 1)[0]),
        equal_to(["dead_letter/ingest_date=2024-04-01"]),
        label="CheckDeadLetterMoves",
    )
    assert_that(published, equal_to([sum(ARTICLE_PARTITIONS.values()) + 1]), label="CheckPublishedCount")
    result = pipeline.run()
    result.wait_until_finish()
    return output, result


@pytest.mark.slow
def test_files_are_published_per_partition(written: tuple[Path, Any]) -> None:
    output, _ = written
    files = parquet_files(output / "articles")
    partitions = [f.parent.name for f in files]
    assert {p: partitions.count(p) for p in set(partitions)} == ARTICLE_PARTITIONS
    for path in files:
        assert pq.ParquetFile(path).metadata.num_rows <= 2
        assert path.name.startswith(f"part-{RUN}-")
    assert [f.parent.name for f in parquet_files(output / "dead_letter")] == ["ingest_date=2024-04-01"]


@pytest.mark.slow
def test_own_staging_is_cleaned(written: tuple[Path, Any]) -> None:
    output, _ = written
    assert not (output / "_staging" / RUN).exists()


@pytest.mark.slow
def test_other_runs_staging_is_kept(written: tuple[Path, Any]) -> None:
    output, _ = written
    assert (output / "_staging" / "another-run" / "keep.parquet").exists()


@pytest.mark.slow
def test_parquet_is_zstd_with_the_derived_schema(written: tuple[Path, Any]) -> None:
    output, _ = written
    for path in parquet_files(output / "articles"):
        parquet = pq.ParquetFile(path)
        assert parquet.schema_arrow.equals(ARTICLE_SCHEMA, check_metadata=False)
        assert parquet.schema_arrow.metadata[b"newsbeam.schema_version"] == str(SCHEMA_VERSION).encode()
        for column in range(parquet.metadata.num_columns):
            assert parquet.metadata.row_group(0).column(column).compression == "ZSTD"
    for path in parquet_files(output / "dead_letter"):
        assert pq.ParquetFile(path).schema_arrow.equals(DEAD_LETTER_SCHEMA, check_metadata=False)


@pytest.mark.slow
def test_round_trip(written: tuple[Path, Any]) -> None:
    output, _ = written
    rows = {
        r["article_id"]: r
        for r in ds.dataset(str(output / "articles"), format="parquet", partitioning="hive").to_table().to_pylist()
    }
    assert sorted(rows) == [a.article_id for a in ARTICLE_RECORDS]
    for article in ARTICLE_RECORDS:
        row = rows[article.article_id]
        expected_at = article.published_at.to_utc_datetime(has_tz=True) if article.published_at else None
        assert row["published_at"] == expected_at
        assert row["ingested_at"] == INGESTED_AT.to_utc_datetime(has_tz=True)
        assert row["published_offset_minutes"] == (
            int(article.published_offset_minutes) if article.published_offset_minutes is not None else None
        )
        assert row["authors"] == list(article.authors) and row["categories"] == ["World"]
        assert row["encoding"] == {
            "codec": "utf-8",
            "decode_path": "declared",
            "declared": "utf-8",
            "repairs": [{"kind": "lost_bytes:quote", "count": int(article.encoding.repairs[0].count)}],
        }
        assert row["schema_version"] == SCHEMA_VERSION and row["title"] == article.title
        assert row["published_date"] == article_partition(article).split("=")[1]
    assert rows["id-05"]["published_at"].microsecond == 123456
    dead = ds.dataset(str(output / "dead_letter"), format="parquet", partitioning="hive").to_table().to_pylist()
    assert sorted((d["stage"], d["raw_bytes"], d["raw_text"]) for d in dead) == [
        ("parse", b"<inventory/>", None),
        ("source", None, "x"),
    ]


@pytest.mark.slow
def test_sink_counters(written: tuple[Path, Any]) -> None:
    _, result = written
    values = counters(result)
    assert values["written"] == len(ARTICLE_RECORDS)
    assert values["dead_lettered"] == len(DEAD_RECORDS)
    assert values["files.articles"] == sum(ARTICLE_PARTITIONS.values())
    assert values["files.dead_letter"] == 1


@pytest.mark.slow
def test_a_failed_write_publishes_nothing(tmp_path: Path) -> None:
    """One record Parquet cannot hold fails the run; the partitions written fine stay unpublished."""
    output = tmp_path / "out"
    records = [
        make_article(1, MARCH_1),
        make_article(2, None),
        make_article(3, datetime(2024, 3, 5, tzinfo=UTC), title=12345),
    ]
    pipeline = new_pipeline()
    # Made by a Map typed Any: the registered RowCoder would refuse the bad record in a Create.
    articles = (
        pipeline
        | "Seed" >> beam.Create([None])
        | "Articles" >> beam.FlatMap(lambda _: records).with_output_types(typing.Any)
    )
    dead = pipeline | "DeadLetters" >> beam.Create(DEAD_RECORDS)
    _write_and_publish(pipeline, output, articles, dead)
    with pytest.raises(Exception, match="int"):  # pyarrow: "Expected bytes, got a 'int' object"
        pipeline.run().wait_until_finish()
    assert parquet_files(output / "articles") == []
    assert parquet_files(output / "dead_letter") == []


@pytest.mark.slow
def test_a_large_partition_is_written_in_bounded_groups(tmp_path: Path) -> None:
    """Records of one day are grouped a bounded number at a time (a runner hands a group over whole)."""
    output = tmp_path / "out"
    records = [make_article(n % 100, MARCH_1)._replace(article_id=f"id-{n:04d}") for n in range(95)]
    pipeline = new_pipeline()
    files = (
        pipeline
        | beam.Create(records)
        | "Write" >> WritePartitionedParquet(ARTICLES, ARTICLE_SCHEMA, article_partition, str(output), RUN, 50, "w", 10)
    )
    files | "Publish" >> Publish(str(output), RUN)
    pipeline.run().wait_until_finish()
    written = parquet_files(output / ARTICLES)
    sizes = [pq.read_metadata(path).num_rows for path in written]
    assert sum(sizes) == 95
    assert len(written) == 10 and max(sizes) <= 10, sizes  # ceil(95 / 10) shards, none over its share
    ids = sorted(ds.dataset(str(output / ARTICLES), format="parquet").to_table().column("article_id").to_pylist())
    assert ids == sorted(r.article_id for r in records)


# --------------------------------------------------------------------------
# to_event_time + WriteWindowedParquet on a TestStream
# --------------------------------------------------------------------------


def write_polls(output: Path, *steps: tuple[float, list[Article]], window: float = 60, lateness: float = 3600) -> None:
    """Articles stamped with their poll time, re-stamped by ``to_event_time``, written by ``WriteWindowedParquet``."""
    stream = TestStream(coder=ARTICLE_CODER).advance_watermark_to(BASE - Duration(seconds=3600))
    for moment, articles in steps:
        if articles:
            stream = stream.add_elements([TimestampedValue(a, at(moment)) for a in articles])
        stream = stream.advance_watermark_to(at(moment))
    stream = stream.advance_watermark_to_infinity()
    with streaming_pipeline() as p:
        _ = (
            p
            | stream
            | to_event_time(WEEK)
            | WriteWindowedParquet(
                str(output), "articles", ARTICLE_SCHEMA, article_partition, "run1", window, lateness, "written"
            )
        )


def read_back(output: Path, expected_ids: list[str]) -> None:
    """The articles under ``output`` are exactly ``expected_ids``: pyarrow file by file, pyarrow dataset, DuckDB."""
    files = assert_every_file_reads(output / "articles")
    per_file = [pq.read_table(p) for p in files]
    for table in per_file:
        assert table.schema.names == ARTICLE_SCHEMA.names
        assert table.schema.remove_metadata().equals(ARTICLE_SCHEMA.remove_metadata())
    assert sorted(i for t in per_file for i in t.column("article_id").to_pylist()) == sorted(expected_ids)
    dataset = ds.dataset(str(output / "articles"), format="parquet", partitioning="hive").to_table()
    assert sorted(dataset.column("article_id").to_pylist()) == sorted(expected_ids)
    rows = duckdb_rows(output / "articles", "article_id, published_at, ingested_at, published_date")
    assert sorted(r[0] for r in rows) == sorted(expected_ids)
    for article_id, published_at, ingested_at, published_date in rows:
        assert published_date == (published_at or ingested_at).date(), article_id


@pytest.mark.slow
def test_windowed_parquet_one_file_per_window_and_partition(tmp_path: Path) -> None:
    """Windows by event time, folders by publication date; implausible dates windowed by poll time; late data written."""
    write_polls(
        tmp_path,
        (
            10,
            [
                stamped_article("yesterday", at(-30)),  # 23:59:30 the day before: window 23:59, partition 03-09
                stamped_article("on-time", at(5)),
                stamped_article("undated", None),  # poll time (00:00:10); partition from ingested_at
            ],
        ),
        (
            70,
            [
                stamped_article("minute-one", at(65)),
                # → poll time
                stamped_article("ancient", Timestamp.from_utc_datetime(datetime(1999, 1, 1, tzinfo=UTC))),
                stamped_article("future", at(70 + 7200)),  # two hours ahead → poll time
            ],
        ),
        (200, []),  # closes the windows 23:59, 00:00, 00:01
        # published 00:02:10: its window (00:02–00:03) closed before it was seen, and had no on-time pane
        (210, [stamped_article("late", at(130))]),
    )
    expected = {
        ("published_date=2024-03-09", "20240309T235900"): ["yesterday"],
        ("published_date=2024-03-10", "20240310T000000"): ["on-time", "undated"],
        ("published_date=2024-03-10", "20240310T000100"): ["future", "minute-one"],
        ("published_date=1999-01-01", "20240310T000100"): ["ancient"],
        ("published_date=2024-03-10", "20240310T000200"): ["late"],
    }
    got: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (folder, window_start, _pane), ids in files_by_window(tmp_path / "articles").items():
        got[(folder, window_start)].extend(ids)
    assert {k: sorted(v) for k, v in got.items()} == expected
    for path in written_files(tmp_path / "articles"):
        assert path.name.startswith("part-run1-w")
    read_back(tmp_path, [i for ids in expected.values() for i in ids])


@pytest.mark.slow
def test_late_pane_goes_to_its_own_file_without_losing_the_on_time_rows(tmp_path: Path) -> None:
    write_polls(
        tmp_path,
        (10, [stamped_article("first", at(5)), stamped_article("second", at(8))]),
        (130, []),  # window 00:00–00:01 fires its on-time pane
        (140, [stamped_article("late", at(20))]),  # published in that window, seen after it closed
    )
    read_back(tmp_path, ["first", "second", "late"])  # nothing lost, nothing twice
    panes = files_by_window(tmp_path / "articles")
    in_window = [
        sorted(ids)
        for (folder, start, _), ids in panes.items()
        if (folder, start) == ("published_date=2024-03-10", "20240310T000000")
    ]
    assert sorted(in_window) == [["first", "second"], ["late"]]


@pytest.mark.slow
def test_windowed_parquet_same_window_polled_twice_is_one_window(tmp_path: Path) -> None:
    """Two polls inside one window, before it closes: all rows in that window's on-time files, each once."""
    write_polls(
        tmp_path,
        (10, [stamped_article("a", at(1)), stamped_article("b", at(2))]),
        (40, [stamped_article("c", at(35))]),
        (61, [stamped_article("d", at(61))]),
    )
    got: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (folder, window_start, _token), ids in files_by_window(tmp_path / "articles").items():
        got[(folder, window_start)].extend(ids)
    assert {k: sorted(v) for k, v in got.items()} == {
        ("published_date=2024-03-10", "20240310T000000"): ["a", "b", "c"],
        ("published_date=2024-03-10", "20240310T000100"): ["d"],
    }
    read_back(tmp_path, ["a", "b", "c", "d"])


# --------------------------------------------------------------------------
# ParquetSink alone (the streaming writer's file sink)
# --------------------------------------------------------------------------


def test_parquet_sink_writes_parquet_on_flush() -> None:
    sink = ParquetSink(ARTICLE_SCHEMA, "written", "articles")
    buffer = io.BytesIO()
    sink.open(buffer)
    rows = [stamped_article(f"id-{n}", at(n), title=f"Title {n}", authors=["A"]) for n in range(3)]
    for row in rows:
        sink.write(row)
    assert buffer.getvalue() == b""  # buffered until flush: a Parquet footer is written in one go
    sink.flush()
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    assert table.schema.equals(ARTICLE_SCHEMA, check_metadata=False)
    assert table.schema.metadata == ARTICLE_SCHEMA.metadata
    assert table.column("article_id").to_pylist() == ["id-0", "id-1", "id-2"]
    assert table.column("title").to_pylist() == ["Title 0", "Title 1", "Title 2"]
    assert table.column("authors").to_pylist() == [["A"]] * 3
    assert [t.timestamp() for t in table.column("published_at").to_pylist()] == [float(at(n)) for n in range(3)]
    in_duckdb = duckdb.from_arrow(table).query("sunk", "SELECT count(*), min(article_id) FROM sunk")
    assert in_duckdb.fetchall() == [(3, "id-0")]

    # Reused for the next file: only that file's rows.
    second = io.BytesIO()
    sink.open(second)
    sink.write(stamped_article("id-9"))
    sink.flush()
    assert pq.read_table(io.BytesIO(second.getvalue())).column("article_id").to_pylist() == ["id-9"]


def test_parquet_sink_with_no_rows_still_writes_a_valid_file() -> None:
    sink = ParquetSink(ARTICLE_SCHEMA, "written", "articles")
    buffer = io.BytesIO()
    sink.open(buffer)
    sink.flush()
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    assert table.num_rows == 0
    assert table.schema.equals(ARTICLE_SCHEMA, check_metadata=False)


# --------------------------------------------------------------------------
# One set of writer settings, batch and streaming
# --------------------------------------------------------------------------


def written_with(path: Path) -> dict[str, Any]:
    """What a Parquet file's metadata says about how it was written (not what it holds)."""
    metadata = pq.read_metadata(path)
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    chunks = [group.column(c) for group in groups for c in range(group.num_columns)]
    return {
        "format_version": metadata.format_version,
        "created_by": metadata.created_by,
        "rows_per_group": [group.num_rows for group in groups],
        "compression": sorted({chunk.compression for chunk in chunks}),
        "statistics": sorted({chunk.is_stats_set for chunk in chunks}),
        "encodings": sorted({chunk.encodings for chunk in chunks}),
    }


def test_a_batch_file_and_a_stream_file_are_written_with_the_same_settings(tmp_path: Path) -> None:
    """The batch writer's DoFn and the streaming writer's sink, each writing one more row than a row group holds."""
    rows = [
        DeadLetter("parse", "FeedError", f"not a feed {n}", f"feeds/{n}.xml", None, "<x/>", RUN, INGESTED_AT)
        for n in range(WRITE_OPTIONS["row_group_size"] + 1)
    ]
    batch = _WritePartition(DEAD_LETTERS, DEAD_LETTER_SCHEMA, str(tmp_path / "staging"), "final", RUN, 10**6, "d")
    [(batch_file, _)] = list(batch.process((("ingest_date=2024-04-01", 0), rows)))
    sink = ParquetSink(DEAD_LETTER_SCHEMA, "dead_lettered", DEAD_LETTERS)
    stream_file = tmp_path / "stream.parquet"
    with open(stream_file, "wb") as handle:
        sink.open(handle)
        for row in rows:
            sink.write(row)
        sink.flush()

    batch_settings, stream_settings = written_with(Path(batch_file)), written_with(stream_file)
    assert batch_settings == stream_settings
    assert batch_settings["rows_per_group"] == [WRITE_OPTIONS["row_group_size"], 1]
    assert batch_settings["compression"] == [WRITE_OPTIONS["compression"].upper()]
    assert batch_settings["statistics"] == [True]
    assert pq.read_table(batch_file).equals(pq.read_table(stream_file))
