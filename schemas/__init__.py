"""Record definitions: the single source for Beam row types and Arrow schemas."""

from schemas.arrow import TIMESTAMP, arrow_schema, read_parquet, to_arrow_table
from schemas.records import (
    CLUSTER_RULE,
    FEED_SCHEMA_VERSION,
    SCHEMA_VERSION,
    ArchivedPage,
    Article,
    ClusterMember,
    DeadLetter,
    EncodingInfo,
    Entity,
    FeedFetch,
    FeedHealth,
    FeedOutcome,
    FeedRequest,
    FeedState,
    FileRange,
    HttpExchange,
    RawArticle,
    RawDocument,
    RawRecord,
    Repair,
    StoryCluster,
)

ARTICLE_SCHEMA = arrow_schema(Article, {"newsbeam.schema_version": str(SCHEMA_VERSION)})
DEAD_LETTER_SCHEMA = arrow_schema(DeadLetter, {"newsbeam.schema_version": str(SCHEMA_VERSION)})
FEED_HEALTH_SCHEMA = arrow_schema(FeedHealth, {"newsbeam.schema_version": str(FEED_SCHEMA_VERSION)})
FEED_STATE_SCHEMA = arrow_schema(FeedState, {"newsbeam.schema_version": str(FEED_SCHEMA_VERSION)})
CLUSTER_SCHEMA = arrow_schema(StoryCluster, {"newsbeam.cluster_rule": str(CLUSTER_RULE)})

__all__ = [
    "ARTICLE_SCHEMA",
    "CLUSTER_RULE",
    "CLUSTER_SCHEMA",
    "ClusterMember",
    "StoryCluster",
    "DEAD_LETTER_SCHEMA",
    "FEED_HEALTH_SCHEMA",
    "FEED_SCHEMA_VERSION",
    "FEED_STATE_SCHEMA",
    "SCHEMA_VERSION",
    "TIMESTAMP",
    "Article",
    "DeadLetter",
    "EncodingInfo",
    "Entity",
    "FeedFetch",
    "FeedHealth",
    "FeedOutcome",
    "FeedRequest",
    "ArchivedPage",
    "FileRange",
    "HttpExchange",
    "FeedState",
    "RawArticle",
    "RawDocument",
    "RawRecord",
    "Repair",
    "arrow_schema",
    "read_parquet",
    "to_arrow_table",
]
