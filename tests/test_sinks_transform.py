"""``WritePartitionedParquet`` + ``Publish``: staged, Hive-partitioned zstd Parquet made visible at the end."""

from __future__ import annotations

import os
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp
from support import blank_article, counters, matcher, new_pipeline, parquet_files

from schemas import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, SCHEMA_VERSION, Article, DeadLetter, EncodingInfo, Repair
from transforms.sinks import (
    ARTICLES,
    DEAD_LETTERS,
    Publish,
    WritePartitionedParquet,
    article_partition,
    dead_letter_partition,
)

RUN = "run-sinks"
INGESTED_AT = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 8, 30, tzinfo=UTC))


def make_article(
    number: int, published: Optional[datetime], offset: Optional[int] = None, title: Any = None
) -> Article:
    return blank_article(
        article_id=f"id-{number:02d}",
        run_id=RUN,
        ingested_at=INGESTED_AT,
        source_type="feed",
        source="feeds/x.xml",
        source_domain="example.org",
        url=f"https://example.org/{number}",
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


def test_files_are_published_per_partition(written: tuple[Path, Any]) -> None:
    output, _ = written
    files = parquet_files(output / "articles")
    partitions = [f.parent.name for f in files]
    assert {p: partitions.count(p) for p in set(partitions)} == ARTICLE_PARTITIONS
    for path in files:
        assert pq.ParquetFile(path).metadata.num_rows <= 2
        assert path.name.startswith(f"part-{RUN}-")
    assert [f.parent.name for f in parquet_files(output / "dead_letter")] == ["ingest_date=2024-04-01"]


def test_own_staging_is_cleaned(written: tuple[Path, Any]) -> None:
    output, _ = written
    assert not (output / "_staging" / RUN).exists()


def test_other_runs_staging_is_kept(written: tuple[Path, Any]) -> None:
    output, _ = written
    assert (output / "_staging" / "another-run" / "keep.parquet").exists()


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


def test_sink_counters(written: tuple[Path, Any]) -> None:
    _, result = written
    values = counters(result)
    assert values["written"] == len(ARTICLE_RECORDS)
    assert values["dead_lettered"] == len(DEAD_RECORDS)
    assert values["files.articles"] == sum(ARTICLE_PARTITIONS.values())
    assert values["files.dead_letter"] == 1


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
