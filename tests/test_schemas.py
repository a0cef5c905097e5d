"""The record schemas: Arrow agrees with Beam's inferred row schema, Parquet and RowCoder round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.portability.api import schema_pb2
from apache_beam.typehints.row_type import RowTypeConstraint
from apache_beam.typehints.schemas import named_tuple_to_schema
from apache_beam.utils.timestamp import Timestamp
from support import blank_article

import schemas
from schemas import (
    ARTICLE_SCHEMA,
    DEAD_LETTER_SCHEMA,
    FEED_HEALTH_SCHEMA,
    FEED_SCHEMA_VERSION,
    FEED_STATE_SCHEMA,
    SCHEMA_VERSION,
    Article,
    DeadLetter,
    EncodingInfo,
    Entity,
    FeedFetch,
    FeedHealth,
    FeedOutcome,
    FeedRequest,
    FeedState,
    Repair,
    to_arrow_table,
)

TIMESTAMP = pa.timestamp("us", tz="UTC")
MICROS_INSTANT = "beam:logical_type:micros_instant:v1"

#: Every column the issue requires, in order, with its Arrow type and nullability.
REPAIR_STRUCT = pa.struct([pa.field("kind", pa.string(), False), pa.field("count", pa.int32(), False)])
ENCODING_STRUCT = pa.struct(
    [
        pa.field("codec", pa.string(), False),
        pa.field("decode_path", pa.string(), False),
        pa.field("declared", pa.string(), True),
        pa.field("repairs", pa.list_(pa.field("element", REPAIR_STRUCT, False)), False),
    ]
)
STRINGS = pa.list_(pa.field("element", pa.string(), False))
ENTITY_STRUCT = pa.struct(
    [
        pa.field("text", pa.string(), False),
        pa.field("label", pa.string(), False),
        pa.field("start", pa.int32(), False),
        pa.field("end", pa.int32(), False),
        pa.field("canonical", pa.string(), False),
    ]
)
ARTICLE_COLUMNS = [
    ("article_id", pa.string(), False),
    ("schema_version", pa.int32(), False),
    ("run_id", pa.string(), False),
    ("ingested_at", TIMESTAMP, False),
    ("source_type", pa.string(), False),
    ("source", pa.string(), False),
    ("source_domain", pa.string(), True),
    ("url", pa.string(), True),
    ("guid", pa.string(), True),
    ("title", pa.string(), True),
    ("subtitle", pa.string(), True),
    ("dateline", pa.string(), True),
    ("authors", STRINGS, False),
    ("published_at", TIMESTAMP, True),
    ("published_raw", pa.string(), True),
    ("published_offset_minutes", pa.int32(), True),
    ("text", pa.string(), False),
    ("language", pa.string(), True),
    ("word_count", pa.int32(), False),
    ("categories", STRINGS, False),
    ("encoding", ENCODING_STRUCT, False),
    ("content_hash", pa.string(), False),
    ("entities", pa.list_(pa.field("element", ENTITY_STRUCT, False)), False),
    ("people", STRINGS, False),
    ("organizations", STRINGS, False),
    ("locations", STRINGS, False),
    ("countries", STRINGS, False),
    ("id_rule", pa.int32(), False),
    # Full text from the page and the page's metadata (issue 13), nullable so older files read as null.
    ("text_source", pa.string(), True),
    ("summary", pa.string(), True),
    ("page_url", pa.string(), True),
    ("page_status", pa.int32(), True),
    ("page_error", pa.string(), True),
    ("image_url", pa.string(), True),
    ("site_name", pa.string(), True),
    ("description", pa.string(), True),
    ("canonical_url", pa.string(), True),
    ("published_source", pa.string(), True),
    # Story clusters (schema 4), nullable so older files read as null.
    ("cluster_id", pa.string(), True),
    ("cluster_size", pa.int32(), True),
    ("minhash", pa.binary(), True),
    ("cluster_rule", pa.int32(), True),
]
DEAD_LETTER_COLUMNS = [
    ("stage", pa.string(), False),
    ("error_type", pa.string(), False),
    ("message", pa.string(), False),
    ("source", pa.string(), False),
    ("raw_bytes", pa.binary(), True),
    ("raw_text", pa.string(), True),
    ("run_id", pa.string(), False),
    ("time", TIMESTAMP, False),
]


# ==========================================================================
# Arrow schema vs Beam schema
# ==========================================================================


def _expected_arrow(field_type: schema_pb2.FieldType) -> pa.DataType:
    """An independent reading of a Beam field type as the Arrow type it must become."""
    kind = field_type.WhichOneof("type_info")
    if kind == "atomic_type":
        return {
            schema_pb2.STRING: pa.string(),
            schema_pb2.INT32: pa.int32(),
            schema_pb2.INT64: pa.int64(),
            schema_pb2.BOOLEAN: pa.bool_(),
            schema_pb2.BYTES: pa.binary(),
            schema_pb2.DOUBLE: pa.float64(),
        }[field_type.atomic_type]
    if kind in ("array_type", "iterable_type"):
        element = getattr(field_type, kind).element_type
        return pa.list_(pa.field("element", _expected_arrow(element), element.nullable))
    if kind == "row_type":
        return pa.struct(
            [pa.field(f.name, _expected_arrow(f.type), f.type.nullable) for f in field_type.row_type.schema.fields]
        )
    if kind == "logical_type":
        assert field_type.logical_type.urn == MICROS_INSTANT
        return TIMESTAMP
    raise AssertionError(f"unexpected Beam type {field_type}")


@pytest.mark.parametrize(
    ("record", "arrow"),
    [
        (Article, ARTICLE_SCHEMA),
        (DeadLetter, DEAD_LETTER_SCHEMA),
        (FeedHealth, FEED_HEALTH_SCHEMA),
        (FeedState, FEED_STATE_SCHEMA),
    ],
)
def test_arrow_schema_agrees_with_beam_schema_field_by_field(record: type, arrow: pa.Schema) -> None:
    beam_schema = named_tuple_to_schema(record)
    assert [f.name for f in beam_schema.fields] == arrow.names == list(record._fields)  # type: ignore[attr-defined]
    for beam_field, arrow_field in zip(beam_schema.fields, arrow, strict=True):
        assert arrow_field.name == beam_field.name
        assert arrow_field.nullable == beam_field.type.nullable, beam_field.name
        assert arrow_field.type == _expected_arrow(beam_field.type), beam_field.name


def _nested_nullability(t: pa.DataType) -> list[tuple[str, bool]]:
    """Nullability of every nested field: pyarrow's type equality ignores it."""
    out: list[tuple[str, bool]] = []
    if pa.types.is_struct(t):
        for i in range(t.num_fields):
            child = t.field(i)
            out.append((child.name, child.nullable))
            out += _nested_nullability(child.type)
    elif pa.types.is_list(t):
        out.append(("element", t.value_field.nullable))
        out += _nested_nullability(t.value_type)
    return out


@pytest.mark.parametrize(
    ("arrow", "columns"), [(ARTICLE_SCHEMA, ARTICLE_COLUMNS), (DEAD_LETTER_SCHEMA, DEAD_LETTER_COLUMNS)]
)
def test_arrow_schema_has_every_required_column(arrow: pa.Schema, columns: list[tuple[str, pa.DataType, bool]]) -> None:
    assert arrow.names == [name for name, _, _ in columns]
    for name, arrow_type, nullable in columns:
        field = arrow.field(name)
        assert field.type == arrow_type, name
        assert field.nullable == nullable, name
        assert _nested_nullability(field.type) == _nested_nullability(arrow_type), name


def test_beam_schema_types_of_special_fields() -> None:
    fields = {f.name: f.type for f in named_tuple_to_schema(Article).fields}
    assert fields["ingested_at"].logical_type.urn == MICROS_INSTANT
    assert fields["published_at"].logical_type.urn == MICROS_INSTANT
    assert fields["published_at"].nullable and not fields["ingested_at"].nullable
    assert fields["authors"].WhichOneof("type_info") == "array_type"
    assert fields["encoding"].WhichOneof("type_info") == "row_type"
    assert fields["word_count"].atomic_type == schema_pb2.INT32
    assert fields["published_offset_minutes"].atomic_type == schema_pb2.INT32
    repairs = {f.name: f.type for f in fields["encoding"].row_type.schema.fields}["repairs"]
    assert repairs.WhichOneof("type_info") == "array_type"
    assert [f.name for f in repairs.array_type.element_type.row_type.schema.fields] == ["kind", "count"]


def test_timestamps_are_microseconds_utc() -> None:
    assert ARTICLE_SCHEMA.field("ingested_at").type == pa.timestamp("us", tz="UTC")
    assert ARTICLE_SCHEMA.field("published_at").type.unit == "us"
    assert ARTICLE_SCHEMA.field("published_at").type.tz == "UTC"
    assert DEAD_LETTER_SCHEMA.field("time").type == pa.timestamp("us", tz="UTC")
    assert schemas.TIMESTAMP == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize("arrow", [ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA])
def test_schema_version_metadata(arrow: pa.Schema) -> None:
    assert SCHEMA_VERSION == 4
    assert arrow.metadata == {b"newsbeam.schema_version": b"4"}


# ==========================================================================
# Records for the round trips
# ==========================================================================


def full_article() -> Article:
    return Article(
        article_id="0123456789abcdef0123",
        schema_version=np.int32(SCHEMA_VERSION),
        run_id="run-2024-01-02T03:04:05Z",
        ingested_at=Timestamp(1_700_000_000, 123_456),
        source_type="feed",
        source="/data/feeds/world.xml",
        source_domain="web.example",
        url="https://web.example/world/story?id=7",
        guid="tag:web.example,2024:7",
        title="China, US in talks — “quoted” ’s 🎉",
        subtitle="A dek with ünïcödé",
        dateline="BEIJING",
        authors=["Jane Doe", "John Roe"],
        published_at=Timestamp.from_utc_datetime(datetime(1950, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),  # pre-epoch
        published_raw="Sat, 06 May 1950 08:08:09 +0100",
        published_offset_minutes=np.int32(-330),
        text="First paragraph.\n\nSecond paragraph with 中文 and \u00a0NBSP.",
        language="en",
        word_count=np.int32(9),
        categories=["World", "Asia"],
        encoding=EncodingInfo(
            codec="cp1252",
            decode_path="declared",
            declared="windows-1252",
            repairs=[Repair("lost_bytes:quote", np.int32(10)), Repair("mojibake:latin-1", np.int32(1))],
        ),
        content_hash="f" * 64,
        entities=[
            Entity("Wu Qian", "PERSON", np.int32(0), np.int32(7), "Wu Qian"),
            Entity("PLA", "ORG", np.int32(20), np.int32(23), "People's Liberation Army"),
        ],
        people=["Wu Qian"],
        organizations=["People's Liberation Army"],
        locations=[],
        countries=["CN"],
    )


def minimal_article() -> Article:
    return blank_article(article_id="a", run_id="r", source="s", language=None, content_hash="h")


def empty_strings_article() -> Article:
    """Empty strings are not nulls: they must come back as empty strings."""
    return minimal_article()._replace(title="", subtitle="", url="", language="", authors=[""], categories=[""])


def dead_letter(raw_bytes: bytes | None, raw_text: str | None) -> DeadLetter:
    return DeadLetter(
        stage="parse",
        error_type="FeedError",
        message="no entries “here”",
        source="/data/x.xml",
        raw_bytes=raw_bytes,
        raw_text=raw_text,
        run_id="run",
        time=Timestamp(1_700_000_000, 1),
    )


def _from_row(record_type: type, row: dict[str, Any]) -> Any:
    """A record rebuilt from a row read back from Parquet."""
    values = []
    for name in record_type._fields:  # type: ignore[attr-defined]
        value = row[name]
        if isinstance(value, datetime):
            value = Timestamp.from_utc_datetime(value.astimezone(UTC))
        values.append(value)
    record = record_type(*values)
    if record_type is Article:
        encoding = row["encoding"]
        record = record._replace(
            encoding=EncodingInfo(
                encoding["codec"],
                encoding["decode_path"],
                encoding["declared"],
                [Repair(r["kind"], r["count"]) for r in encoding["repairs"]],
            ),
            entities=[Entity(**e) for e in row["entities"]],
        )
    return record


# ==========================================================================
# Parquet round trip
# ==========================================================================


@pytest.mark.parametrize("make", [full_article, minimal_article, empty_strings_article])
def test_parquet_round_trip_article(tmp_path: Path, make: Any) -> None:
    article = make()
    path = tmp_path / "articles.parquet"
    pq.write_table(to_arrow_table([article], ARTICLE_SCHEMA), path)
    table = pq.read_table(path)
    assert table.schema.equals(ARTICLE_SCHEMA, check_metadata=True)
    assert table.num_rows == 1
    rows = table.to_pylist()
    back = _from_row(Article, rows[0])
    assert back == article
    # Field by field, so a difference names its column.
    for name, expected, actual in zip(Article._fields, article, back, strict=True):
        assert actual == expected, name
    assert rows[0]["published_at"] is None or rows[0]["published_at"].tzinfo is not None


def test_parquet_round_trip_many_articles_keeps_order(tmp_path: Path) -> None:
    articles = [full_article(), minimal_article(), empty_strings_article(), full_article()._replace(article_id="b")]
    path = tmp_path / "many.parquet"
    pq.write_table(to_arrow_table(articles, ARTICLE_SCHEMA), path)
    assert [_from_row(Article, row) for row in pq.read_table(path).to_pylist()] == articles


def test_parquet_timestamps_are_exact_microseconds(tmp_path: Path) -> None:
    article = full_article()
    path = tmp_path / "ts.parquet"
    pq.write_table(to_arrow_table([article], ARTICLE_SCHEMA), path)
    table = pq.read_table(path, columns=["ingested_at", "published_at"])
    assert table.column("ingested_at").cast(pa.int64()).to_pylist() == [1_700_000_000_123_456]
    assert table.column("published_at").cast(pa.int64()).to_pylist() == [article.published_at.micros]  # type: ignore[union-attr]
    assert table.column("published_at").cast(pa.int64()).to_pylist()[0] < 0


@pytest.mark.parametrize(
    ("raw_bytes", "raw_text"), [(bytes(range(256)), None), (None, "raw text “payload”"), (b"", None)]
)
def test_parquet_round_trip_dead_letter(tmp_path: Path, raw_bytes: bytes | None, raw_text: str | None) -> None:
    record = dead_letter(raw_bytes, raw_text)
    path = tmp_path / "dead.parquet"
    pq.write_table(to_arrow_table([record], DEAD_LETTER_SCHEMA), path)
    table = pq.read_table(path)
    assert table.schema.equals(DEAD_LETTER_SCHEMA, check_metadata=True)
    assert _from_row(DeadLetter, table.to_pylist()[0]) == record


def test_parquet_rejects_null_in_required_column(tmp_path: Path) -> None:
    broken = minimal_article()._replace(text=None)  # type: ignore[arg-type]  # deliberately invalid
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError)):
        table = to_arrow_table([broken], ARTICLE_SCHEMA)
        pq.write_table(table, tmp_path / "broken.parquet")


def test_to_arrow_table_empty() -> None:
    table = to_arrow_table([], ARTICLE_SCHEMA)
    assert table.num_rows == 0
    assert table.schema.equals(ARTICLE_SCHEMA, check_metadata=True)


# ==========================================================================
# RowCoder
# ==========================================================================


@pytest.mark.parametrize("make", [full_article, minimal_article, empty_strings_article])
def test_row_coder_round_trip_article(make: Any) -> None:
    article = make()
    coder = beam.coders.RowCoder.from_type_hint(Article, beam.coders.registry)
    decoded = coder.decode(coder.encode(article))
    assert type(decoded) is Article
    assert decoded == article
    assert type(decoded.encoding) is EncodingInfo
    assert all(type(r) is Repair for r in decoded.encoding.repairs)
    assert decoded.ingested_at == article.ingested_at
    assert decoded.published_at == article.published_at


def test_row_coder_from_registry_round_trips_article() -> None:
    coder = beam.coders.registry.get_coder(RowTypeConstraint.from_user_type(Article))
    assert isinstance(coder, beam.coders.RowCoder)
    article = full_article()
    assert coder.decode(coder.encode(article)) == article
    assert coder.is_deterministic()


def test_row_coder_round_trip_dead_letter() -> None:
    coder = beam.coders.RowCoder.from_type_hint(DeadLetter, beam.coders.registry)
    for record in (dead_letter(bytes(range(256)), None), dead_letter(None, "text")):
        assert coder.decode(coder.encode(record)) == record


def test_row_coder_is_compact() -> None:
    coder = beam.coders.RowCoder.from_type_hint(Article, beam.coders.registry)
    pickled = beam.coders.PickleCoder()
    article = full_article()
    assert len(coder.encode(article)) < len(pickled.encode(article))


@pytest.mark.parametrize("arrow", [FEED_HEALTH_SCHEMA, FEED_STATE_SCHEMA])
def test_feed_tables_carry_their_own_version(arrow: pa.Schema) -> None:
    """The feed tables version their columns apart from articles, so a health column never bumps article rows."""
    assert FEED_SCHEMA_VERSION == 2
    assert arrow.metadata == {b"newsbeam.schema_version": b"2"}


@pytest.mark.parametrize("record", [FeedRequest, FeedFetch, FeedOutcome, FeedHealth, FeedState])
def test_feed_records_use_the_row_coder(record: type) -> None:
    assert isinstance(beam.coders.registry.get_coder(record), beam.coders.RowCoder)


def test_row_coder_round_trip_feed_health() -> None:
    coder = beam.coders.RowCoder.from_type_hint(FeedHealth, beam.coders.registry)
    row = FeedHealth(
        run_id="r",
        url="https://site.example/rss.xml",
        final_url=None,
        parent=None,
        kind="feed",
        status=None,
        error_class="ConnectionFailed",
        error_message="refused",
        bytes=np.int64(0),
        entries_seen=np.int32(0),
        new_articles=np.int32(0),
        duplicates=np.int32(0),
        dead_lettered=np.int32(0),
        not_modified=False,
        attempts=np.int32(4),
        redirects=np.int32(0),
        elapsed_ms=np.int64(7012),
        consecutive_failures=np.int32(3),
        content_type=None,
        fetched_at=Timestamp(micros=1_700_000_000_123_456),
    )
    assert coder.decode(coder.encode(row)) == row


def test_registry_gives_row_coder_for_article() -> None:
    assert isinstance(beam.coders.registry.get_coder(Article), beam.coders.RowCoder)
