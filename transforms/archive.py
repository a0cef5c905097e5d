"""The run's web archive (``--warc-out DIR``): every feed and page response it fetched, as WARC files.

Why: raw pages kept as WARC can be extracted again later, with a better
extractor, without fetching them again (``newsbeam ingest DIR/*.warc.gz``),
and show what a page said on the day.

Each worker writes its own files, one gzip member a record
(``transforms.formats.warc_write``), and starts a new one every
``--warc-roll-mb``. Files are written under ``DIR/_staging/<run_id>/``. In
a batch run they move into ``DIR`` with the run's Parquet, in the one
``Publish`` step, when every write has succeeded: a failed run leaves no
archive where readers look. A stream has no end to wait for: each file
moves into ``DIR`` when it is closed (at the roll size, or when the bundle
that wrote it ends, about one poll), so a reader never sees a file being
written. Names carry the run id and a random tag per file, so workers and
runs never collide.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from schemas import HttpExchange
from transforms.errors import counter
from transforms.fetch.policy import VERSION
from transforms.formats.warc_write import exchange_records, member, record_id, warcinfo
from transforms.sinks import STAGING, _makedirs, join

#: A new file every this many MB of compressed records (``--warc-roll-mb``).
ROLL_MB = 256
SOFTWARE = f"newsbeam/{VERSION}"


def staging_folder(warc_out: str, run_id: str) -> str:
    return join(warc_out, STAGING, run_id)


class _WriteWarc(beam.DoFn):
    """Appends each exchange to this worker's open file; a file closes at ``roll_bytes`` and when the bundle ends.

    Yields (staged, final) for each closed file: ``Publish`` moves them.
    """

    def __init__(self, warc_out: str, run_id: str, roll_bytes: int, publish_on_close: bool = False):
        self.warc_out = warc_out
        self.run_id = run_id
        self.roll_bytes = roll_bytes
        self.publish_on_close = publish_on_close
        self._records = counter("warc.records")
        self._files = counter("warc.files")
        self._bytes = counter("warc.bytes")
        self._handle: Any = None
        self._name: Optional[str] = None
        self._info: Optional[str] = None
        self._size = 0

    def start_bundle(self) -> None:
        self._handle = None

    def _open(self) -> None:
        self._name = f"{self.run_id}-{uuid.uuid4().hex[:12]}.warc.gz"
        staged = join(staging_folder(self.warc_out, self.run_id), self._name)
        _makedirs(staging_folder(self.warc_out, self.run_id))
        self._handle = FileSystems.create(staged, "application/warc", CompressionTypes.UNCOMPRESSED)
        self._info = record_id("warcinfo", self._name, self.run_id)
        self._size = 0
        self._write(member(warcinfo(self._name, self.run_id, SOFTWARE, Timestamp.of(time.time()))))

    def _write(self, data: bytes) -> None:
        self._handle.write(data)
        self._size += len(data)
        self._bytes.inc(len(data))

    def _close(self) -> Optional[tuple[str, str]]:
        if self._handle is None or self._name is None:
            return None
        self._handle.close()
        self._handle = None
        self._files.inc()
        move = join(staging_folder(self.warc_out, self.run_id), self._name), join(self.warc_out, self._name)
        if self.publish_on_close:
            _makedirs(self.warc_out)
            FileSystems.rename([move[0]], [move[1]])
            return None
        return move

    def process(self, exchange: HttpExchange) -> Iterator[tuple[str, str]]:
        if self._handle is None:
            self._open()
        for data in exchange_records(exchange, self._info):
            self._write(member(data))
        self._records.inc(2)
        if self._size >= self.roll_bytes:
            closed = self._close()
            if closed is not None:
                yield closed

    def finish_bundle(self) -> Iterator[WindowedValue]:
        closed = self._close()
        if closed is not None:
            yield WindowedValue(closed, GlobalWindow().max_timestamp(), (GlobalWindow(),))

    def teardown(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class WriteWarc(beam.PTransform):
    """``HttpExchange``s to staged WARC files; outputs (staged, final) paths for ``Publish``."""

    def __init__(self, warc_out: str, run_id: str, roll_mb: int = ROLL_MB):
        super().__init__()
        self.warc_out = warc_out
        self.run_id = run_id
        self.roll_bytes = roll_mb << 20

    def expand(self, exchanges: beam.PCollection[HttpExchange]) -> beam.PCollection[tuple[str, str]]:
        # Unbounded (a stream): each file published as it closes; bounded: moves for ``Publish``.
        return exchanges | "WriteWarcFiles" >> beam.ParDo(
            _WriteWarc(self.warc_out, self.run_id, self.roll_bytes, publish_on_close=not exchanges.is_bounded)
        )


def remove_warc_staging(_: Any, warc_out: str, run_id: str) -> None:
    """After publishing: this run's (now empty) staging folder under the archive, and ``_staging`` if empty."""
    folder = staging_folder(warc_out, run_id)
    if FileSystems.exists(folder):
        FileSystems.delete([folder])
    if "://" not in warc_out:
        try:
            os.rmdir(join(warc_out, STAGING))
        except OSError:
            pass  # another run is staging there, or it is gone
