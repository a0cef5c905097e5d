"""Reading WARC files record by record, in byte ranges that several workers read at once.

A news crawl comes as WARC files of about 1 GB (Common Crawl's CC-NEWS), each
record its own gzip member, as the WARC standard recommends (annex D). A file
like that is split at member boundaries: a reader given the byte range
``[start, end)`` reads every record whose member *starts* in it, from the
first member at or after ``start`` (found by its gzip header and a ``WARC/``
line inside it) to the last that starts before ``end``, reading past ``end``
to finish that one. Ranges that tile a file therefore read each record
exactly once, whatever the boundaries (tests/test_warc_io.py reads one file
with every number of splits).

The framing is ours, and small: a record is its header lines, a
``Content-Length`` block and two CRLFs. It is what gives each record its
exact offset in the file as stored (where a dead letter says the record
was, and where a ``seek`` finds it again), lets a corrupt or truncated
member cost that record alone (the reader finds the next member and goes
on), and keeps memory at one record. What a record *says* (its HTTP
exchange, decoded) is read by the WARC library (``transforms.formats.warc``).

A file compressed as one gzip stream, or not compressed, cannot be split:
it is one range, read as a stream; a corrupt stretch of it costs the
records up to the next ``WARC/`` line that starts a readable record.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import BinaryIO, Iterator, NamedTuple, Optional, Union, cast

from transforms.errors import DocumentTooLarge, UnreadableDocument
from transforms.formats.base import Broken, Piece, Skipped

GZIP_MAGIC = b"\x1f\x8b\x08"
#: The version lines a record starts with (WARC 1.0 and 1.1; 0.17/0.18 were drafts Heritrix once wrote).
VERSIONS = (b"WARC/1.0", b"WARC/1.1", b"WARC/0.17", b"WARC/0.18")
_READ = 1 << 18
#: Most bytes inflated at once: what a highly compressible member costs in memory beyond the limit.
_INFLATE = 1 << 20
#: Bytes looked at after a candidate gzip header to decide whether a member starts there.
_PROBE = 1 << 12
#: Header lines longer than this end the record as unreadable (fastwarc's own default is 8 KiB a header).
_MAX_HEADER_LINE = 1 << 16
_MAX_HEADER_LINES = 512
#: The first member is read this far to tell a file of one member per record from one gzip stream.
_FIRST_MEMBER_PROBE = 8 << 20


Read = Union[Piece, Skipped, Broken]


class Header(NamedTuple):
    """A record's WARC header: its fields as read (names as written), and the block's length."""

    fields: dict[str, str]
    length: int
    size: int  # bytes of the header itself, its blank line included


def parse_header(head: bytes) -> Header:
    """The WARC header at the start of ``head`` (which holds it whole, with its blank line), or UnreadableDocument.

    Field names are case-insensitive (WARC 1.1 §4): they are looked up through
    ``field()``. Continuation lines are folded into the field before them.
    """
    end = head.find(b"\r\n\r\n")
    if end < 0 or not head.startswith(VERSIONS):
        raise UnreadableDocument("not a WARC record header")
    fields: dict[str, str] = {}
    last: Optional[str] = None
    for line in head[:end].split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t") and last is not None:
            fields[last] += " " + line.strip().decode("utf-8", "replace")
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise UnreadableDocument(f"malformed WARC header line: {line[:80]!r}")
        last = name.strip().decode("utf-8", "replace").lower()
        fields[last] = value.strip().decode("utf-8", "replace")
    try:
        length = int(fields["content-length"])
    except (KeyError, ValueError) as error:
        raise UnreadableDocument("WARC record without a valid Content-Length") from error
    if length < 0:
        raise UnreadableDocument("WARC record with a negative Content-Length")
    return Header(fields, length, end + 4)


def record_type(payload: bytes) -> str:
    """A record's ``WARC-Type`` (lower-case), read off its header alone; "" when it has none."""
    try:
        return parse_header(payload[: payload.find(b"\r\n\r\n") + 4]).fields.get("warc-type", "").lower()
    except UnreadableDocument:
        return ""


# --------------------------------------------------------------------------
# Records off a decompressed stream
# --------------------------------------------------------------------------


class _Lookahead:
    """A stream read with lookahead and a count of the bytes taken off it: where each record starts.

    ``io.BufferedReader.peek`` may return fewer bytes than asked for; this
    one returns as many as asked unless the stream ends, so a record's
    ``WARC/`` line is always seen whole, on any stream (a file, a gzip
    stream, a Beam filesystem's decompressing reader).
    """

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.buffer = bytearray()
        self.consumed = 0
        self.ended = False

    def _fill(self, count: int) -> None:
        while len(self.buffer) < count and not self.ended:
            chunk = self.stream.read(max(_READ, count - len(self.buffer)))
            if chunk:
                self.buffer += chunk
            else:
                self.ended = True

    def peek(self, count: int) -> bytes:
        self._fill(count)
        return bytes(self.buffer[:count])

    def read(self, count: int) -> bytes:
        """Up to ``count`` bytes (fewer only at the stream's end)."""
        if len(self.buffer) >= count:
            out = bytes(self.buffer[:count])
            del self.buffer[:count]
        else:
            parts = [bytes(self.buffer)]
            got = len(self.buffer)
            self.buffer.clear()
            while got < count and not self.ended:
                chunk = self.stream.read(count - got)
                if not chunk:
                    self.ended = True
                    break
                parts.append(chunk)
                got += len(chunk)
            out = b"".join(parts)
        self.consumed += len(out)
        return out

    def skip(self, count: int) -> int:
        """Reads past ``count`` bytes, ``_READ`` at a time (never held); the bytes passed."""
        passed = 0
        while passed < count:
            chunk = self.read(min(_READ, count - passed))
            if not chunk:
                break
            passed += len(chunk)
        return passed

    def readline(self, limit: int) -> bytes:
        """The next line, its newline included, or its first ``limit`` bytes."""
        start = 0
        while True:
            found = self.buffer.find(b"\n", start)
            if found >= 0 and found < limit:
                return self.read(found + 1)
            if len(self.buffer) >= limit or self.ended:
                return self.read(min(limit, len(self.buffer)))
            start = len(self.buffer)
            self._fill(len(self.buffer) + _READ)


def _skip_blank_lines(reader: _Lookahead) -> None:
    while reader.peek(2)[:1] == b"\n" or reader.peek(2) == b"\r\n":
        reader.readline(2)


def _read_header(reader: _Lookahead) -> bytes:
    """The next record's header bytes (its blank line included), or UnreadableDocument.

    A header starts with a version line, checked before anything is read: a
    stretch that is not a record costs its own lines only, and the record
    after it is read whole.
    """
    if not reader.peek(len(VERSIONS[0])).startswith(VERSIONS):
        raise UnreadableDocument("not a WARC record header")
    lines: list[bytes] = []
    while True:
        line = reader.readline(_MAX_HEADER_LINE)
        if not line:
            raise UnreadableDocument("truncated WARC record header")
        if not line.endswith(b"\n") or len(lines) >= _MAX_HEADER_LINES:
            raise UnreadableDocument("WARC record header too long")
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _resync(reader: _Lookahead) -> None:
    """Reads up to the next line that starts a WARC record, leaving it unread (a line that is not one is read past)."""
    while True:
        ahead = reader.peek(len(VERSIONS[0]))
        if not ahead or ahead.startswith(VERSIONS):
            return
        reader.readline(_READ)


def split_stream(
    stream: BinaryIO, limit: int, base: int = 0, skip_types: frozenset[str] = frozenset()
) -> Iterator[Read]:
    """Each record of a decompressed WARC stream as it is read: a ``Piece`` at its offset, or why not.

    Offsets are in the stream (plus ``base``). A record over ``limit`` bytes
    is read past, never held (``DocumentTooLarge``); a record whose type is
    in ``skip_types`` is read past as ``Skipped`` (``warc.<type>``). A header
    that cannot be read is a failure at its offset, and reading goes on at
    the next line that starts a record.
    """
    reader = _Lookahead(stream)
    while True:
        _skip_blank_lines(reader)
        at = base + reader.consumed
        if not reader.peek(1):
            return
        try:
            head = _read_header(reader)
            header = parse_header(head)
        except UnreadableDocument as error:
            _resync(reader)
            yield Broken(UnreadableDocument(f"offset {at}: {error}"), at, b"")
            continue
        kind = header.fields.get("warc-type", "").lower()
        size = header.size + header.length
        if kind in skip_types or size > limit:
            got = reader.skip(header.length)
            if got < header.length:
                yield Broken(
                    UnreadableDocument(f"offset {at}: truncated WARC record ({got} of {header.length} bytes)"), at, head
                )
                return
            if kind in skip_types:
                yield Skipped(f"warc.{kind}")
            else:
                yield Broken(DocumentTooLarge(f"offset {at}: a WARC record of {size} bytes, over {limit}"), at, head)
            continue
        block = reader.read(header.length)
        if len(block) < header.length:
            truncated = f"offset {at}: truncated WARC record ({len(block)} of {header.length} bytes)"
            yield Broken(UnreadableDocument(truncated), at, head + block)
            return
        yield Piece(at, head + block)


# --------------------------------------------------------------------------
# gzip members: where they start, one at a time
# --------------------------------------------------------------------------


def _starts_record(data: bytes) -> bool:
    """Whether ``data`` (compressed bytes from a candidate gzip header on) starts a member holding a WARC record."""
    try:
        head = zlib.decompressobj(31).decompress(data, len(VERSIONS[0]))
    except zlib.error:
        return False
    return head.startswith(VERSIONS)


def next_member(raw: BinaryIO, position: int, end: Optional[int] = None) -> Optional[int]:
    """The offset of the first gzip member at or after ``position`` that holds a WARC record; None if none before ``end``.

    A gzip header is three bytes (``1f 8b 08``) that compressed data can
    also contain; a candidate counts only when its data inflates to a
    ``WARC/`` version line.
    """
    raw.seek(position)
    window = raw.read(_READ + _PROBE)
    offset = position
    while window:
        found = window.find(GZIP_MAGIC)
        while found >= 0:
            at = offset + found
            if end is not None and at >= end:
                return None
            if found + _PROBE > len(window):
                raw.seek(at)
                probe = raw.read(_PROBE)
            else:
                probe = window[found : found + _PROBE]
            if _starts_record(probe):
                return at
            found = window.find(GZIP_MAGIC, found + 1)
        offset += max(len(window) - len(GZIP_MAGIC) + 1, 1)
        if end is not None and offset >= end:
            return None
        raw.seek(offset)
        window = raw.read(_READ + _PROBE)
        if len(window) < len(GZIP_MAGIC):
            return None
    return None


class Member(NamedTuple):
    """One gzip member: where it starts and ends in the file, and what it inflates to (None: over the limit)."""

    start: int
    end: int
    data: Optional[bytes]


class _Members:
    """gzip members read one after another off a raw file, the compressed bytes read once.

    A member that breaks (corrupt deflate data, the file ends inside it)
    raises UnreadableDocument; the reader then looks for the next member
    (``next_member``) and starts again there (``restart``).
    """

    def __init__(self, raw: BinaryIO, position: int):
        self.raw = raw
        self.restart(position)

    def restart(self, position: int) -> None:
        self.raw.seek(position)
        self.position = position
        self.pending = b""

    def read(self, limit: int, give_up: bool = False) -> Optional[Member]:
        """The member at the current position, or None at the end of the file.

        Inflated ``_INFLATE`` bytes at a time: a member of zeros that inflates
        a thousandfold is never held past ``limit``. Over ``limit`` its data
        is dropped and, with ``give_up``, reading stops there (``end`` -1).
        """
        if not self.pending:
            self.pending = self.raw.read(_READ)
            if not self.pending:
                return None
        start = self.position
        inflater = zlib.decompressobj(31)
        parts: Optional[list[bytes]] = []
        size = 0
        fed = len(self.pending)
        data = self.pending
        while True:
            try:
                out = inflater.decompress(data, _INFLATE)
                data = inflater.unconsumed_tail
                if not inflater.eof and not data:
                    data = self.raw.read(_READ)
                    fed += len(data)
                    if not data:  # the file ends: what zlib still holds, then the member must be whole
                        out += inflater.flush()
            except zlib.error as error:
                raise UnreadableDocument(f"corrupt gzip member: {error}") from error
            size += len(out)
            if parts is not None:
                if size > limit:
                    parts = None
                    if give_up:
                        return Member(start, -1, None)
                else:
                    parts.append(out)
            if inflater.eof:
                self.pending = inflater.unused_data
                break
            if not data:
                raise UnreadableDocument("truncated gzip member: the file ends inside it")
        self.position = start + fed - len(self.pending)
        return Member(start, self.position, b"".join(parts) if parts is not None else None)


def _valid_start(raw: BinaryIO, position: int) -> bool:
    raw.seek(position)
    return _starts_record(raw.read(_PROBE))


def _stretch(raw: BinaryIO, start: int, end: Optional[int], cap: int) -> bytes:
    """The raw bytes from ``start`` to ``end`` (the next readable member; None: the file's end), at most ``cap``."""
    raw.seek(start)
    return raw.read(min(cap, end - start) if end is not None else cap)


def read_members(
    raw: BinaryIO, start: int, end: int, limit: int, skip_types: frozenset[str] = frozenset()
) -> Iterator[Read]:
    """Every record whose gzip member starts in ``[start, end)``, from a file of one member per record.

    Positions are the members' offsets in the file. A member that will not
    inflate, or that the file cuts off, is a ``Broken`` stretch at its offset
    (with its raw bytes, up to ``limit``), and reading goes on at the next
    member that holds a record. A stretch is reported by the range that read
    the member before it, even when it starts past ``end``: a range starts
    at its first readable member, so the next range never sees it.
    """
    position = start if start == 0 else next_member(raw, start, end)
    if position is None:
        return
    members = _Members(raw, position)
    while True:
        at = members.position
        if at >= end and _valid_start(raw, at):
            return  # the next range's first member; a stretch that is not one is still this range's
        try:
            member = members.read(limit)
        except UnreadableDocument as error:
            following = next_member(raw, at + 1)
            yield Broken(UnreadableDocument(f"offset {at}: {error}"), at, _stretch(raw, at, following, limit))
            if following is None or following >= end:
                return
            members.restart(following)
            continue
        if member is None:
            return
        if member.data is None:
            yield Broken(DocumentTooLarge(f"offset {at}: a WARC record of over {limit} bytes"), at, b"")
            continue
        for read in split_stream(io.BytesIO(member.data), limit, 0, skip_types):
            # One record a member (checked when the file is planned): its offset is the member's.
            if isinstance(read, Piece):
                yield Piece(at, read.payload)
            elif isinstance(read, Broken):
                yield Broken(read.error, at, read.raw)
            else:
                yield read


# --------------------------------------------------------------------------
# Planning a file's ranges
# --------------------------------------------------------------------------


def one_record_per_member(raw: BinaryIO, size: int, members: int = 3) -> bool:
    """Whether the file looks written one record per gzip member (so it splits): its first members say.

    Each of the first ``members`` must inflate to exactly one whole record
    (the last may end the file); a member still inflating after 8 MB, or
    holding several records, is a file compressed as one stream.
    """
    raw.seek(0)
    if raw.read(len(GZIP_MAGIC)) != GZIP_MAGIC:
        return False
    reader = _Members(raw, 0)
    for _ in range(members):
        try:
            member = reader.read(_FIRST_MEMBER_PROBE, give_up=True)
        except UnreadableDocument:
            return False
        if member is None:
            return True
        if member.data is None:
            return False
        pieces = list(split_stream(io.BytesIO(member.data), len(member.data) + 1))
        if len(pieces) != 1 or not isinstance(pieces[0], Piece):
            return False
        if member.end >= size:
            return True
    return True


def plan_ranges(raw: BinaryIO, size: int, range_bytes: int) -> list[tuple[int, int]]:
    """The byte ranges a file is read in: ``range_bytes`` each when it is one gzip member a record, else the whole file."""
    if size <= range_bytes or range_bytes <= 0 or not one_record_per_member(raw, size):
        return [(0, size)]
    return [(start, min(start + range_bytes, size)) for start in range(0, size, range_bytes)]


def is_gzip(raw: BinaryIO) -> bool:
    raw.seek(0)
    return raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def read_range(
    raw: BinaryIO, start: int, end: int, size: int, limit: int, skip_types: frozenset[str] = frozenset()
) -> Iterator[Read]:
    """The records of one planned range of a WARC file (``plan_ranges``), each a ``Piece``, ``Skipped`` or ``Broken``.

    A range that is the whole file of a file that does not split is read as
    one stream, decompressed when it is gzip (every member).
    """
    if start == 0 and end >= size and not (is_gzip(raw) and one_record_per_member(raw, size)):
        gzipped = is_gzip(raw)
        raw.seek(0)
        # gzip.GzipFile reads every member of a stream, as zlib inflates them: the file's
        # records at their offsets in the decompressed stream.
        stream = cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")) if gzipped else raw
        yield from split_stream(stream, limit, 0, skip_types)
        return
    yield from read_members(raw, start, end, limit, skip_types)
