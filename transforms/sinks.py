"""Parquet output: Hive-partitioned, zstd, staged, then published at the end.

Records are grouped by partition value and each group is written as files of
at most ``rows_per_file`` rows inside ``process`` (not ``finish_bundle``,
which some runners drop). Files land in a staging folder outside the tables;
only when every write has succeeded does the final ``Publish`` step move them
under ``articles/`` or ``dead_letter/``. A failed run therefore leaves nothing
where readers look, and file names carry the run id, so runs never collide.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from typing import Any, Callable, Iterable, Iterator, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import Article, DeadLetter, to_arrow_table
from transforms.errors import counter

ARTICLES = "articles"
DEAD_LETTERS = "dead_letter"
STAGING = "_staging"


def join(base: str, *parts: str) -> str:
    """Path join that works for local paths and ``gs://`` URLs alike."""
    return FileSystems.join(base.rstrip("/"), *parts) if parts else base


def article_partition(article: Article) -> str:
    """``published_date=YYYY-MM-DD`` of the article, the ingest date when it has none."""
    moment = article.published_at or article.ingested_at
    return "published_date=" + moment.to_utc_datetime().strftime("%Y-%m-%d")


def dead_letter_partition(record: DeadLetter) -> str:
    return "ingest_date=" + record.time.to_utc_datetime().strftime("%Y-%m-%d")


def _makedirs(path: str) -> None:
    if not FileSystems.exists(path):
        FileSystems.mkdirs(path)


def write_parquet(path: str, table: pa.Table) -> None:
    _makedirs(posixpath.dirname(path) if "://" not in path else path.rsplit("/", 1)[0])
    with FileSystems.create(
        path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED
    ) as handle:
        pq.write_table(table, handle, compression="zstd", row_group_size=16384)


class _WritePartition(beam.DoFn):
    """Writes one partition's records to staged files of at most ``rows_per_file`` rows."""

    def __init__(
        self, table: str, schema: pa.Schema, staging: str, final: str, run_id: str, rows_per_file: int, count_name: str
    ):
        self.table = table
        self.schema = schema
        self.staging = staging
        self.final = final
        self.run_id = run_id
        self.rows_per_file = rows_per_file
        self._rows = counter(count_name)
        self._files = counter(f"files.{table}")

    def process(self, element: tuple[str, Iterable[Any]]) -> Iterator[tuple[str, str]]:
        partition, records = element
        # A short hash of the partition keeps file names unique when two
        # workers write shards of different partitions.
        tag = hashlib.blake2b(partition.encode(), digest_size=4).hexdigest()
        batch: list[Any] = []
        index = 0
        for record in records:
            batch.append(record)
            if len(batch) >= self.rows_per_file:
                yield self._flush(partition, tag, index, batch)
                index, batch = index + 1, []
        if batch:
            yield self._flush(partition, tag, index, batch)

    def _flush(self, partition: str, tag: str, index: int, batch: list[Any]) -> tuple[str, str]:
        name = f"part-{self.run_id}-{tag}-{index:05d}.parquet"
        staged = join(self.staging, self.table, partition, name)
        write_parquet(staged, to_arrow_table(batch, self.schema))
        self._rows.inc(len(batch))
        self._files.inc()
        return staged, join(self.final, partition, name)


class WritePartitionedParquet(beam.PTransform):
    """Records to staged Parquet files, one folder per partition; outputs (staged, final) paths."""

    def __init__(
        self,
        table: str,
        schema: pa.Schema,
        partition: Callable[[Any], str],
        output: str,
        run_id: str,
        rows_per_file: int,
        count_name: str,
    ):
        super().__init__()
        self.table = table
        self.schema = schema
        self.partition = partition
        self.output = output
        self.run_id = run_id
        self.rows_per_file = rows_per_file
        self.count_name = count_name

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[tuple[str, str]]:
        staging = join(self.output, STAGING, self.run_id)
        final = join(self.output, self.table)
        partition = self.partition
        return (
            records
            | "KeyByPartition" >> beam.Map(lambda r: (partition(r), r))
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(
                _WritePartition(
                    self.table, self.schema, staging, final, self.run_id, self.rows_per_file, self.count_name
                )
            )
        )


def publish(_: Any, moves: list[tuple[str, str]], staging_root: Optional[str]) -> int:
    """Moves staged files to their final paths, all or none, then removes this run's staging folder.

    Every target folder is created (or found to be a folder) before the first
    move; if a move still fails, the files already moved are moved back, so
    readers never see part of a run.
    """
    moves = sorted(moves, key=lambda m: m[1])
    for parent in sorted({final.rsplit("/", 1)[0] for _, final in moves}):
        _makedirs(parent)
        if "://" not in parent and not os.path.isdir(parent):
            raise NotADirectoryError(f"cannot publish into {parent}: it exists and is not a directory")
    done: list[tuple[str, str]] = []
    try:
        for staged, final in moves:
            FileSystems.rename([staged], [final])
            done.append((staged, final))
    except Exception:
        for staged, final in reversed(done):
            FileSystems.rename([final], [staged])
        raise
    if staging_root and FileSystems.exists(staging_root):
        FileSystems.delete([staging_root])
        if "://" not in staging_root:
            try:
                os.rmdir(os.path.dirname(staging_root.rstrip("/")))  # only when no other run is staging
            except OSError:
                pass
    return len(moves)


class Publish(beam.PTransform):
    """Makes every staged file visible at once the writes are done, after all of them succeeded."""

    def __init__(self, output: str, run_id: str):
        super().__init__()
        self.staging_root = join(output, STAGING, run_id)

    def expand(self, moves: beam.PCollection[tuple[str, str]]) -> beam.PCollection[int]:
        return (
            moves.pipeline
            | "Once" >> beam.Create([None])
            | "MoveIntoPlace" >> beam.Map(publish, beam.pvalue.AsList(moves), self.staging_root)
        )
