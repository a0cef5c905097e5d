"""A record as compact bytes while it waits in a shuffle: its schema's ``RowCoder`` encoding, zlib-compressed.

Why: Beam's in-process runner keeps every value of a ``GroupByKey`` decoded,
as Python objects, until the group is read — an article is about 26 KB that
way (7 KB encoded, a third of that packed: its text compresses). On a 1 GB
WARC (31,000 articles) the two shuffles every article goes through (dedup by
id, grouping for the Parquet write) held that for every article. Packed
before the shuffle and unpacked after it, a group costs its bytes; the
records are the same (``tests/test_packed.py``; the same 31,340 articles,
ids, titles and texts from the 1 GB file either way). Measured on that file
(``bench/warc_scale_bench.py``'s, one DirectRunner worker): peak RSS
1,436 MB → 1,188 MB; wall time 781 s against 800 s before (one run each,
neither on an idle machine: no slower within that noise; zlib at level 1 is
small beside reading the pages).
"""

from __future__ import annotations

import zlib
from typing import Any, Generic, Optional, TypeVar

import apache_beam as beam

Record = TypeVar("Record")


class Packer(Generic[Record]):
    """Packs and unpacks records of one type; travels to workers as the type alone (its coder is made there)."""

    def __init__(self, record_type: type[Record]):
        self.record_type = record_type
        self._coder: Optional[beam.coders.Coder] = None

    @property
    def coder(self) -> beam.coders.Coder:
        if self._coder is None:
            self._coder = beam.coders.registry.get_coder(self.record_type)
        return self._coder

    def pack(self, record: Record) -> bytes:
        return zlib.compress(self.coder.encode(record), 1)

    def unpack(self, data: bytes) -> Record:
        record: Record = self.coder.decode(zlib.decompress(data))
        return record

    def __getstate__(self) -> dict[str, Any]:
        return {"record_type": self.record_type}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.record_type = state["record_type"]
        self._coder = None
