"""JSON Lines: one JSON record a line; the first format read as a stream when a file is too large to hold.

A file that fits under ``--max-file-mb`` is decoded whole and read line by
line (``parse_jsonl``). A larger one is never held: ``split_lines`` reads
its lines off the open file one at a time and each travels as a
``RawRecord``, decoded and parsed on its own (``parse_line``) by the same
per-line rules, with its line number.
"""

from __future__ import annotations

import codecs
import json
from typing import BinaryIO, Iterator, Optional, Union

from schemas import RawDocument, RawRecord
from transforms.errors import DocumentTooLarge, UnreadableDocument
from transforms.formats.base import Failure, Format, Match, Outcome, Piece, Sample, Streamed
from transforms.formats.record_fields import record_outcome
from transforms.text import Decoded, decode_bytes

JSONL_EXTENSIONS = (".jsonl", ".ndjson")
#: How much of an over-long line is read at a time while it is skipped.
_SKIP_CHUNK = 1 << 20


def recognise_json_lines(sample: Sample, named: bool) -> Optional[Match]:
    """By name: a ``.jsonl``/``.ndjson`` file that starts like JSON (or markup) is JSON Lines.

    JSON Lines under a ``.json`` name is recognised as JSON, whose parser
    reads it line by line when its first value is followed by another line.
    """
    return Match.NAMED if named and sample.head.startswith(("<", "{", "[")) else None


def read_json_lines(
    document: RawDocument, decoded: Decoded, pos: int, number: int, require_records: bool
) -> Iterator[Outcome]:
    """The JSON values of ``decoded.text`` from ``pos`` on, one a line, the first line numbered ``number``.

    JSON Lines separates records by ``\\n`` alone (a ``\\r`` before it is
    tolerated): U+2028, U+2029 and U+0085 are ordinary characters inside
    JSON strings, which ``str.splitlines`` would split a record at.
    """
    text = decoded.text
    seen = False
    while pos < len(text):
        newline = text.find("\n", pos)
        stop = len(text) if newline < 0 else newline
        line = text[pos:stop]
        pos = stop + 1
        if line.endswith("\r"):
            line = line[:-1]
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if line.strip(" \t\r"):
            seen = True
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield Failure(UnreadableDocument(f"line {number}: invalid JSON: {error}"), line)
            else:
                yield record_outcome(record, line, document, decoded)
        number += 1
    if require_records and not seen:
        raise UnreadableDocument("no JSON records in document", source=document.source)


def parse_jsonl(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """One JSON object per line; a line that is not JSON is its own dead letter."""
    return read_json_lines(document, decoded, 0, 1, require_records=True)


# --------------------------------------------------------------------------
# A file too large to hold: line by line off the stream
# --------------------------------------------------------------------------


def _skip_line(stream: BinaryIO) -> int:
    """Reads past the rest of a line without holding it; the bytes skipped, its newline included."""
    skipped = 0
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def split_lines(stream: BinaryIO, limit: int) -> Iterator[Union[Piece, Failure]]:
    """Each line of a JSON Lines stream that holds something, as it is read, numbered from 1 as in the file.

    Lines are split at ``\\n`` alone, as ``read_json_lines`` splits them;
    blank lines are passed over. A line over ``limit`` bytes is read past,
    never held, and is a failure of its own (``DocumentTooLarge``, with its
    line number); the lines after it are read as usual. A stream with no
    record at all raises, as ``parse_jsonl`` does for a document.
    """
    number = records = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            break
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            size = len(line) + _skip_line(stream)
            records += 1
            yield Failure(
                DocumentTooLarge(f"line {number}: a record of over {limit} bytes ({size} with its newline)"), None
            )
            continue
        payload = line[:-1] if line.endswith(b"\n") else line
        content = payload.removeprefix(codecs.BOM_UTF8) if number == 1 else payload
        if content.strip(b" \t\r"):
            records += 1
            yield Piece(number, payload)
    if not records:
        raise UnreadableDocument("no JSON records in document")


def _decode_line(payload: bytes) -> Decoded:
    """A line's text: UTF-8, as JSON Lines is written; other bytes by the general rules (``decode_bytes``).

    A line is not a document: an ``<?xml encoding>`` or ``<meta charset>``
    quoted inside a record's HTML says nothing about the line's own bytes.
    """
    try:
        return Decoded(payload.decode("utf-8"), "utf-8", "utf-8", None)
    except UnicodeDecodeError:
        return decode_bytes(payload)


def parse_line(record: RawRecord) -> Iterator[Outcome]:
    """One line of a JSON Lines file read as a stream: its record, or its failure, with its line number."""
    document = RawDocument(record.source, "file", record.payload, record.fetched_at, None, record.parent)
    return read_json_lines(document, _decode_line(record.payload), 0, record.position, require_records=False)


JSONL = Format(
    name="jsonl",
    recognise=recognise_json_lines,
    parse=parse_jsonl,
    described="JSON Lines",
    extensions=JSONL_EXTENSIONS,
    feed=True,
    streamed=Streamed(split=split_lines, parse=parse_line),
)
