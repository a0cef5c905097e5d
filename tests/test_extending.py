"""Adding an input format is one module and one registry line (README "Extending: a new input format").

The two formats here stand for such modules, each a ``Format`` value as a
new file under ``transforms/formats/`` would define it:

* ``KEY_VALUE``: "key: value" notes, one article per blank-line-separated
  block, parsed whole like any document; its fields are read by the same
  field names as JSON records (``json_record_to_article``).
* ``HEADLINES``: ``title,url`` rows, a format only ever read as a stream of
  records (``Streamed(whole_when_it_fits=False)``), as a web archive is.

They are added to a copy of the registry (``EXTENDED``), handed to
``ReadDocuments`` and ``ParseDocuments`` as the built-in list is by default,
and a real ingest (read, parse, repair and metadata, dedup, Parquet written
and published) runs over files of both beside a built-in format. Nothing
global changes: ``registry.FORMATS`` is a constant, and the list reaches
Beam's workers inside the transforms that were given it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp
from support import counters, matcher, new_pipeline, read_articles_pyarrow

from schemas import ARTICLE_SCHEMA, RawDocument, RawRecord
from transforms.enrich import Enrich
from transforms.errors import DEAD_LETTER, DocumentTooLarge
from transforms.formats.base import Failure, Format, Match, Outcome, Piece, Sample, Streamed, new_article
from transforms.formats.record_fields import record_outcome
from transforms.formats.registry import FORMATS, detect_format
from transforms.identify import Deduplicate, ReadExistingIds
from transforms.parse import ParseDocuments
from transforms.sinks import ARTICLES, Publish, WritePartitionedParquet, article_partition, join
from transforms.sources import ReadDocuments
from transforms.text import Decoded, decode_bytes

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

# --------------------------------------------------------------------------
# A format parsed whole: "key: value" notes
# --------------------------------------------------------------------------

_KEY_RE = re.compile(r"^([a-z_]+):\s?(.*)$")


def recognise_key_value(sample: Sample, named: bool) -> Optional[Match]:
    """By name, when the first line reads "key: value"."""
    return Match.NAMED if named and _KEY_RE.match(sample.head.split("\n", 1)[0]) else None


def parse_key_value(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    for block in re.split(r"\n\s*\n", decoded.text.strip()):
        fields = {m.group(1): m.group(2) for m in map(_KEY_RE.match, block.splitlines()) if m}
        yield record_outcome(fields, block, document, decoded)


KEY_VALUE = Format(
    name="key_value",
    recognise=recognise_key_value,
    parse=parse_key_value,
    described="key: value notes",
    extensions=(".kv",),
)

# --------------------------------------------------------------------------
# A format read only as records: title,url rows
# --------------------------------------------------------------------------


def recognise_headlines(sample: Sample, named: bool) -> Optional[Match]:
    return Match.NAMED if named else None


def split_rows(stream: BinaryIO, limit: int) -> Iterator[Union[Piece, Failure]]:
    for number, line in enumerate(stream, start=1):
        if len(line) > limit:
            yield Failure(DocumentTooLarge(f"row {number} over {limit} bytes"), None)
        elif line.strip():
            yield Piece(number, line.rstrip(b"\r\n"))


def parse_row(record: RawRecord) -> Iterator[Outcome]:
    decoded = decode_bytes(record.payload)
    document = RawDocument(record.source, "file", record.payload, record.fetched_at, None, record.parent)
    title, url = next(csv.reader([decoded.text]))
    yield new_article(
        document, decoded, title=title, url=url, body=f"{title} (row {record.position})", raw=decoded.text
    )


def parse_rows_whole(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    raise AssertionError("a headlines file is only ever read as records")


HEADLINES = Format(
    name="headlines",
    recognise=recognise_headlines,
    parse=parse_rows_whole,
    described="headline rows",
    extensions=(".headlines",),
    streamed=Streamed(split=split_rows, parse=parse_row, whole_when_it_fits=False),
)

#: The registration: what a newcomer adds as lines to ``registry.FORMATS`` (here to a copy of it).
EXTENDED = (*FORMATS, KEY_VALUE, HEADLINES)


NOTES = """title: Harbour crane returns after repairs
url: https://notes.example/crane
published: 2024-03-11T09:00:00Z
text: The harbour's oldest crane is back at work after a winter of repairs.

title: Ferry timetable adds a dawn sailing
url: https://notes.example/ferry
text: A 5:30 sailing joins the timetable from April.
"""
ROWS = (
    "Library opens on Sundays,https://rows.example/library\n"
    "\n"
    '"Tram line, phase two, approved",https://rows.example/tram\n'
    "Library opens on Sundays,https://rows.example/library\n"
)


def _no_dead_letters(letters: list[object]) -> None:
    assert letters == [], letters


def test_the_built_in_list_does_not_know_the_new_formats() -> None:
    assert detect_format(NOTES, "notes.kv").name == "text"
    assert detect_format(NOTES, "notes.kv", EXTENDED).name == "key_value"
    assert "key_value" not in {f.name for f in FORMATS}


def test_new_formats_run_through_a_real_ingest(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "notes.kv").write_text(NOTES, encoding="utf-8")
    (inputs / "today.headlines").write_text(ROWS, encoding="utf-8")
    (inputs / "story.txt").write_bytes((SEEDS / "articles" / "wire_story.txt").read_bytes())
    output, run_id = str(tmp_path / "out"), "extended"

    pipeline = new_pipeline()
    read = pipeline | "ReadDocuments" >> ReadDocuments([str(inputs)], run_id, 1 << 20, output, formats=EXTENDED)
    parsed = read["documents"] | "ParseDocuments" >> ParseDocuments(run_id, formats=EXTENDED)
    enriched = parsed["articles"] | "Enrich" >> Enrich(run_id, Timestamp.of(1_700_000_000))
    existing = pipeline | "ReadExistingIds" >> ReadExistingIds(join(output, ARTICLES))
    articles = enriched["articles"] | "Identify" >> Deduplicate(existing)
    files = articles | "WriteArticles" >> WritePartitionedParquet(
        ARTICLES, ARTICLE_SCHEMA, article_partition, output, run_id, 1000, "written"
    )
    files | "Publish" >> Publish(output, run_id)
    dead = (read[DEAD_LETTER], parsed[DEAD_LETTER], enriched[DEAD_LETTER]) | "Dead" >> beam.Flatten()
    assert_that(dead, matcher(_no_dead_letters), label="NoDeadLetters")
    assert_that(
        read["documents"] | "Kinds" >> beam.Map(lambda d: (type(d).__name__, d.source.rsplit("/", 1)[-1])),
        equal_to(
            [
                ("RawDocument", "notes.kv"),
                ("RawDocument", "story.txt"),
                ("RawRecord", "today.headlines"),  # small, and still read as records
                ("RawRecord", "today.headlines"),
                ("RawRecord", "today.headlines"),
            ]
        ),
        label="CheckRead",
    )
    result = pipeline.run()
    result.wait_until_finish()

    rows = {a["title"]: a for a in read_articles_pyarrow(Path(output))}
    assert sorted(rows) == [
        "Ferry timetable adds a dawn sailing",
        "Harbour crane returns after repairs",
        "Library opens on Sundays",
        "Senate passes stopgap bill hours before shutdown deadline",
        "Tram line, phase two, approved",
    ]
    crane = rows["Harbour crane returns after repairs"]
    assert crane["url"] == "https://notes.example/crane" and crane["source_type"] == "file"
    assert crane["text"].startswith("The harbour's oldest crane") and crane["published_at"] is not None
    assert rows["Tram line, phase two, approved"]["url"] == "https://rows.example/tram"
    assert rows["Tram line, phase two, approved"]["text"] == "Tram line, phase two, approved (row 3)"
    values = counters(result)
    assert values["documents.key_value"] == 1 and values["documents.headlines"] == 1 and values["documents.text"] == 1
    assert values["duplicates.in_run"] == 1  # the repeated row
    assert values["read"] == 2 + 3 + 1


def test_the_whole_ingest_graph_takes_the_extended_list(tmp_path: Path) -> None:
    """``build_ingest(..., formats=)``: the list reaches both the reading and the parsing step of the real graph."""
    from pipeline.build import build_ingest
    from pipeline.settings import IngestConfig, Settings
    from transforms.entities import EntitySettings

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "notes.kv").write_text(NOTES, encoding="utf-8")
    (inputs / "today.headlines").write_text(ROWS, encoding="utf-8")
    output = tmp_path / "out"
    settings = Settings(
        inputs=(str(inputs),),
        output=str(output),
        run_id="extended-graph",
        ingested_at=Timestamp.of(1_700_000_000),
        entities=EntitySettings(enabled=False),
    )
    pipeline = new_pipeline()
    build_ingest(pipeline, IngestConfig(settings), formats=EXTENDED)
    result = pipeline.run()
    result.wait_until_finish()
    values = counters(result)
    titles = sorted(a["title"] for a in read_articles_pyarrow(output))
    assert titles == [
        "Ferry timetable adds a dawn sailing",
        "Harbour crane returns after repairs",
        "Library opens on Sundays",
        "Tram line, phase two, approved",
    ]
    assert values["documents.key_value"] == 1 and values["documents.headlines"] == 1
    assert values["read"] == values["written"] + values["duplicates"] + values["dead_lettered"] == 5
