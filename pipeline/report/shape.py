"""The report as data: what ``collect`` returns and every renderer reads.

Frozen dataclasses of plain values (strings, numbers, lists), so
``dataclasses.asdict`` is the JSON (``pipeline.report.text.render_json``)
and nothing downstream needs DuckDB. Dates are ``YYYY-MM-DD`` strings and
times ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), made by the queries themselves, so a
timestamp beyond Python's years (a feed's year 9999) still renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

#: Bumped when a JSON key changes meaning or is removed (keys are only ever added otherwise).
REPORT_VERSION = 1
#: Entries of each ranked list (entities, clusters, page hosts, runs).
DEFAULT_TOP = 10
#: Members listed per story cluster (the JSON and the HTML page; the terminal shows fewer).
MEMBER_LIMIT = 50
ENTITY_KINDS = ("people", "organizations", "locations", "countries")


class ReportError(Exception):
    """DIR cannot be reported on (missing, not a folder, not newsbeam's, remote) or a bad option: one line."""


@dataclass(frozen=True)
class Tally:
    name: str
    articles: int


@dataclass(frozen=True)
class DayCount:
    day: Optional[str]
    source: str
    articles: int


@dataclass(frozen=True)
class SourceTally:
    name: str
    articles: int
    first_day: Optional[str]
    last_day: Optional[str]


@dataclass(frozen=True)
class Member:
    article_id: str
    title: Optional[str]
    source: str
    url: Optional[str]
    published_at: Optional[str]


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    title: Optional[str]
    size: int
    in_range: int
    first_seen: Optional[str]
    last_seen: Optional[str]
    sources: list[str]
    members: list[Member]


@dataclass(frozen=True)
class RepairTally:
    kind: str
    repairs: int
    articles: int


@dataclass(frozen=True)
class DeadLetterTally:
    stage: str
    error_type: str
    count: int
    last_seen: Optional[str]
    example: Optional[str]


@dataclass(frozen=True)
class FeedStats:
    url: str
    kind: Optional[str]
    fetches: int
    failures: int
    responses: int
    not_modified: int
    not_modified_share: Optional[float]
    median_ms: Optional[float]
    p90_ms: Optional[float]
    status: Optional[int]
    error_class: Optional[str]
    error_message: Optional[str]
    streak: int
    last_fetch: Optional[str]
    last_ok: Optional[str]
    failing: bool


@dataclass(frozen=True)
class Feeds:
    feeds: int = 0
    fetches: int = 0
    responses: int = 0
    not_modified: int = 0
    not_modified_share: Optional[float] = None
    median_ms: Optional[float] = None
    failing: int = 0
    per_feed: list[FeedStats] = field(default_factory=list)


@dataclass(frozen=True)
class PageFailure:
    kind: str
    host: str
    articles: int


@dataclass(frozen=True)
class Pages:
    from_page: int = 0
    failed: int = 0
    by_kind: list[Tally] = field(default_factory=list)
    by_host: list[PageFailure] = field(default_factory=list)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    mode: str
    state: Optional[str]
    started_at: Optional[str]
    finished_at: Optional[str]
    written: Optional[int]
    dead_lettered: Optional[int]


@dataclass(frozen=True)
class Totals:
    articles: int = 0
    sources: int = 0
    days: int = 0
    first_day: Optional[str] = None
    last_day: Optional[str] = None
    dead_letters: int = 0
    feeds: int = 0
    failing_feeds: int = 0
    clusters: int = 0
    articles_in_clusters: int = 0
    page_failures: int = 0
    repairs: int = 0


@dataclass(frozen=True)
class Coverage:
    articles: int = 0
    with_entities: int = 0
    with_text_source: int = 0
    with_clusters: int = 0


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class Report:
    """Everything ``newsbeam report`` shows, as plain data (``dataclasses.asdict`` is the JSON)."""

    output: str
    generated_at: str
    range: dict[str, Optional[str]]
    totals: Totals
    coverage: Coverage
    schema_versions: list[dict[str, int]]
    articles_per_day: list[DayCount]
    sources: list[SourceTally]
    languages: list[Tally]
    text_sources: list[Tally]
    entities: dict[str, list[Tally]]
    clusters: list[Cluster]
    repairs: list[RepairTally]
    dead_letters: list[DeadLetterTally]
    feeds: Feeds
    pages: Pages
    runs: list[RunInfo]
    skipped_files: list[SkippedFile]
    notes: list[str]
    report_version: int = REPORT_VERSION
