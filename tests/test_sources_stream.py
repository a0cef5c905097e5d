"""Files too large to hold, read as a stream of records: JSON Lines over ``--max-file-mb``.

The reading functions first (``split_lines``, the streaming gunzip,
``open_document``, ``_ReadFile`` driven directly), then a real ingest of a
JSON Lines file several times the limit: every record read, each bad line
its own dead letter with its line number, the counts reconciled.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from apache_beam.pvalue import TaggedOutput
from hypothesis import given, settings
from hypothesis import strategies as st
from support import read_articles_pyarrow, read_dead_letters_pyarrow, run_summary

from pipeline.run import EXIT_OK, run_ingest
from schemas import RawDocument, RawRecord
from transforms.errors import DEAD_LETTER, BlockedPath, DocumentTooLarge, UnreadableDocument
from transforms.formats.base import Failure, Piece
from transforms.formats.json_lines import split_lines
from transforms.sources import (
    Streaming,
    _Gunzip,
    _ReadFile,
    gunzip_limited,
    open_document,
    read_bytes,
    streamed_format,
)

MB = 1024 * 1024


def record(n: int, size: int = 200) -> str:
    """One JSON Lines record of about ``size`` bytes, unique by ``n``."""
    text = f"Paragraph {n} of the wire copy. " * (size // 32 + 1)
    return json.dumps({"title": f"Story {n:06d}", "text": text[:size], "url": f"https://wire.example/{n}"})


def write_jsonl(path: Path, count: int, size: int = 200) -> list[str]:
    lines = [record(n, size) for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


# ==========================================================================
# split_lines: records off a stream, one at a time
# ==========================================================================


def _split(data: bytes, limit: int = 1000) -> list[Any]:
    return list(split_lines(io.BufferedReader(io.BytesIO(data)), limit))


def test_lines_are_numbered_as_in_the_file_and_blank_ones_passed_over() -> None:
    pieces = _split(b'{"a": 1}\n\n   \n{"b": 2}\r\n\t\r\n{"c": 3}')
    assert pieces == [Piece(1, b'{"a": 1}'), Piece(4, b'{"b": 2}\r'), Piece(6, b'{"c": 3}')]
    # A BOM is only the file's mark on its first line: later, as in a file read whole, it is a (bad) record.
    assert _split(b'{"a": 1}\n\xef\xbb\xbf\n') == [Piece(1, b'{"a": 1}'), Piece(2, b"\xef\xbb\xbf")]


def test_a_bom_alone_on_the_first_line_is_blank() -> None:
    assert _split(b'\xef\xbb\xbf\n{"a": 1}\n') == [Piece(2, b'{"a": 1}')]
    assert _split(b'\xef\xbb\xbf{"a": 1}\n') == [Piece(1, b'\xef\xbb\xbf{"a": 1}')]


def test_only_a_line_feed_splits_records() -> None:
    """U+2028 and a bare CR are characters inside a record, as ``read_json_lines`` reads them."""
    line = '{"t": "a\u2028b\rc"}'.encode()
    assert _split(line + b"\n" + line) == [Piece(1, line), Piece(2, line)]


def test_a_line_over_the_limit_is_skipped_and_is_its_own_failure() -> None:
    long = b'{"t": "' + b"x" * 5000 + b'"}'
    pieces = _split(b'{"a": 1}\n' + long + b'\n{"b": 2}\n', limit=100)
    assert pieces[0] == Piece(1, b'{"a": 1}') and pieces[2] == Piece(3, b'{"b": 2}')
    failure = pieces[1]
    assert isinstance(failure, Failure) and failure.raw is None
    assert isinstance(failure.error, DocumentTooLarge) and str(failure.error).startswith("line 2: ")


def test_lines_at_the_limit_are_records() -> None:
    exact = b"[" + b"1" * 98 + b"]"
    assert _split(exact + b"\n" + exact, limit=100) == [Piece(1, exact), Piece(2, exact)]
    over = exact + b" "
    assert isinstance(_split(over + b"\n" + exact, limit=100)[0], Failure)
    assert isinstance(_split(exact + b"\n" + over, limit=100)[1], Failure)  # the last line, no newline


def test_a_stream_with_no_record_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument, match="no JSON records"):
        _split(b"\n \n\r\n")


# ==========================================================================
# gzip decompressed as it is read
# ==========================================================================


def _gunzip_stream(data: bytes) -> bytes:
    return io.BufferedReader(_Gunzip(io.BufferedReader(io.BytesIO(data))), 7).read()


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    trailing=st.sampled_from([b"", b"\0\0\0\0", b"trailing garbage", b"\x1f"]),
)
def test_streaming_gunzip_reads_what_gunzip_limited_reads(parts: list[bytes], trailing: bytes) -> None:
    data = b"".join(gzip.compress(part) for part in parts) + trailing
    assert _gunzip_stream(data) == gunzip_limited(data, 1 << 20) == b"".join(parts)


def test_streaming_gunzip_refuses_a_cut_or_corrupt_stream() -> None:
    with pytest.raises(UnreadableDocument, match="truncated gzip stream"):
        _gunzip_stream(gzip.compress(b"hello " * 1000)[:-6])
    with pytest.raises(UnreadableDocument, match="corrupt gzip data"):
        _gunzip_stream(b"\x1f\x8b\x08\x00" + b"definitely not deflate data" * 4)


# ==========================================================================
# open_document: whole when it fits, a stream when it does not
# ==========================================================================


def test_a_file_that_fits_is_read_whole_as_before(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    write_jsonl(path, 20)
    with open_document(str(path), MB) as opened:
        assert opened == read_bytes(str(path), MB) == path.read_bytes()


def test_a_jsonl_file_over_the_limit_is_streamed_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_jsonl(path, 200)
    limit = path.stat().st_size // 5
    with open_document(str(path), limit) as opened:
        assert isinstance(opened, Streaming) and opened.format.name == "jsonl"
        assert opened.stream.read() == path.read_bytes()
        assert opened.bytes_read() == path.stat().st_size


def test_a_gzip_jsonl_file_over_the_limit_is_streamed_decompressed(tmp_path: Path) -> None:
    """Compressed under the limit, decompressed over it: streamed, not refused."""
    path = tmp_path / "big.jsonl.gz"
    plain = tmp_path / "plain.jsonl"
    write_jsonl(plain, 300)
    path.write_bytes(gzip.compress(plain.read_bytes()))
    limit = plain.stat().st_size // 3
    assert path.stat().st_size < limit
    with pytest.raises(DocumentTooLarge, match="decompressed size exceeds"):
        read_bytes(str(path), limit)
    with open_document(str(path), limit) as opened:
        assert isinstance(opened, Streaming) and opened.stream.read() == plain.read_bytes()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("big.txt", b"x" * 5000),  # text is read whole
        ("big.json", b"\n".join([b'{"title": "t", "text": "x"}'] * 200)),  # JSON (even JSON Lines named .json)
        ("big.xml", gzip.compress(b"\0" * 50_000)),  # a gzip bomb of binary data
        ("big.jsonl", "\n".join(['{"title": "t"}'] * 200).encode("utf-16")),  # records cannot be split as bytes
    ],
)
def test_other_files_over_the_limit_are_refused_as_before(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert streamed_format(content[:4096], str(path)) is None
    with pytest.raises(DocumentTooLarge) as refused, open_document(str(path), 1000):
        pass
    with pytest.raises(DocumentTooLarge) as before:
        read_bytes(str(path), 1000)
    assert str(refused.value) == str(before.value)


def test_the_path_guards_hold_for_a_streamed_file(tmp_path: Path) -> None:
    """A feed list's folder confines what it names, however large: a link out is refused before any read."""
    outside = tmp_path / "outside.jsonl"
    write_jsonl(outside, 100)
    folder = tmp_path / "lists"
    folder.mkdir()
    os.symlink(outside, folder / "escape.jsonl")
    with pytest.raises(BlockedPath), open_document(str(folder / "escape.jsonl"), 1000, folder=str(folder)):
        pass
    os.mkfifo(folder / "pipe.jsonl")
    with pytest.raises(Exception, match="not a regular file"), open_document(str(folder / "pipe.jsonl"), 1000):
        pass


# ==========================================================================
# _ReadFile: records out as they are read
# ==========================================================================


def _read(path: Path, max_bytes: int) -> tuple[list[Any], list[Any]]:
    """``_ReadFile`` on one path, outside a pipeline: its main outputs and its dead letters."""
    outputs = list(_ReadFile("run-stream", max_bytes).process(str(path)))
    dead = [o.value for o in outputs if isinstance(o, TaggedOutput) and o.tag == DEAD_LETTER]
    return [o for o in outputs if not isinstance(o, TaggedOutput)], dead


def test_read_file_emits_each_record_of_a_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    lines = write_jsonl(path, 300)
    with path.open("ab") as handle:
        handle.write(b'{"t": "' + b"y" * 3000 + b'"}\n{"title": "After the long line", "text": "x"}\n')
    records, dead = _read(path, 2000)
    assert all(isinstance(r, RawRecord) for r in records)
    assert [r.payload.decode() for r in records] == [*lines, '{"title": "After the long line", "text": "x"}']
    assert [r.position for r in records] == [*range(1, 301), 302]
    assert [r.ordinal for r in records] == list(range(301))
    assert {(r.source, r.format, r.parent) for r in records} == {(str(path), "jsonl", None)}
    assert [(d.stage, d.error_type, d.raw_text) for d in dead] == [("read", "DocumentTooLarge", str(path))]
    assert dead[0].message.startswith("line 301: ")


def test_read_file_keeps_the_records_before_a_break(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl"
    lines = write_jsonl(plain, 400)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(plain.read_bytes())[:-9])
    records, dead = _read(path, 10_000)
    assert 0 < len(records) <= len(lines)
    assert [r.payload.decode() for r in records] == lines[: len(records)]
    assert [d.error_type for d in dead] == ["UnreadableDocument"]
    assert dead[0].message == f"UnreadableDocument after {len(records)} records were read: truncated gzip stream"


def test_read_file_reads_a_small_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    write_jsonl(path, 3)
    documents, dead = _read(path, MB)
    assert dead == [] and len(documents) == 1
    assert isinstance(documents[0], RawDocument) and documents[0].payload == path.read_bytes()


# ==========================================================================
# A real ingest: several times --max-file-mb, every record accounted for
# ==========================================================================


@pytest.mark.slow
def test_a_jsonl_file_larger_than_the_limit_is_ingested_record_by_record(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl"
    lines = [record(n, 300) for n in range(12_000)]
    lines[100] = '{"title": "broken'  # an invalid line: its own dead letter, by line number
    lines[5000] = json.dumps({"title": "Long", "text": "z" * (MB + 10)})  # over the 1 MiB record limit
    lines[7000] = lines[6999]  # a duplicate
    lines.insert(9000, "")  # a blank line: nothing
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 4 * MB
    output = tmp_path / "out"
    args = ["--output", str(output), "--runner", "DirectRunner", "--progress-seconds", "0", "--entities", "off"]
    code = run_ingest([str(path)], [*args, "--max-file-mb", "1", "--run-id", "streamed"], io.StringIO(), io.StringIO())
    assert code == EXIT_OK
    summary = run_summary(output, "streamed")
    assert summary["counts"] == {
        "read": 12_000,
        "written": 11_997,
        "duplicates": 1,
        "dead_lettered": 2,
        "skipped": 0,
        "reconciled": True,
    }
    assert summary["documents"]["read"] == 1 and summary["documents"]["by_format"] == {"jsonl": 1}
    assert summary["documents"]["bytes"] == path.stat().st_size
    dead = sorted((d["stage"], d["error_type"], d["message"][:9]) for d in read_dead_letters_pyarrow(output))
    assert dead == [("parse", "UnreadableDocument", "line 101:"), ("read", "DocumentTooLarge", "line 5001")]
    titles = {a["title"] for a in read_articles_pyarrow(output)}
    assert len(titles) == 11_997 and "Story 011999" in titles and "Story 000100" not in titles
