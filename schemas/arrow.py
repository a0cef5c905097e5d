"""Arrow schemas derived from the Beam row schemas of :mod:`schemas.records`.

Beam's own type inference (``named_tuple_to_schema``) reads the NamedTuple
annotations; this module only maps Beam's field types to Arrow's. The Parquet
schema is therefore whatever the pipeline's rows are, by construction.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.portability.api import schema_pb2
from apache_beam.typehints.schemas import named_tuple_to_schema
from apache_beam.utils.timestamp import Timestamp

_ATOMIC = {
    schema_pb2.BYTE: pa.int8(),
    schema_pb2.INT16: pa.int16(),
    schema_pb2.INT32: pa.int32(),
    schema_pb2.INT64: pa.int64(),
    schema_pb2.FLOAT: pa.float32(),
    schema_pb2.DOUBLE: pa.float64(),
    schema_pb2.STRING: pa.string(),
    schema_pb2.BOOLEAN: pa.bool_(),
    schema_pb2.BYTES: pa.binary(),
}
_MICROS_INSTANT = "beam:logical_type:micros_instant:v1"
#: The Arrow type every Beam ``Timestamp`` field becomes.
TIMESTAMP = pa.timestamp("us", tz="UTC")


def _arrow_type(field_type: schema_pb2.FieldType) -> pa.DataType:
    kind = field_type.WhichOneof("type_info")
    if kind == "atomic_type":
        return _ATOMIC[field_type.atomic_type]
    if kind == "array_type":
        element = field_type.array_type.element_type
        return pa.list_(pa.field("element", _arrow_type(element), nullable=element.nullable))
    if kind == "iterable_type":
        element = field_type.iterable_type.element_type
        return pa.list_(pa.field("element", _arrow_type(element), nullable=element.nullable))
    if kind == "row_type":
        return pa.struct(_arrow_fields(field_type.row_type.schema))
    if kind == "logical_type" and field_type.logical_type.urn == _MICROS_INSTANT:
        return TIMESTAMP
    raise TypeError(f"no Arrow mapping for Beam field type {field_type}")


def _arrow_fields(schema: schema_pb2.Schema) -> list[pa.Field]:
    return [pa.field(f.name, _arrow_type(f.type), nullable=f.type.nullable) for f in schema.fields]


def arrow_schema(record_type: type, metadata: Mapping[str, str] | None = None) -> pa.Schema:
    """The Arrow schema of a NamedTuple record type, via its Beam schema."""
    return pa.schema(_arrow_fields(named_tuple_to_schema(record_type)), metadata=metadata)


def _to_arrow_value(value: Any) -> Any:
    if isinstance(value, Timestamp):
        return value.to_utc_datetime(has_tz=True)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: _to_arrow_value(v) for name, v in zip(value._fields, value, strict=True)}
    if isinstance(value, (list, tuple)):
        return [_to_arrow_value(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (bytes, str)):
        return value.item()  # numpy scalar
    return value


def to_arrow_table(records: Iterable[Any], schema: pa.Schema) -> pa.Table:
    """Column-wise conversion of records (NamedTuples) to a table of ``schema``."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for record in records:
        for name, value in zip(schema.names, record, strict=True):
            columns[name].append(_to_arrow_value(value))
    return pa.Table.from_pydict(columns, schema=schema)


def field_names(record_type: type) -> Sequence[str]:
    return list(record_type._fields)  # type: ignore[attr-defined]


def read_parquet(source: Any, columns: Optional[Sequence[str]] = None, schema: Optional[pa.Schema] = None) -> pa.Table:
    """A small Parquet file read on the calling thread, without Arrow's dataset scanner.

    ``pq.read_table`` scans through Arrow's dataset module, whose asynchronous
    scanner leaves callbacks on Arrow's thread pools; a process exiting while
    one was being torn down aborted ("terminate called without an active
    exception", exit 134: 9 of 66 HTTP ingests under load). The tables read
    here (feed state, feed health, dead letters for the summary) are small,
    so threads buy nothing. With ``schema`` the table is given exactly those
    columns, a column an older file lacks as nulls.
    """
    table = pq.ParquetFile(source).read(columns=list(columns) if columns else None, use_threads=False)
    if schema is None:
        return table
    arrays = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(len(table), field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
