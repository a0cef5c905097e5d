"""Parquet output, batch and streaming: Hive-partitioned, written with one set of settings.

Every Parquet file newsbeam writes goes through ``write_table`` (``WRITE_OPTIONS``:
zstd, row groups of 16,384 rows), so a file reads the same whichever mode
wrote it.

* Batch, ``WritePartitionedParquet``: records are grouped by partition value
  and each group is written as files of at most ``rows_per_file`` rows inside
  ``process`` (not ``finish_bundle``, which some runners drop). Files land in
  a staging folder outside the tables; only when every write has succeeded
  does the final ``Publish`` step move them under ``articles/`` or
  ``dead_letter/``. A failed run therefore leaves nothing where readers look,
  and file names carry the run id, so runs never collide.
* Streaming, ``WriteWindowedParquet``: fixed windows through
  ``fileio.WriteToFiles`` with a Parquet ``FileSink`` (``WriteToParquet``
  wrote corrupt files in streaming on 2.77), in the batch layout
  (``published_date=…/``); a late pane is a file of its own, nothing is
  rewritten.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import posixpath
import uuid
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.value_provider import StaticValueProvider
from apache_beam.utils.timestamp import Timestamp

from schemas import Article, DeadLetter, to_arrow_table
from schemas.packed import Packer
from transforms.errors import counter
from transforms.windows import moment_label, windows_with_late_panes

ARTICLES = "articles"
DEAD_LETTERS = "dead_letter"
STAGING = "_staging"
#: Written into a run's staging folder before its first move: the moves it is about to make.
JOURNAL = "_publish.json"
#: Written into a run's staging folder when it starts: who is staging there.
RUN_MARKER = "_run.json"
#: Publication dates outside this range are not partition keys (the article is filed under its ingest date).
PLAUSIBLE_YEARS = (1800, 2200)


def join(base: str, *parts: str) -> str:
    """Path join that works for local paths and ``gs://`` URLs alike."""
    return FileSystems.join(base.rstrip("/"), *parts) if parts else base


def date_key(moment: Timestamp) -> str:
    """A partition value that every reader types as a date: always ``YYYY-MM-DD``, four-digit year."""
    return moment.to_utc_datetime().date().isoformat()


def plausible(moment: Optional[Timestamp]) -> bool:
    """Whether a publication time may name a partition: years 1800 to 2199.

    A date in year 1 or 9999 is a feed's error, not a day of news: as a
    partition it would make readers type the column as text (``1-01-01``) or
    scatter folders over millennia. The article keeps its ``published_at``.
    """
    if moment is None:
        return False
    try:
        year = moment.to_utc_datetime().year
    except (OverflowError, ValueError):
        return False
    return PLAUSIBLE_YEARS[0] <= year < PLAUSIBLE_YEARS[1]


def article_partition(article: Article) -> str:
    """``published_date=YYYY-MM-DD`` of the article; its ingest date when it has no plausible one."""
    published = article.published_at
    return "published_date=" + date_key(
        published if published is not None and plausible(published) else article.ingested_at
    )


def dead_letter_partition(record: DeadLetter) -> str:
    return "ingest_date=" + date_key(record.time)


def _makedirs(path: str) -> None:
    if not FileSystems.exists(path):
        FileSystems.mkdirs(path)


#: How every newsbeam Parquet file is written, batch, streaming and feed state alike. Row groups of
#: 16,384 rows: a stream's window pane below that is byte for byte the file pyarrow's default (one
#: group of up to 1Mi rows) would write; a bigger one (50,000 articles, measured for issue 12) is
#: 0.1% smaller, as fast to write, and a reader can take its groups apart.
WRITE_OPTIONS: Mapping[str, Any] = MappingProxyType({"compression": "zstd", "row_group_size": 16_384})


def write_table(table: pa.Table, where: Any) -> None:
    """Writes ``table`` as Parquet to a path or file object, with ``WRITE_OPTIONS``."""
    pq.write_table(table, where, **WRITE_OPTIONS)


def _create(path: str) -> Any:
    _makedirs(posixpath.dirname(path) if "://" not in path else path.rsplit("/", 1)[0])
    return FileSystems.create(
        path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED
    )


def write_parquet(path: str, table: pa.Table) -> None:
    with _create(path) as handle:
        write_table(table, handle)


#: Records turned into Arrow at a time by ``write_records``: a file of 100,000 articles is never held
#: as Python records, only this many; their Arrow columns wait for a row group (``WRITE_OPTIONS``).
CHUNK_ROWS = 2_048


def write_records(path: str, records: Iterable[Any], schema: pa.Schema) -> int:
    """Writes ``records`` to one Parquet file as they come, with ``WRITE_OPTIONS``; returns the rows written.

    Why not ``to_arrow_table`` of them all: a file's worth of records
    (``--rows-per-file``, 100,000) would be held as Python records, their
    converted columns and the table at once, on top of the group the runner
    hands over. (On the 1 GB WARC the group itself was the larger cost: see
    ``SHARD_ROWS`` and ``schemas.packed``.) The file is the one
    ``write_table`` would write of the same rows: row groups of
    ``row_group_size`` rows, gathered from chunks of ``CHUNK_ROWS``.
    """
    group_rows = WRITE_OPTIONS["row_group_size"]
    rows, pending, pending_rows = 0, [], 0
    chunk: list[Any] = []
    with _create(path) as handle, pq.ParquetWriter(handle, schema, compression=WRITE_OPTIONS["compression"]) as writer:

        def add(batch: list[Any]) -> None:
            nonlocal pending_rows
            table = to_arrow_table(batch, schema)
            pending.append(table)
            pending_rows += table.num_rows
            while pending_rows >= group_rows:
                flush(group_rows)

        def flush(limit: int) -> None:
            nonlocal pending, pending_rows
            table = pa.concat_tables(pending)
            writer.write_table(table.slice(0, limit), row_group_size=group_rows)
            rest = table.slice(limit)
            pending, pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

        for record in records:
            chunk.append(record)
            rows += 1
            if len(chunk) >= CHUNK_ROWS:
                add(chunk)
                chunk = []
        if chunk:
            add(chunk)
        if pending_rows:
            flush(pending_rows)
    return rows


class _WritePartition(beam.DoFn):
    """Writes one partition's records to staged files of at most ``rows_per_file`` rows."""

    def __init__(
        self,
        table: str,
        schema: pa.Schema,
        staging: str,
        final: str,
        run_id: str,
        rows_per_file: int,
        count_name: str,
        packer: Optional[Packer[Any]] = None,
    ):
        self.packer = packer
        self.table = table
        self.schema = schema
        self.staging = staging
        self.final = final
        self.run_id = run_id
        self.rows_per_file = rows_per_file
        self._rows = counter(count_name)
        self._files = counter(f"files.{table}")

    def process(self, element: tuple[tuple[str, int], Iterable[Any]]) -> Iterator[tuple[str, str]]:
        (partition, shard), records = element
        # A short hash of the partition and shard keeps file names unique when
        # workers write shards of one partition, or different partitions.
        tag = hashlib.blake2b(f"{partition}\x1f{shard}".encode(), digest_size=4).hexdigest()
        packer = self.packer
        rows = iter(records) if packer is None else (packer.unpack(packed) for packed in records)
        for index in itertools.count():
            first = next(rows, None)
            if first is None:
                return
            name = f"part-{self.run_id}-{tag}-{index:05d}.parquet"
            staged = join(self.staging, self.table, partition, name)
            # One file of at most rows_per_file rows, written as the rows come.
            written = write_records(
                staged, itertools.chain((first,), itertools.islice(rows, self.rows_per_file - 1)), self.schema
            )
            self._rows.inc(written)
            self._files.inc()
            yield staged, join(self.final, partition, name)


#: Most records grouped together for one write. A runner may hand a group's
#: records over at once (Beam's in-process runner decodes a whole group):
#: 200k articles as one group peaked at 776 MB, sharded at 215-554 MB
#: (measured for issue 11). A day's volume no longer sets a group's size.
#: Issue 15 measured a decoded article at about 26 KB of Python objects (7 KB
#: encoded): a 1 GB WARC gives 31,000 articles of one day, which groups of
#: 25,000 made two groups of 400 MB each at the write; 4,096 keep a group near
#: 100 MB, in files of about 8 MB (zstd).
SHARD_ROWS = 4_096
#: Most rows in one Parquet file of a partition (``--rows-per-file``); bigger partitions are split.
ROWS_PER_FILE = 100_000


class _AssignShard(beam.DoFn):
    """(partition, record) → ((partition, shard), record), about ``shard_rows`` records a shard."""

    def __init__(self, shard_rows: int):
        self.shard_rows = shard_rows
        self._next = 0

    def process(self, element: tuple[str, Any], sizes: dict[str, int]) -> Iterator[tuple[tuple[str, int], Any]]:
        partition, record = element
        shards = max(1, -(-sizes.get(partition, 1) // self.shard_rows))
        self._next += 1  # round robin: even shards, whatever the records
        yield (partition, self._next % shards), record


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
        shard_rows: int = SHARD_ROWS,
        record_type: Optional[type] = None,
    ):
        """``record_type``: the records' type, when they are worth packing for the shuffle (``schemas.packed``)."""
        super().__init__()
        self.packer: Optional[Packer[Any]] = Packer(record_type) if record_type is not None else None
        self.table = table
        self.schema = schema
        self.partition = partition
        self.output = output
        self.run_id = run_id
        self.rows_per_file = rows_per_file
        self.count_name = count_name
        self.shard_rows = shard_rows

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[tuple[str, str]]:
        staging = join(self.output, STAGING, self.run_id)
        final = join(self.output, self.table)
        partition = self.partition
        packer = self.packer
        if packer is None:
            keyed = records | "KeyByPartition" >> beam.Map(lambda r: (partition(r), r))
        else:
            keyed = records | "KeyByPartition" >> beam.Map(lambda r: (partition(r), packer.pack(r))).with_output_types(
                tuple[str, bytes]
            )
        sizes = keyed | "CountPerPartition" >> beam.combiners.Count.PerKey()
        return (
            keyed
            | "ShardPartitions" >> beam.ParDo(_AssignShard(self.shard_rows), beam.pvalue.AsDict(sizes))
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(
                _WritePartition(
                    self.table, self.schema, staging, final, self.run_id, self.rows_per_file, self.count_name, packer
                )
            )
        )


def _write_json(path: str, value: Any) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(json.dumps(value).encode())


def _remove_staging(staging_root: str) -> None:
    if FileSystems.exists(staging_root):
        FileSystems.delete([staging_root])
    if "://" not in staging_root:
        try:
            os.rmdir(os.path.dirname(staging_root.rstrip("/")))  # only when no other run is staging
        except OSError:
            pass


def publish(_: Any, moves: list[tuple[str, str]], staging_root: Optional[str]) -> int:
    """Moves staged files to their final paths, all or none, then removes this run's staging folder.

    Every target folder is created (or found to be a folder) before the first
    move; if a move fails, the files already moved are moved back. The moves
    are journalled in the staging folder first: if the process dies between
    two moves (kill -9, power), the next run into this output finds the
    journal and completes them (``recover_staging``), so a run is never left
    half visible for longer than until the next run starts.
    """
    moves = sorted(moves, key=lambda m: m[1])
    for parent in sorted({final.rsplit("/", 1)[0] for _, final in moves}):
        _makedirs(parent)
        if "://" not in parent and not os.path.isdir(parent):
            raise NotADirectoryError(f"cannot publish into {parent}: it exists and is not a directory")
    journal = join(staging_root, JOURNAL) if staging_root else None
    if journal and moves:
        _write_json(journal, {"moves": [list(move) for move in moves]})
    done: list[tuple[str, str]] = []
    try:
        for staged, final in moves:
            FileSystems.rename([staged], [final])
            done.append((staged, final))
    except Exception:
        for staged, final in reversed(done):
            FileSystems.rename([final], [staged])
        if journal:
            FileSystems.delete([journal])
        raise
    if staging_root:
        _remove_staging(staging_root)
    return len(moves)


def write_run_marker(output: str, run_id: str, record: dict[str, Any]) -> None:
    """Says who stages under ``_staging/<run_id>/``, so the next run can tell a live run from a dead one."""
    root = join(output, STAGING, run_id)
    _makedirs(root)
    _write_json(join(root, RUN_MARKER), record)


def _read_json(path: str) -> Optional[dict[str, Any]]:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            value = json.loads(handle.read().decode("utf-8"))
        return value if isinstance(value, dict) else None
    except Exception:  # noqa: BLE001 - absent or half-written
        return None


def staged_runs(output: str) -> list[str]:
    """Run ids with a folder under ``_staging/``."""
    root = join(output, STAGING)
    if "://" not in root:
        try:
            return sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
        except OSError:
            return []
    try:
        found = FileSystems.match([join(root, "*", "**")])[0].metadata_list
    except Exception:  # noqa: BLE001
        return []
    prefix = root.rstrip("/") + "/"
    return sorted({m.path[len(prefix) :].split("/", 1)[0] for m in found if m.path.startswith(prefix)})


def recover_staging(output: str, run_id: str) -> dict[str, Any]:
    """Completes or removes what a dead run left under ``_staging/<run_id>/``; what was done, for the report.

    With a publish journal the run had written everything and died while
    moving files into place: the remaining moves are made (its data becomes
    whole, not withdrawn: every file was complete) and a summary saying so is
    written under ``runs/``. Without one the run died before publishing
    (kill -9, Ctrl-C, a full disk): nothing of it was visible, and its staged
    files are deleted.
    """
    root = join(output, STAGING, run_id)
    journal = _read_json(join(root, JOURNAL))
    if journal is None:
        files = count_files(root)
        _remove_staging(root)
        return {"run_id": run_id, "action": "removed_unpublished", "files": files}
    completed = 0
    for staged, final in journal.get("moves", []):
        if FileSystems.exists(staged):
            if FileSystems.exists(final):
                FileSystems.delete([final])
            _makedirs(final.rsplit("/", 1)[0])
            FileSystems.rename([staged], [final])
            completed += 1
    summary = join(output, "runs", f"{run_id}.json")
    if not FileSystems.exists(summary):
        _makedirs(join(output, "runs"))
        _write_json(
            summary,
            {
                "run_id": run_id,
                "state": "RECOVERED",
                "note": "this run died while publishing; a later run completed its moves (no counts were kept)",
                "files": len(journal.get("moves", [])),
                "completed_moves": completed,
            },
        )
    _remove_staging(root)
    return {
        "run_id": run_id,
        "action": "completed_publishing",
        "files": len(journal.get("moves", [])),
        "completed_moves": completed,
    }


def count_files(root: str) -> int:
    """Files under ``root`` (any depth); 0 when it cannot be listed."""
    if "://" not in root:
        return sum(len(files) for _, _, files in os.walk(root))
    try:
        return len(FileSystems.match([join(root, "**")])[0].metadata_list)
    except Exception:  # noqa: BLE001
        return 0


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


# --------------------------------------------------------------------------
# Streaming: windowed Parquet through fileio
# --------------------------------------------------------------------------


class ParquetSink(fileio.FileSink):
    """A ``fileio`` sink writing one Parquet file per (window, pane, destination) shard.

    Rows are buffered and written on ``flush``: a pane's rows are one
    window's worth, and a Parquet file needs its footer written in one go.
    """

    def __init__(self, schema: pa.Schema, count_name: str, table: str):
        self.schema = schema
        self.count_name = count_name
        self.table = table
        self._handle: Any = None
        self._rows: list[Any] = []

    def open(self, fh: Any) -> None:
        self._handle = fh
        self._rows = []

    def write(self, record: Any) -> None:
        self._rows.append(record)

    def flush(self) -> None:
        buffer = io.BytesIO()
        write_table(to_arrow_table(self._rows, self.schema), buffer)
        self._handle.write(buffer.getvalue())
        counter(self.count_name).inc(len(self._rows))
        counter(f"files.{self.table}").inc()
        self._rows = []


def _naming(run_id: str) -> Callable[..., str]:
    """File names unique per pane: ``part-<run_id>-w<window start>-<token>-<shard>.parquet``.

    ``WriteToFiles`` hands the naming function no pane (it is always None on
    2.77) and restarts shard numbers for every pane, so a late pane of a
    window would be renamed onto the on-time pane's file and replace it; a
    random token per name keeps every pane's file apart. A window beyond
    Python's dates is named by ``moment_label`` rather than failing the write.
    """

    def name(window_: Any, pane: Any, shard_index: int, total_shards: int, compression: Any, destination: str) -> str:
        start = moment_label(window_.start) if hasattr(window_, "start") else "global"
        token = uuid.uuid4().hex[:12]
        return f"{destination}/part-{run_id}-w{start}-{token}-{shard_index:05d}.parquet"

    return name


class _PartitionDestination:
    """The partition of a record, as a ``WriteToFiles`` destination, with its folder made.

    ``WriteToFiles`` moves finished files to ``path/<file name>`` with a plain
    rename, which fails (and only logs a warning, leaving the file in the
    temporary folder) when the name has a folder that does not exist yet.
    The folders made are remembered per instance (each worker's copy), not
    in a module-level set.
    """

    def __init__(self, base: str, partition: Callable[[Any], str]):
        self.base = base
        self.partition = partition
        self._made: set[str] = set()

    def __call__(self, record: Any) -> str:
        value = self.partition(record)
        folder = f"{self.base}/{value}"
        if folder not in self._made:
            if "://" not in folder:
                os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        return value


class WriteWindowedParquet(beam.PTransform):
    """Records into fixed windows, each window's records into Parquet under ``output/table/<partition>/``.

    The streaming twin of ``WritePartitionedParquet``: the same partitions,
    the same writer settings, the same counters. Late records (allowed up to
    ``allowed_lateness``) are written as extra panes of their window, in
    files of their own: nothing is rewritten.
    """

    def __init__(
        self,
        output: str,
        table: str,
        schema: pa.Schema,
        partition: Callable[[Any], str],
        run_id: str,
        window_seconds: float,
        allowed_lateness: float,
        count_name: str,
    ):
        super().__init__()
        self.count_name = count_name
        self.output = output
        self.table = table
        self.schema = schema
        self.partition = partition
        self.run_id = run_id
        self.window_seconds = window_seconds
        self.allowed_lateness = allowed_lateness

    def expand(self, records: beam.PCollection[Any]) -> beam.PCollection[Any]:
        schema, count_name, table = self.schema, self.count_name, self.table
        base = f"{self.output.rstrip('/')}/{self.table}"
        return (
            records
            | "Window" >> windows_with_late_panes(self.window_seconds, self.allowed_lateness)
            | "WriteFiles"
            >> fileio.WriteToFiles(
                path=base,
                destination=_PartitionDestination(base, self.partition),
                sink=lambda _: ParquetSink(schema, count_name, table),
                file_naming=_naming(self.run_id),
                shards=1,
                temp_directory=StaticValueProvider(
                    str, f"{self.output.rstrip('/')}/_staging/{self.run_id}/{self.table}"
                ),
            )
        )
