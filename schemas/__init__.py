"""Record definitions: the single source for Beam row types and Arrow schemas."""

from schemas.arrow import TIMESTAMP, arrow_schema, to_arrow_table
from schemas.records import (
    SCHEMA_VERSION,
    Article,
    DeadLetter,
    EncodingInfo,
    Entity,
    RawArticle,
    RawDocument,
    Repair,
)

ARTICLE_SCHEMA = arrow_schema(Article, {"newsbeam.schema_version": str(SCHEMA_VERSION)})
DEAD_LETTER_SCHEMA = arrow_schema(DeadLetter, {"newsbeam.schema_version": str(SCHEMA_VERSION)})

__all__ = [
    "ARTICLE_SCHEMA",
    "DEAD_LETTER_SCHEMA",
    "SCHEMA_VERSION",
    "TIMESTAMP",
    "Article",
    "DeadLetter",
    "EncodingInfo",
    "Entity",
    "RawArticle",
    "RawDocument",
    "Repair",
    "arrow_schema",
    "to_arrow_table",
]
