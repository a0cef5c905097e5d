"""Reading WARC files: ranges that tile a file read every record once, damage costs itself alone, pages come out right.

The files are written by warcio (``tests/warc_make.py``), never by the code
under test, in the three layouts archives come in: one gzip member per record
(CC-NEWS), plain, and one gzip stream. What a reader must give is known from
how the file was written: each record's offset and bytes, and where it was
damaged. Pure: no pipeline runs here.
"""

from __future__ import annotations

import gzip
import io
import math
import random
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Iterable, Optional, Union

import pytest
from apache_beam.utils.timestamp import Timestamp
from warc_make import (
    Layout,
    Record,
    exchange,
    metadata,
    request,
    resource,
    response,
    revisit,
    warc_bytes,
    warcinfo,
    write_warc,
)

from schemas import RawArticle, RawDocument, RawRecord
from transforms.errors import UnreadableDocument
from transforms.formats.base import Broken, Failure, Outcome, Piece, Skipped
from transforms.formats.warc import BOOKKEEPING, Exchange, WarcSettings, read_exchange, warc_format
from transforms.formats.warc_io import (
    is_gzip,
    next_member,
    one_record_per_member,
    parse_header,
    plan_ranges,
    read_range,
    record_type,
)

LIMIT = 64 << 20
#: The reader's read size (``warc_io._READ``): large members are made to span several reads.
READ = 1 << 18
Key = tuple[object, ...]
Item = Union[Piece, Skipped, Broken]

# --------------------------------------------------------------------------
# Pages and files
# --------------------------------------------------------------------------

_PARAGRAPHS = (
    "The Riverton harbour board voted on Thursday to rebuild the north pier, which has been closed since a storm "
    "tore away its outer section in the winter. The café at its root, a fixture of the waterfront for forty years, "
    "will stay open while the work goes on.",
    "Engineers told the board that the new pier would stand a metre higher than the old one and would be built of "
    "concrete rather than timber. “It is not a naïve plan,” said the board’s chair, “it is the one we can afford.”",
    "Fishing crews, who have moored at the south quay since the storm, said they welcomed the decision but asked "
    "for the work to be finished before the herring season. The board said the contract would require it.",
    "The cost, estimated at six million, will be shared between the board, the regional council and a national fund "
    "for coastal defences. The council’s share was approved in a separate vote last month — by a single vote.",
    "Residents of the old town, whose houses face the pier, asked for the builders to keep to daytime hours. The "
    "board promised a liaison officer and a telephone line for complaints during the eighteen months of work.",
)


def article_html(title: str, *, published: Optional[str] = None, charset_meta: Optional[str] = "utf-8") -> str:
    """A news story page (fictional): NewsArticle JSON-LD, og:type article, a few hundred words of prose."""
    dated = f', "datePublished": "{published}"' if published else ""
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    body = "".join(f"<p>{paragraph}</p>\n" for paragraph in _PARAGRAPHS)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{meta}<title>{title} | The Riverton Courier</title>\n'
        '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
        f'"headline": "{title}"{dated}}}</script>\n'
        f'<meta property="og:type" content="article"><meta property="og:title" content="{title}">\n'
        '</head><body><nav><a href="/">Home</a> <a href="/news/">News</a></nav>\n'
        f'<main><article><h1>{title}</h1>\n{body}</article></main>\n<footer><a href="/about">About</a></footer>'
        "</body></html>\n"
    )


def home_html() -> str:
    """A front page: headlines and links, no story of its own."""
    links = "".join(f'<li><a href="/news/story-{i}">Headline number {i} of the day</a></li>' for i in range(60))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>The Riverton Courier</title></head>'
        f'<body><nav><a href="/">Home</a></nav><main><ul>{links}</ul></main></body></html>'
    )


_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"

#: Exchanges of the big file whose bodies are made large (their members span several reads).
_LARGE = {16, 21, 40, 45, 63}


def big_records() -> list[Record]:
    """About 200 records of every type, as a news crawl has them, five of them over 300 KB compressed."""
    rnd = random.Random(15)
    records = [warcinfo()]
    for i in range(80):
        url = f"https://www.news-{i % 4}.example.test/story/{i}-harbour-board"
        if i % 8 == 0:
            body = _JPEG + rnd.randbytes(350_000 if i in _LARGE else 2_000)
            records += exchange(url, body, content_type="image/jpeg")
        elif i % 8 == 1:
            records += exchange(url, b"", status=301, headers=(("Location", url + "/"),))
        elif i % 8 == 2:
            records += exchange(url, b"<html><body>Not found</body></html>", status=404)
        else:
            filler = rnd.randbytes(400_000).hex() if i in _LARGE else rnd.randbytes(200).hex()
            body = article_html(f"Story {i}").replace("</main>", f"<!-- {filler} --></main>").encode()
            options = {"gzip": i % 3 == 0, "chunked": i % 5 == 0, "common_crawl": i % 7 == 0}
            records += exchange(url, body, **options)
        if i % 3 == 0:
            records.append(metadata(url))
        if i % 9 == 0:
            records.append(revisit(url))
        if i % 11 == 0:
            records.append(resource(url + "/print", article_html(f"Print {i}").encode()))
    return records


@dataclass(frozen=True)
class Archive:
    """A written file, and what a reader must find in it: each record's offset, type and bytes."""

    path: Path
    data: bytes
    offsets: list[int]
    kinds: list[str]
    payloads: list[bytes]


def _payloads(records: list[Record]) -> list[bytes]:
    """Each record's bytes as a reader splits them off (header and block, without the two closing CRLFs)."""
    plain, offsets = warc_bytes(records, "plain")
    ends = offsets[1:] + [len(plain)]
    assert all(plain[end - 4 : end] == b"\r\n\r\n" for end in ends)
    return [plain[start : end - 4] for start, end in zip(offsets, ends, strict=True)]


def archive(directory: Path, records: list[Record], layout: Layout) -> Archive:
    path = directory / {"members": "file.warc.gz", "plain": "file.warc", "stream": "stream.warc.gz"}[layout]
    offsets = write_warc(path, records, layout)
    return Archive(path, path.read_bytes(), offsets, [r.kind for r in records], _payloads(records))


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return big_records()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory, records: list[Record]) -> dict[str, Archive]:
    directory = tmp_path_factory.mktemp("warc")
    return {layout: archive(directory, records, layout) for layout in ("members", "plain", "stream")}


# --------------------------------------------------------------------------
# Reading in ranges
# --------------------------------------------------------------------------


def key(item: Item) -> Key:
    """What an outcome is, comparable: a record's offset and bytes, a rule, or a broken stretch's offset and error."""
    if isinstance(item, Piece):
        return ("piece", item.position, item.payload)
    if isinstance(item, Skipped):
        return ("skipped", item.rule)
    return ("broken", item.position, type(item.error).__name__)


def tiling(cuts: Iterable[int], size: int) -> list[tuple[int, int]]:
    """Ranges cut at ``cuts`` (0 and ``size`` allowed: an empty first or last range)."""
    points = sorted(set(cuts))
    assert all(0 <= point <= size for point in points)
    starts = [0] + points
    return list(zip(starts, points + [size], strict=True))


def read_tiled(
    raw: BinaryIO, size: int, ranges: list[tuple[int, int]], limit: int = LIMIT, skip: frozenset[str] = frozenset()
) -> list[Item]:
    """Every range's outcomes, one range after another, as workers would read them."""
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False)), "ranges must tile the file"
    items: list[Item] = []
    for start, end in ranges:
        items.extend(read_range(raw, start, end, size, limit, skip))
    return items


def planned(raw: BinaryIO, size: int, count: int) -> list[tuple[int, int]]:
    ranges = plan_ranges(raw, size, math.ceil(size / count))
    assert len(ranges) == count
    return ranges


def whole(archive: Archive, skip: frozenset[str] = frozenset()) -> list[Key]:
    """What reading the file must give: each record at its offset, or its type's rule when it is skipped."""
    return [
        ("skipped", f"warc.{kind}") if kind in skip else ("piece", offset, payload)
        for offset, kind, payload in zip(archive.offsets, archive.kinds, archive.payloads, strict=True)
    ]


def member_spans(archive: Archive) -> list[tuple[int, int]]:
    ends = archive.offsets[1:] + [len(archive.data)]
    return list(zip(archive.offsets, ends, strict=True))


def hand_cuts(archive: Archive) -> dict[str, list[int]]:
    """Range boundaries at the awkward places: inside members and their gzip headers, at starts, at the ends."""
    spans = member_spans(archive)
    size = len(archive.data)
    large = [i for i, (start, end) in enumerate(spans) if end - start > 300_000]
    rnd = random.Random(3)
    random_pairs = {f"random-{n}": sorted(rnd.sample(range(1, size), 2)) for n in range(6)}
    return {
        "inside-members": [spans[40][0] + (spans[40][1] - spans[40][0]) // 2, spans[130][0] + 17],
        "inside-gzip-headers": [spans[7][0] + 1, spans[90][0] + 3, spans[150][0] + 9],
        "at-member-starts": [spans[1][0], spans[100][0]],
        "at-0-and-size": [0, spans[60][0] + 5, size],
        "at-0": [0, spans[60][0]],
        "at-size": [spans[120][0] + 2, size],
        "every-member-start": [start for start, _ in spans],
        "every-member-start+1": [start + 1 for start, _ in spans],
        "one-byte-ranges": [cut for start, _ in spans[50:60] for cut in (start - 1, start, start + 1, start + 2)],
        "inside-large-members": [
            cut
            for i in large
            for cut in (spans[i][0] + 1, spans[i][0] + READ - 2, spans[i][0] + READ + 5, spans[i][1] - 1)
        ],
        **random_pairs,
    }


def test_the_big_file_has_what_the_tests_need(archives: dict[str, Archive]) -> None:
    """The file is ~200 records of every type, several members over 300 KB (they span the reader's reads)."""
    members = archives["members"]
    spans = member_spans(members)
    assert len(spans) >= 190
    assert sum(end - start > 300_000 for start, end in spans) >= 5
    assert set(members.kinds) == {"warcinfo", "request", "response", "metadata", "revisit", "resource"}
    assert archives["stream"].offsets == archives["plain"].offsets  # a stream's offsets: in the plain stream
    assert is_gzip(io.BytesIO(members.data)) and one_record_per_member(io.BytesIO(members.data), len(members.data))
    assert is_gzip(io.BytesIO(archives["stream"].data))
    assert not one_record_per_member(io.BytesIO(archives["stream"].data), len(archives["stream"].data))
    assert not is_gzip(io.BytesIO(archives["plain"].data))
    assert not one_record_per_member(io.BytesIO(archives["plain"].data), len(archives["plain"].data))


def test_whole_file_reads_every_record_at_its_offset(archives: dict[str, Archive]) -> None:
    for layout, found in archives.items():
        with open(found.path, "rb") as raw:
            size = len(found.data)
            assert [key(item) for item in read_range(raw, 0, size, size, LIMIT)] == whole(found), layout


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16, 50])
def test_planned_ranges_read_each_record_once(archives: dict[str, Archive], count: int) -> None:
    members = archives["members"]
    size = len(members.data)
    with open(members.path, "rb") as raw:
        ranges = planned(raw, size, count)
        assert [key(item) for item in read_tiled(raw, size, ranges)] == whole(members)


def test_hand_made_tilings_read_each_record_once(archives: dict[str, Archive]) -> None:
    members = archives["members"]
    size = len(members.data)
    expected = whole(members)
    with open(members.path, "rb") as raw:
        for name, cuts in hand_cuts(members).items():
            got = [key(item) for item in read_tiled(raw, size, tiling(cuts, size))]
            assert got == expected, name


def test_a_range_reads_the_records_whose_members_start_in_it(archives: dict[str, Archive]) -> None:
    """From the first member at or after its start (``next_member``) to the last that starts before its end."""
    members = archives["members"]
    size = len(members.data)
    spans = member_spans(members)
    with open(members.path, "rb") as raw:
        start, end = spans[30][0] + 1, spans[33][0] + 1
        got = [item.position for item in read_range(raw, start, end, size, LIMIT) if isinstance(item, Piece)]
        assert got == [spans[31][0], spans[32][0], spans[33][0]]
        assert next_member(raw, spans[30][0] + 1) == spans[31][0]
        assert next_member(raw, spans[30][0]) == spans[30][0]
        assert next_member(raw, spans[30][0] + 1, spans[31][0]) is None
        assert next_member(raw, spans[-1][0] + 1) is None


@pytest.mark.parametrize("layout", ["plain", "stream"])
def test_unsplittable_files_are_one_range(archives: dict[str, Archive], layout: str) -> None:
    found = archives[layout]
    size = len(found.data)
    with open(found.path, "rb") as raw:
        for range_bytes in (1, 4096, size // 7, size - 1, size, 10 * size):
            assert plan_ranges(raw, size, range_bytes) == [(0, size)]
        assert [key(item) for item in read_tiled(raw, size, [(0, size)])] == whole(found)


# --------------------------------------------------------------------------
# Skipped record types
# --------------------------------------------------------------------------


def test_bookkeeping_records_are_skipped_under_their_type(archives: dict[str, Archive]) -> None:
    """request, warcinfo and metadata come out as ``warc.<type>``, each once whatever the split (the format's reader)."""
    assert {"warc.warcinfo", "warc.request", "warc.metadata"} <= {f"warc.{kind}" for kind in BOOKKEEPING}
    ranged = warc_format().ranged
    assert ranged is not None
    members = archives["members"]
    size = len(members.data)
    expected = whole(members, BOOKKEEPING)
    wanted = {rule: sum(k == ("skipped", rule) for k in expected) for rule in ("warc.request", "warc.metadata")}
    assert wanted["warc.request"] == 80 and wanted["warc.metadata"] == 27
    with open(members.path, "rb") as raw:
        tilings = [ranged.plan(raw, size)] + [planned(raw, size, n) for n in (3, 16, 50)]
        tilings += [tiling(cuts, size) for cuts in hand_cuts(members).values()]
        for ranges in tilings:
            got = [key(item) for start, end in ranges for item in ranged.read(raw, start, end, size, LIMIT)]
            assert got == expected
            assert got.count(("skipped", "warc.warcinfo")) == 1
    for layout in ("plain", "stream"):
        found = archives[layout]
        with open(found.path, "rb") as raw:
            got = [key(item) for item in read_range(raw, 0, len(found.data), len(found.data), LIMIT, BOOKKEEPING)]
        assert got == whole(found, BOOKKEEPING), layout


# --------------------------------------------------------------------------
# Damage
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Damaged:
    """A damaged copy of the member file, and what reading it must give."""

    data: bytes
    expected: list[Key]
    at: int  # where the damaged stretch starts
    raw: bytes  # the stretch's bytes, as the Broken must carry them
    pieces: int  # the records still read


def _flip(data: bytes, at: int, count: int = 6) -> bytes:
    damaged = bytearray(data)
    for i in range(at, at + count):
        damaged[i] ^= 0x5A
    return bytes(damaged)


def damage(members: Archive, how: str) -> Damaged:
    """The member file damaged ``how``, at a member in the middle (or a large one)."""
    spans = member_spans(members)
    expected = whole(members)
    large = next(i for i, (start, end) in enumerate(spans) if i > 60 and end - start > 300_000)
    index = large if how == "flipped-large" else 101
    start, end = spans[index]
    broken: Key = ("broken", start, "UnreadableDocument")
    data = members.data
    if how in ("flipped", "flipped-large"):
        middle = start + 10 + (end - start - 18) // 2 if how == "flipped" else start + READ + 1000
        damaged = _flip(data, middle)
        return Damaged(
            damaged, expected[:index] + [broken] + expected[index + 1 :], start, damaged[start:end], len(spans) - 1
        )
    if how == "header-destroyed":
        damaged = data[:start] + bytes(10) + data[start + 10 :]
        return Damaged(
            damaged, expected[:index] + [broken] + expected[index + 1 :], start, damaged[start:end], len(spans) - 1
        )
    if how == "truncated":
        cut = start + (end - start) // 2
        return Damaged(data[:cut], expected[:index] + [broken], start, data[start:cut], index)
    assert how == "garbage"
    rnd = random.Random(5)
    garbage = b"\x00" + b"".join(rnd.randbytes(rnd.randrange(50, 400)) + b"\x1f\x8b\x08\x00" for _ in range(20))
    shifted: list[Key] = [
        ("piece", offset + len(garbage), payload)
        for offset, payload in zip(members.offsets[index:], members.payloads[index:], strict=True)
    ]
    damaged = data[:start] + garbage + data[start:]
    return Damaged(damaged, expected[:index] + [broken] + shifted, start, garbage, len(spans))


DAMAGE = ["flipped", "flipped-large", "header-destroyed", "truncated", "garbage"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damage_costs_the_damaged_stretch_alone(archives: dict[str, Archive], how: str) -> None:
    """A Broken at the stretch's offset, with its bytes, reported once whatever the split; every other record read."""
    damaged = damage(archives["members"], how)
    size = len(damaged.data)
    raw = io.BytesIO(damaged.data)
    after = next(start for start, _ in member_spans(archives["members"]) if start > damaged.at)
    around = [damaged.at - 1, damaged.at, damaged.at + 1, damaged.at + 5, damaged.at + 100, min(after, size - 1)]
    tilings = [planned(raw, size, n) for n in (1, 2, 3, 7, 16, 50)]
    tilings += [tiling([cut], size) for cut in around]
    tilings += [tiling(cuts, size) for cuts in hand_cuts(archives["members"]).values() if max(cuts) <= size]
    for ranges in tilings:
        items = read_tiled(raw, size, ranges)
        assert [key(item) for item in items] == damaged.expected, ranges
        broken = [item for item in items if isinstance(item, Broken)]
        assert len(broken) == 1
        assert f"offset {damaged.at}" in str(broken[0].error)
        assert broken[0].raw == damaged.raw
        assert sum(isinstance(item, Piece) for item in items) == damaged.pieces


def _insert(data: bytes, at: int, stretch: bytes) -> bytes:
    return data[:at] + stretch + data[at:]


PLAIN_DAMAGE = {
    # Lines that are no record's, between two records (a log line pasted in, a broken copy).
    "garbage-lines": b"garbage line one\r\ngarbage line two\r\n",
    # One long line of binary junk, longer than a header line may be.
    "garbage-long-line": random.Random(9).randbytes(70_000).replace(b"\n", b"x") + b"\r\n",
}


@pytest.mark.parametrize("layout", ["plain", "stream"])
@pytest.mark.parametrize("how", sorted(PLAIN_DAMAGE))
def test_a_stretch_of_junk_in_a_stream_costs_itself_alone(records: list[Record], layout: Layout, how: str) -> None:
    """In a plain (or whole-gzip) file, junk between records is a Broken at its offset; the next record is read.

    ``split_stream``: "reading goes on at the next line that starts a record";
    positions after the junk are where the records are in the stream.
    """
    plain, offsets = warc_bytes(records[:20], "plain")
    payloads = _payloads(records[:20])
    junk = PLAIN_DAMAGE[how]
    index = 9
    stream = _insert(plain, offsets[index], junk)
    data = gzip.compress(stream, mtime=0) if layout == "stream" else stream
    shifted = [offset + (len(junk) if i >= index else 0) for i, offset in enumerate(offsets)]
    expected: list[Key] = [("piece", at, payload) for at, payload in zip(shifted, payloads, strict=True)]
    expected.insert(index, ("broken", offsets[index], "UnreadableDocument"))
    got = [key(item) for item in read_range(io.BytesIO(data), 0, len(data), len(data), LIMIT)]
    assert got == expected


@pytest.mark.parametrize("where", ["in-header", "in-block"])
def test_a_plain_file_cut_off_reports_the_cut_record_at_its_offset(records: list[Record], where: str) -> None:
    plain, offsets = warc_bytes(records[:20], "plain")
    payloads = _payloads(records[:20])
    index = 12
    cut = offsets[index] + (40 if where == "in-header" else len(payloads[index]) - 10)
    data = plain[:cut]
    expected: list[Key] = [
        ("piece", at, payload) for at, payload in zip(offsets[:index], payloads[:index], strict=True)
    ]
    expected.append(("broken", offsets[index], "UnreadableDocument"))
    assert [key(item) for item in read_range(io.BytesIO(data), 0, len(data), len(data), LIMIT)] == expected


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------

HUGE = 20 << 20
#: What reading may hold at once: a whole-gzip file's layout probe inflates up to 8 MB of its first
#: member (``warc_io._FIRST_MEMBER_PROBE``), whatever the limit; then a few reads' worth.
HELD = (8 << 20) + 16 * READ


def huge_file(directory: Path, layout: Layout, body: str) -> tuple[Path, list[int], list[bytes]]:
    """Records around one of 20 MB: "text" compresses as pages do (2:1), "repetitive" as padding does (1000:1)."""
    filler = random.Random(2).randbytes(HUGE // 2).hex().encode() if body == "text" else b"\x00" * HUGE
    page = article_html("Small").encode()
    huge = b"<html><body><p>" + filler + b"</p></body></html>"
    written = [warcinfo(), *exchange("https://a.example.test/1", page), response("https://a.example.test/huge", huge)]
    written += exchange("https://a.example.test/2", page)
    path = directory / f"huge-{layout}-{body}.warc"
    return path, write_warc(path, written, layout), _payloads(written)


@pytest.mark.parametrize("layout", ["members", "plain", "stream"])
@pytest.mark.parametrize("body", ["text", "repetitive"])
def test_a_record_over_the_limit_is_read_past_never_held(tmp_path: Path, layout: Layout, body: str) -> None:
    """A 20 MB record with a 1 MB limit: DocumentTooLarge at its offset, the next records read, the record never held.

    The module: "A record over ``limit`` bytes is read past, never held";
    "keeps memory at one record". Measured with tracemalloc around the read.
    """
    path, offsets, payloads = huge_file(tmp_path, layout, body)
    size = path.stat().st_size
    limit = 1 << 20
    with open(path, "rb") as raw:
        ranges = plan_ranges(raw, size, size // 4)
        assert (len(ranges) > 1) == (layout == "members")
        tracemalloc.start()
        try:
            items = read_tiled(raw, size, ranges, limit)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    expected: list[Key] = [("piece", at, payload) for at, payload in zip(offsets, payloads, strict=True)]
    expected[3] = ("broken", offsets[3], "DocumentTooLarge")
    assert [key(item) for item in items] == expected
    assert peak < HELD, f"{peak} bytes held at once reading a {HUGE}-byte record past a {limit}-byte limit"


class CountingReader(io.BytesIO):
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: Optional[int] = -1, /) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_telling_a_whole_gzip_file_from_members_does_not_inflate_it_all(tmp_path: Path) -> None:
    """``one_record_per_member``: "a member still inflating after 8 MB ... is a file compressed as one stream".

    Planning a file of one gzip stream (20 MB of text, 11 MB compressed) need
    read only what inflates to those 8 MB, not the whole file: the file is
    read again, whole, by its one range.
    """
    path, _, _ = huge_file(tmp_path, "stream", "text")
    data = path.read_bytes()
    raw = CountingReader(data)
    assert plan_ranges(raw, len(data), 1 << 20) == [(0, len(data))]
    assert raw.bytes_read < 0.75 * len(data), f"planning read {raw.bytes_read} of {len(data)} bytes"


# --------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------


def test_parse_header_reads_fields_case_insensitively_and_folds_continuations() -> None:
    head = b"WARC/1.1\r\nWARC-Type: response\r\nwarc-target-uri: https://a.example.test/x\r\n  ?q=1\r\nContent-Length: 12\r\n\r\n"
    header = parse_header(head + b"rest")
    assert header.fields["warc-type"] == "response"
    assert header.fields["warc-target-uri"] == "https://a.example.test/x ?q=1"
    assert header.length == 12 and header.size == len(head)
    assert record_type(head + b"0123456789ab") == "response"
    assert record_type(b"HTTP/1.1 200 OK\r\n\r\n") == ""
    for bad in (
        b"WARC/1.0\r\nWARC-Type: x\r\n\r\n",
        b"WARC/1.0\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ):
        with pytest.raises(UnreadableDocument):
            parse_header(bad)


# --------------------------------------------------------------------------
# A record's HTTP exchange
# --------------------------------------------------------------------------

URL = "https://www.courier.example.test/news/harbour-board-votes-to-rebuild-the-north-pier"
PAGE = article_html("Harbour board votes to rebuild the north pier").encode()


def payload_of(record: Record) -> bytes:
    return _payloads([record])[0]


def at(text: str) -> Timestamp:
    return Timestamp.from_utc_datetime(datetime.fromisoformat(text).astimezone(UTC))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"gzip": True},
        {"chunked": True},
        {"gzip": True, "chunked": True},
        {"gzip": True, "chunked": True, "common_crawl": True},
        {"gzip": True, "common_crawl": True},
    ],
    ids=lambda options: "+".join(sorted(options)) or "identity",
)
def test_read_exchange_gives_the_decoded_page(options: dict[str, bool]) -> None:
    record = response(
        URL,
        PAGE,
        date="2024-05-14T21:45:10Z",
        gzip=options.get("gzip", False),
        chunked=options.get("chunked", False),
        common_crawl=options.get("common_crawl", False),
    )
    assert read_exchange(payload_of(record)) == Exchange(
        URL, at("2024-05-14T21:45:10+00:00"), 200, "text/html; charset=utf-8", PAGE
    )


def test_read_exchange_strips_warc_1_0_angle_brackets_and_reads_resources() -> None:
    read = read_exchange(payload_of(response(URL, PAGE, target_uri=f"<{URL}>")))
    assert isinstance(read, Exchange) and read.url == URL
    read = read_exchange(payload_of(resource(URL, PAGE)))
    assert read == Exchange(URL, at("2024-05-14T22:00:00+00:00"), None, "text/html", PAGE)


@pytest.mark.parametrize(
    ("record", "rule"),
    [
        (response(URL, b"", status=301, headers=(("Location", URL + "/"),)), "warc.redirect"),
        (response(URL, PAGE, status=302, headers=(("Location", URL + "/"),)), "warc.redirect"),
        (response(URL, PAGE, status=404), "warc.http_error"),
        (response(URL, PAGE, status=500, gzip=True), "warc.http_error"),
        (response(URL, _JPEG + bytes(range(256)) * 8, content_type="image/jpeg"), "warc.non_html"),
        (response(URL, _JPEG + bytes(range(256)) * 8, content_type=None), "warc.non_html"),
        (response(URL, b'{"a": 1}', content_type="application/json"), "warc.non_html"),
        (response(URL, b""), "warc.empty"),
        (response(URL, b"", gzip=True, chunked=True), "warc.empty"),
        (revisit(URL), "warc.revisit"),
        (resource(URL, b"%PDF-1.4 ...", content_type="application/pdf"), "warc.non_html"),
    ],
    ids=["301", "302", "404", "500", "jpeg", "jpeg-untyped", "json", "empty", "empty-encoded", "revisit", "pdf"],
)
def test_read_exchange_skips_what_is_no_page(record: Record, rule: str) -> None:
    assert read_exchange(payload_of(record)) == Skipped(rule)


@pytest.mark.parametrize("record", [warcinfo(), request(URL), metadata(URL)], ids=["warcinfo", "request", "metadata"])
def test_read_exchange_skips_bookkeeping_records_under_their_type(record: Record) -> None:
    """Its contract: a record's page "or the rule it is skipped by" (the ranged reader skips these before it)."""
    assert read_exchange(payload_of(record)) == Skipped(f"warc.{record.kind}")


def test_read_exchange_sniffs_a_page_without_content_type() -> None:
    read = read_exchange(payload_of(response(URL, PAGE, content_type=None)))
    assert isinstance(read, Exchange) and read.body == PAGE and read.content_type is None and read.status == 200


def test_read_exchange_keeps_the_domains_asked_for() -> None:
    domains = frozenset({"courier.example.test"})
    payload = payload_of(response(URL, PAGE))
    assert isinstance(read_exchange(payload, domains), Exchange)  # www. is a subdomain
    assert isinstance(read_exchange(payload_of(response("https://courier.example.test/a", PAGE)), domains), Exchange)
    for other in ("https://other.example.test/a", "https://notcourier.example.test/a", "https://courier.example/a"):
        assert read_exchange(payload_of(response(other, PAGE)), domains) == Skipped("domain")


def _http_damaged(damage: str) -> bytes:
    payload = payload_of(response(URL, PAGE, gzip=True, chunked=damage == "chunk-header"))
    if damage == "warc-header":
        return payload.replace(b"WARC/1.0", b"WARC/1.0 junk", 1).replace(b"\r\n", b"\n", 3)[:200]
    if damage == "gzip-data":
        body = payload.index(b"\x1f\x8b")
        return _flip(payload, body + 40, 8)
    assert damage == "chunk-header"
    head = payload.index(b"\r\n\r\n", payload.index(b"HTTP/1.1")) + 4
    return payload[:head] + b"zz" + payload[head + payload[head:].index(b"\r\n") :]


@pytest.mark.parametrize("damage", ["warc-header", "gzip-data", "chunk-header"])
def test_read_exchange_raises_for_what_fastwarc_cannot_read(damage: str) -> None:
    with pytest.raises(UnreadableDocument):
        read_exchange(_http_damaged(damage))
    with pytest.raises(UnreadableDocument):
        read_exchange(b"not a WARC record at all\r\n\r\n")


def test_a_gzip_payload_cut_short_keeps_the_page_as_far_as_it_goes() -> None:
    """A crawler that stopped mid-download stored half a gzip stream: the page's start is its text, kept.

    The WARC record itself is whole (its Content-Length is what it holds, as
    ``WARC-Truncated: length`` records are); the page's gzip stream is not.
    Browsers show such a page as far as it goes, and an article's text comes
    early in its page: a prefix of the page is read, never a crash.
    """
    page = PAGE + random.Random(4).randbytes(50_000).hex().encode()
    encoded = gzip.compress(page, mtime=0)
    half = encoded[: len(encoded) // 2]
    record = Record("response", URL, half, headers=(("Content-Type", "text/html"), ("Content-Encoding", "gzip")))
    payload = payload_of(record)  # Content-Length added: that of the half stored
    assert b"Content-Length: %d\r\n" % len(half) in payload
    read = read_exchange(payload)
    assert isinstance(read, Exchange)
    assert 0 < len(read.body) < len(page) and page.startswith(read.body)


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


def outcomes(
    payload: bytes, keep_non_articles: bool = False, fetched: str = "2031-01-01T00:00:00+00:00"
) -> list[Outcome]:
    """The record's outcomes as the pipeline gets them (the WARC format's record parser)."""
    streamed = warc_format(WarcSettings(keep_non_articles=keep_non_articles)).streamed
    assert streamed is not None
    record = RawRecord("file.warc.gz", "warc", 1, 0, payload, at(fetched), None)
    return list(streamed.parse(record))


def test_an_article_record_is_an_article_at_its_target_uri() -> None:
    (article,) = outcomes(payload_of(response(URL, PAGE, gzip=True, chunked=True, date="2024-05-14T23:00:00Z")))
    assert isinstance(article, RawArticle)
    assert article.url == URL and article.page_url == URL and article.page_status == 200
    assert article.title == "Harbour board votes to rebuild the north pier"
    assert "“It is not a naïve plan,” said the board’s chair" in article.body
    assert article.published_raw is None  # the page has no date: WARC-Date is when it was fetched, not published


def test_the_fetch_time_is_warc_date_and_bounds_the_published_date() -> None:
    """A page dated 2024-05-10 is kept when fetched after it, refused when WARC-Date is years before.

    The record's own ``fetched_at`` (when the range was read, here 2031) must
    not be used: with it the early fetch would keep the date.
    """
    dated = article_html("Harbour board votes", published="2024-05-10T08:00:00Z").encode()
    (kept,) = outcomes(payload_of(response(URL, dated, date="2024-05-14T23:00:00Z")))
    (refused,) = outcomes(payload_of(response(URL, dated, date="2019-03-01T10:00:00Z")))
    assert isinstance(kept, RawArticle) and isinstance(refused, RawArticle)
    assert kept.published_raw is not None and kept.published_raw.startswith("2024-05-10")
    assert refused.published_raw is None or not refused.published_raw.startswith("2024-05-10")


def test_a_charset_declared_only_by_http_decodes_the_page() -> None:
    page = article_html("Café owners welcome the pier vote", charset_meta=None).encode("windows-1252")
    payload = payload_of(response(URL, page, content_type="text/html; charset=windows-1252"))
    (article,) = outcomes(payload)
    assert isinstance(article, RawArticle)
    assert article.title == "Café owners welcome the pier vote"
    assert (article.encoding.declared, article.encoding.decode_path) == ("windows-1252", "declared")
    assert "The café at its root" in article.body and "the board’s chair" in article.body
    assert "â€" not in article.body and "\ufffd" not in article.body


def test_pages_that_are_not_articles_are_skipped_unless_kept() -> None:
    payload = payload_of(response("https://www.courier.example.test/", home_html().encode()))
    (skipped,) = outcomes(payload)
    assert isinstance(skipped, Skipped) and skipped.rule.startswith("page.") and skipped.rule != "page.article"
    (kept,) = outcomes(payload, keep_non_articles=True)
    assert isinstance(kept, RawArticle) and kept.url == "https://www.courier.example.test/"
    assert outcomes(payload_of(response(URL, PAGE, status=404))) == [Skipped("warc.http_error")]


def test_a_warc_held_whole_is_read_record_by_record() -> None:
    """``parse_warc`` (a WARC fetched, or small): the same rules as the range reader, a broken record a Failure."""
    written = [warcinfo(), *exchange(URL, PAGE), response(URL + "/gone", PAGE, status=404), metadata(URL)]
    plain, _ = warc_bytes(written, "plain")
    cut = plain + b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 900\r\n\r\nshort"
    fmt = warc_format()
    document = RawDocument("file.warc", "file", cut, at("2031-01-01T00:00:00+00:00"), None, None)
    got = list(fmt.parse(document, None))  # type: ignore[arg-type]
    assert [type(item).__name__ for item in got] == [
        "Skipped",
        "Skipped",
        "RawArticle",
        "Skipped",
        "Skipped",
        "Failure",
    ]
    assert [item.rule for item in got if isinstance(item, Skipped)] == [
        "warc.warcinfo",
        "warc.request",
        "warc.http_error",
        "warc.metadata",
    ]
    assert isinstance(got[2], RawArticle) and got[2].url == URL
    assert isinstance(got[-1], Failure) and isinstance(got[-1].error, UnreadableDocument)
