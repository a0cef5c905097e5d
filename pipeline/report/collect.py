"""Reading an output folder into a ``Report``: DuckDB over the Parquet tables, whatever their versions.

Every table's Parquet files are listed here (``_staging`` and other ``_``/``.``
entries left out), each file's footer is read first so a damaged file is
named and skipped instead of failing the report, and DuckDB reads the rest
with ``union_by_name``. Files of older schema versions lack columns
(entities before 2, ``text_source`` … in early 3, clusters before 4): each
table is read once, into memory, with a typed NULL for a column DuckDB does
not see (and the others cast to the type the queries expect), so every
query runs on every mix of versions.

Range (``--since``/``--until``, both inclusive, UTC days): articles by their
publication day, their ingest day when they have none or an implausible one
(the day their ``published_date=`` partition names); dead letters by the
day they failed; feed fetches by the day they were made; story clusters by
their member articles in the range.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.report.shape import (
    DEFAULT_TOP,
    ENTITY_KINDS,
    MEMBER_LIMIT,
    Cluster,
    Coverage,
    DayCount,
    DeadLetterTally,
    Feeds,
    FeedStats,
    Member,
    PageFailure,
    Pages,
    RepairTally,
    Report,
    ReportError,
    RunInfo,
    SkippedFile,
    SourceTally,
    Tally,
    Totals,
)
from transforms.clusters import CLUSTERS
from transforms.health import FEED_HEALTH
from transforms.sinks import ARTICLES, DEAD_LETTERS, PLAUSIBLE_YEARS
from transforms.sources import OUTPUT_MARKER

RUNS = "runs"
#: What marks a folder as newsbeam's: its marker, or any table or folder it writes.
_OUTPUT_ENTRIES = (OUTPUT_MARKER, ARTICLES, DEAD_LETTERS, FEED_HEALTH, "feed_state", CLUSTERS, RUNS)
_TIME = "%Y-%m-%dT%H:%M:%SZ"

#: The columns each query needs, with the type it reads them as; a column a file lacks reads as NULL.
ARTICLE_COLUMNS: Mapping[str, str] = {
    "article_id": "VARCHAR",
    "schema_version": "INTEGER",
    "ingested_at": "TIMESTAMPTZ",
    "published_at": "TIMESTAMPTZ",
    "source": "VARCHAR",
    "source_domain": "VARCHAR",
    "url": "VARCHAR",
    "title": "VARCHAR",
    "language": "VARCHAR",
    "text_source": "VARCHAR",
    "page_url": "VARCHAR",
    "page_error": "VARCHAR",
    "people": "VARCHAR[]",
    "organizations": "VARCHAR[]",
    "locations": "VARCHAR[]",
    "countries": "VARCHAR[]",
    "cluster_id": "VARCHAR",
}
_REPAIRS_TYPE = 'STRUCT(kind VARCHAR, "count" BIGINT)[]'
DEAD_LETTER_COLUMNS: Mapping[str, str] = {
    "stage": "VARCHAR",
    "error_type": "VARCHAR",
    "message": "VARCHAR",
    "time": "TIMESTAMPTZ",
}
FEED_HEALTH_COLUMNS: Mapping[str, str] = {
    "run_id": "VARCHAR",
    "url": "VARCHAR",
    "kind": "VARCHAR",
    "status": "INTEGER",
    "error_class": "VARCHAR",
    "error_message": "VARCHAR",
    "not_modified": "BOOLEAN",
    "elapsed_ms": "BIGINT",
    "consecutive_failures": "INTEGER",
    "fetched_at": "TIMESTAMPTZ",
}
CLUSTER_COLUMNS: Mapping[str, str] = {
    "cluster_id": "VARCHAR",
    "size": "BIGINT",
    "first_seen": "TIMESTAMPTZ",
    "last_seen": "TIMESTAMPTZ",
    "sources": "VARCHAR[]",
    "title": "VARCHAR",
    "merged_ids": "VARCHAR[]",
    "run_id": "VARCHAR",
    "updated_at": "TIMESTAMPTZ",
}
#: A column without which a file is not a table of that kind (a stray Parquet file is skipped, named).
_KEY_COLUMN = {ARTICLES: "article_id", DEAD_LETTERS: "stage", FEED_HEALTH: "url", CLUSTERS: "cluster_id"}

# --------------------------------------------------------------------------
# Options and the folder
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DayRange:
    """First and last UTC day to report (inclusive); None: unbounded on that side."""

    since: Optional[dt.date] = None
    until: Optional[dt.date] = None

    def sql(self, column: str) -> str:
        """A predicate on a DATE expression; the bounds are dates, so the literals cannot carry anything else."""
        terms = []
        if self.since is not None:
            terms.append(f"{column} >= DATE '{self.since.isoformat()}'")
        if self.until is not None:
            terms.append(f"{column} <= DATE '{self.until.isoformat()}'")
        return " AND ".join(terms) if terms else "TRUE"


def parse_day(flag: str, value: str, today: dt.date) -> dt.date:
    """A day as the ingest flags take it: ``YYYY-MM-DD``, ``today`` or ``yesterday`` (UTC)."""
    word = value.strip().lower()
    if word == "today":
        return today
    if word == "yesterday":
        return today - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ReportError(f"{flag} must be a day as YYYY-MM-DD (or today, yesterday), not {value!r}") from None


def day_range(since: Optional[str], until: Optional[str], today: Optional[dt.date] = None) -> DayRange:
    """The range of ``--since``/``--until``; a reversed range is a usage error, not an empty report."""
    today = today or dt.datetime.now(dt.UTC).date()
    first = parse_day("--since", since, today) if since is not None else None
    last = parse_day("--until", until, today) if until is not None else None
    if first is not None and last is not None and first > last:
        raise ReportError(f"--since {first} is after --until {last}")
    return DayRange(first, last)


def check_output(output: str) -> None:
    """Refuses what is not a local folder newsbeam wrote, with the reason in one line.

    An empty folder is accepted (an output nothing has been written to yet
    reports zeros); a folder with entries, none of them newsbeam's, is
    refused: a report of zeros there would hide a wrong path.
    """
    if "://" in output:
        raise ReportError(
            f"{output}: newsbeam report reads a local folder; copy the output down first (gsutil -m cp -r)"
        )
    if not os.path.exists(output):
        raise ReportError(f"{output}: no such folder")
    if not os.path.isdir(output):
        raise ReportError(f"{output} is a file, not an output folder")
    try:
        entries = os.listdir(output)
    except OSError as error:
        raise ReportError(f"{output}: cannot read it ({error.strerror or error})") from None
    if entries and not any(name in entries for name in _OUTPUT_ENTRIES):
        raise ReportError(
            f"{output} is not a newsbeam output folder (it has no {OUTPUT_MARKER}, articles/, runs/ or other table)"
        )


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def table_files(output: str, table: str) -> list[str]:
    """The published Parquet files of a table: staging, hidden and ``_``-prefixed entries left out, sorted."""
    root = os.path.join(output, table)
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not _hidden(d))
        found.extend(os.path.join(folder, f) for f in files if f.endswith(".parquet") and not _hidden(f))
    return sorted(found)


def readable_files(paths: Iterable[str], key_column: str) -> tuple[list[str], list[SkippedFile]]:
    """The files whose Parquet footer reads and that have the table's key column; the others, with why.

    One damaged file (0 bytes, cut off, not Parquet) would fail every
    DuckDB query over the table; read one by one, it is named and skipped.
    """
    good: list[str] = []
    skipped: list[SkippedFile] = []
    for path in paths:
        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException) as error:
            skipped.append(SkippedFile(path, f"not readable as Parquet: {str(error).splitlines()[0][:200]}"))
            continue
        if key_column not in names:
            skipped.append(SkippedFile(path, f"no {key_column} column: not a file of this table"))
            continue
        good.append(path)
    return good, skipped


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_list(present: Mapping[str, str], columns: Mapping[str, str]) -> list[str]:
    """Each wanted column, cast to the type the queries expect, or a typed NULL where the files lack it."""
    out = []
    for name, type_ in columns.items():
        if name in present:
            out.append(f"TRY_CAST({_quote(name)} AS {type_}) AS {_quote(name)}")
        else:
            out.append(f"CAST(NULL AS {type_}) AS {_quote(name)}")
    return out


def _repairs_expression(present: Mapping[str, str]) -> str:
    """The article's repairs list from its ``encoding`` struct, NULL where the files have none."""
    encoding = present.get("encoding", "")
    if encoding.upper().startswith("STRUCT") and "repairs" in encoding:
        return f"TRY_CAST(encoding.repairs AS {_REPAIRS_TYPE}) AS repairs"
    return f"CAST(NULL AS {_REPAIRS_TYPE}) AS repairs"


def _select(present: Mapping[str, str], name: str, columns: Mapping[str, str]) -> str:
    select = _select_list(present, columns)
    if name == ARTICLES:
        select.append(_repairs_expression(present))
    return ", ".join(select)


def _columns_of(relation: duckdb.DuckDBPyRelation) -> dict[str, str]:
    return {column: str(type_) for column, type_ in zip(relation.columns, relation.types, strict=True)}


def load_table(
    con: duckdb.DuckDBPyConnection, name: str, files: Sequence[str], columns: Mapping[str, str]
) -> list[SkippedFile]:
    """A table ``name`` with exactly ``columns``, read once from ``files``; the files that could not be read.

    Read once into memory, not a view: a dozen queries each scanning a year
    of daily files cost 0.3 s apiece; the columns read here are the small
    ones (no text), a few hundred bytes an article. When the files cannot be
    read together (one stores a column as another type, which
    ``union_by_name`` cannot combine), they are read one by one, each with
    its own columns, and a file that still fails is named and left out.
    """
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT {_select({}, name, columns)} WHERE FALSE")
    if not files:
        return []
    try:
        raw = con.read_parquet(list(files), union_by_name=True, hive_partitioning=False)
        raw.create_view(f"{name}_raw", replace=True)
        con.execute(f"INSERT INTO {name} SELECT {_select(_columns_of(raw), name, columns)} FROM {name}_raw")
        return []
    except duckdb.Error:
        pass
    skipped = []
    for path in files:
        try:
            raw = con.read_parquet([path], hive_partitioning=False)
            raw.create_view(f"{name}_raw", replace=True)
            con.execute(f"INSERT INTO {name} SELECT {_select(_columns_of(raw), name, columns)} FROM {name}_raw")
        except duckdb.Error as error:
            skipped.append(SkippedFile(path, f"not readable with the others: {str(error).splitlines()[0][:200]}"))
    return skipped


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads UTC days and never installs an extension from the network."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    return con


# --------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------


def _day_expression() -> str:
    """The day an article is filed under: its publication day when plausible, else its ingest day (as sinks do)."""
    low, high = PLAUSIBLE_YEARS
    return (
        f"CASE WHEN published_at IS NOT NULL AND year(published_at) >= {low} AND year(published_at) < {high} "
        "THEN CAST(published_at AS DATE) ELSE CAST(ingested_at AS DATE) END"
    )


def _time(column: str) -> str:
    return f"strftime({column}, '{_TIME}')"


#: The host of a link, lower-cased, without user info or port (DuckDB's regexp is RE2).
_HOST = r"lower(regexp_extract({}, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]/]*\]|[^:/?#]*)', 1))"


def host_sql(expression: str) -> str:
    return _HOST.format(expression)


def resolve_aliases(rows: Iterable[tuple[str, Optional[Sequence[str]]]]) -> dict[str, str]:
    """Each merged cluster id → the cluster it is now part of, following chains (A into B, B into C).

    ``rows`` are (cluster_id, merged_ids) of every ``clusters/`` row; a cycle
    (which newsbeam never writes) stops where it closes.
    """
    into: dict[str, str] = {}
    for cluster_id, merged in rows:
        for old in merged or ():
            if old and old != cluster_id:
                into[old] = cluster_id
    resolved: dict[str, str] = {}
    for start, target in into.items():
        seen = {start}
        while target in into and target not in seen:
            seen.add(target)
            target = into[target]
        resolved[start] = target
    return resolved


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def _number(value: Any) -> Optional[float]:
    return None if value is None else round(float(value), 1)


class _Collector:
    """The queries of one report, over the tables read from one output (kept apart from rendering and the CLI)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, window: DayRange, top: int):
        self.con = con
        self.window = window
        self.top = top
        #: Set by ``clusters``: how many story clusters have members in range, and how many members.
        self.cluster_count = 0
        self.clustered = 0

    def rows(self, sql: str, parameters: Optional[Sequence[Any]] = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, parameters or []).fetchall()

    def one(self, sql: str) -> tuple[Any, ...]:
        found = self.con.execute(sql).fetchone()
        assert found is not None  # an aggregate without GROUP BY always returns its one row
        return found

    def prepare(self) -> None:
        """``a``: the articles in range, with their day and the name their source is shown under."""
        self.con.execute(
            f"CREATE TEMP VIEW dated AS SELECT *, {_day_expression()} AS day, "
            "coalesce(nullif(source_domain, ''), nullif(source, ''), '(unknown)') AS src FROM articles"
        )
        self.con.execute(f"CREATE TEMP VIEW a AS SELECT * FROM dated WHERE {self.window.sql('day')}")

    def articles(self) -> tuple[list[DayCount], list[SourceTally]]:
        per_day = [
            DayCount(day, source, n)
            for day, source, n in self.rows(
                "SELECT CAST(day AS VARCHAR), src, count(*) FROM a GROUP BY ALL ORDER BY 1 NULLS LAST, 3 DESC, 2"
            )
        ]
        sources = [
            SourceTally(*row)
            for row in self.rows(
                "SELECT src, count(*), CAST(min(day) AS VARCHAR), CAST(max(day) AS VARCHAR) FROM a "
                "GROUP BY src ORDER BY 2 DESC, 1"
            )
        ]
        return per_day, sources

    def tallies(self, expression: str) -> list[Tally]:
        return [
            Tally(*row)
            for row in self.rows(f"SELECT {expression} AS name, count(*) FROM a GROUP BY 1 ORDER BY 2 DESC, 1")
        ]

    def entities(self) -> dict[str, list[Tally]]:
        found = {}
        for kind in ENTITY_KINDS:
            found[kind] = [
                Tally(*row)
                for row in self.rows(
                    f"SELECT name, count(*) FROM (SELECT unnest(list_distinct({kind})) AS name FROM a) "
                    f"WHERE name IS NOT NULL AND trim(name) <> '' GROUP BY name ORDER BY 2 DESC, 1 LIMIT {self.top}"
                )
            ]
        return found

    def repairs(self) -> list[RepairTally]:
        return [
            RepairTally(*row)
            for row in self.rows(
                "SELECT r.kind, sum(r.count), count(DISTINCT n) FROM "
                "(SELECT row_number() OVER () AS n, unnest(repairs) AS r FROM a WHERE repairs IS NOT NULL) "
                "WHERE r.kind IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
            )
        ]

    def dead_letters(self) -> list[DeadLetterTally]:
        return [
            DeadLetterTally(*row)
            for row in self.rows(
                "SELECT coalesce(stage, '(unknown)'), coalesce(error_type, '(unknown)'), count(*), "
                f"{_time('max(time)')}, arg_max(message, time) FROM {DEAD_LETTERS} "
                f"WHERE {self.window.sql('CAST(time AS DATE)')} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
            )
        ]

    def feeds(self) -> Feeds:
        """Per feed: its fetches in range, and its latest fetch (failing when that gave nothing usable)."""
        self.con.execute(
            f"CREATE TEMP VIEW h AS SELECT * FROM {FEED_HEALTH} "
            f"WHERE url IS NOT NULL AND {self.window.sql('CAST(fetched_at AS DATE)')}"
        )
        per_feed = [
            FeedStats(
                url=url,
                kind=kind,
                fetches=fetches,
                failures=failures,
                responses=responses,
                not_modified=not_modified,
                not_modified_share=_share(not_modified, responses),
                median_ms=_number(median),
                p90_ms=_number(p90),
                status=status,
                error_class=error_class,
                error_message=error_message,
                streak=int(streak or 0),
                last_fetch=last_fetch,
                last_ok=last_ok,
                failing=error_class is not None,
            )
            for (
                url,
                kind,
                fetches,
                failures,
                responses,
                not_modified,
                median,
                p90,
                status,
                error_class,
                error_message,
                streak,
                last_fetch,
                last_ok,
            ) in self.rows(
                "WITH latest AS (SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY url "
                "ORDER BY fetched_at DESC NULLS LAST, run_id DESC) AS rn FROM h) WHERE rn = 1), "
                "stats AS (SELECT url, count(*) AS fetches, count(*) FILTER (error_class IS NOT NULL) AS failures, "
                "count(*) FILTER (status IS NOT NULL) AS responses, "
                "count(*) FILTER (not_modified AND status IS NOT NULL) AS not_modified, "
                "median(elapsed_ms) FILTER (status IS NOT NULL) AS median_ms, "
                "quantile_cont(elapsed_ms, 0.9) FILTER (status IS NOT NULL) AS p90_ms, "
                f"{_time('max(fetched_at) FILTER (error_class IS NULL)')} AS last_ok FROM h GROUP BY url) "
                "SELECT s.url, l.kind, s.fetches, s.failures, s.responses, s.not_modified, s.median_ms, s.p90_ms, "
                f"l.status, l.error_class, l.error_message, l.consecutive_failures, {_time('l.fetched_at')}, s.last_ok "
                "FROM stats s JOIN latest l USING (url) "
                "ORDER BY (l.error_class IS NULL), coalesce(l.consecutive_failures, 0) DESC, s.url"
            )
        ]
        fetches, responses, not_modified, median = self.one(
            "SELECT count(*), count(*) FILTER (status IS NOT NULL), count(*) FILTER (not_modified AND status IS NOT NULL), "
            "median(elapsed_ms) FILTER (status IS NOT NULL) FROM h"
        )
        return Feeds(
            feeds=len(per_feed),
            fetches=fetches,
            responses=responses,
            not_modified=not_modified,
            not_modified_share=_share(not_modified, responses),
            median_ms=_number(median),
            failing=sum(1 for feed in per_feed if feed.failing),
            per_feed=per_feed,
        )

    def pages(self) -> Pages:
        from_page, failed = self.one(
            "SELECT count(*) FILTER (text_source = 'page'), count(*) FILTER (page_error IS NOT NULL) FROM a"
        )
        by_kind = [
            Tally(*row)
            for row in self.rows(
                "SELECT page_error, count(*) FROM a WHERE page_error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
            )
        ]
        host = host_sql("coalesce(page_url, url)")
        by_host = [
            PageFailure(*row)
            for row in self.rows(
                f"SELECT page_error, coalesce(nullif({host}, ''), '(no link)'), count(*) FROM a "
                f"WHERE page_error IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 2, 1 LIMIT {self.top}"
            )
        ]
        return Pages(from_page=from_page, failed=failed, by_kind=by_kind, by_host=by_host)

    def clusters(self) -> list[Cluster]:
        """The largest story clusters with members in range: the ``clusters/`` table where written, else the articles.

        An article's ``cluster_id`` that a later ``clusters/`` row lists in
        ``merged_ids`` counts toward that row's cluster; a cluster's current
        state is its row with the latest ``updated_at``.
        """
        aliases = resolve_aliases(
            self.rows(f"SELECT cluster_id, merged_ids FROM {CLUSTERS} WHERE cluster_id IS NOT NULL")
        )
        alias_table = pa.table({"old": list(aliases), "new": list(aliases.values())}, schema=_ALIAS_SCHEMA)
        self.con.register("alias", alias_table)
        seen = "coalesce(published_at, ingested_at)"
        self.con.execute(
            "CREATE TEMP VIEW current_clusters AS SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY cluster_id "
            f"ORDER BY updated_at DESC NULLS LAST, run_id DESC) AS rn FROM {CLUSTERS} WHERE cluster_id IS NOT NULL) "
            "WHERE rn = 1 AND cluster_id NOT IN (SELECT old FROM alias)"
        )
        self.con.execute(
            "CREATE TEMP VIEW members AS SELECT coalesce(alias.new, d.cluster_id) AS cid, d.*, "
            f"({self.window.sql('d.day')}) AS in_range FROM dated d LEFT JOIN alias ON d.cluster_id = alias.old "
            "WHERE d.cluster_id IS NOT NULL"
        )
        top = self.rows(
            "WITH m AS (SELECT cid, count(*) AS n_all, count(*) FILTER (in_range) AS n_in, "
            f"min({seen}) AS first_at, max({seen}) AS last_at, list(DISTINCT src ORDER BY src) AS srcs, "
            "max(title) FILTER (article_id = cid) AS own_title, min(title) AS any_title FROM members GROUP BY cid), "
            "j AS (SELECT coalesce(m.cid, c.cluster_id) AS cid, greatest(coalesce(c.size, 0), coalesce(m.n_all, 0)) AS size, "
            "coalesce(m.n_in, 0) AS n_in, m.n_all, least(c.first_seen, m.first_at) AS first_at, "
            "greatest(c.last_seen, m.last_at) AS last_at, "
            "list_sort(list_distinct(list_concat(coalesce(c.sources, []), coalesce(m.srcs, [])))) AS srcs, "
            "coalesce(c.title, m.own_title, m.any_title) AS title "
            "FROM m FULL OUTER JOIN current_clusters c ON m.cid = c.cluster_id) "
            f"SELECT cid, title, size, n_in, {_time('first_at')}, {_time('last_at')}, srcs FROM j "
            f"WHERE size >= 2 AND (n_in > 0 OR (coalesce(n_all, 0) = 0 AND {self.window.sql('CAST(last_at AS DATE)')})) "
            "ORDER BY n_in DESC, size DESC, cid"
        )
        self.cluster_count = len(top)
        self.clustered = sum(row[3] for row in top)
        chosen = top[: self.top]
        members: dict[str, list[Member]] = {row[0]: [] for row in chosen}
        if chosen:
            for cid, article_id, title, source, url, published in self.rows(
                f"SELECT cid, article_id, title, src, url, {_time('published_at')} FROM members "
                "WHERE in_range AND cid IN (SELECT unnest(?)) "
                f"QUALIFY row_number() OVER (PARTITION BY cid ORDER BY {seen}, article_id) <= {MEMBER_LIMIT} "
                f"ORDER BY cid, {seen}, article_id",
                [list(members)],
            ):
                members[cid].append(Member(article_id, title, source, url, published))
        return [
            Cluster(cid, title, int(size), int(n_in), first_at, last_at, [s for s in srcs if s], members[cid])
            for cid, title, size, n_in, first_at, last_at, srcs in chosen
        ]

    def coverage(self) -> Coverage:
        return Coverage(
            *self.one(
                "SELECT count(*), count(*) FILTER (people IS NOT NULL), count(*) FILTER (text_source IS NOT NULL), "
                "count(*) FILTER (cluster_id IS NOT NULL) FROM a"
            )
        )

    def schema_versions(self) -> list[dict[str, int]]:
        return [
            {"version": version, "articles": n}
            for version, n in self.rows("SELECT coalesce(schema_version, 0), count(*) FROM a GROUP BY 1 ORDER BY 1")
        ]


_ALIAS_SCHEMA = pa.schema([("old", pa.string()), ("new", pa.string())])


def read_runs(output: str, limit: int) -> tuple[list[RunInfo], list[SkippedFile]]:
    """The latest ``limit`` run summaries (``runs/<run id>.json``), newest first; unreadable ones named."""
    folder = os.path.join(output, RUNS)
    runs: list[RunInfo] = []
    skipped: list[SkippedFile] = []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not _hidden(n))
    except OSError:
        return [], []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as handle:
                summary = json.load(handle)
            if not isinstance(summary, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            skipped.append(SkippedFile(path, f"not a run summary: {str(error)[:200]}"))
            continue
        found = summary.get("counts")
        counts: dict[str, Any] = found if isinstance(found, dict) else {}
        runs.append(
            RunInfo(
                run_id=str(summary.get("run_id") or name[: -len(".json")]),
                mode="stream" if "stream" in summary else "batch",
                state=_text_or_none(summary.get("state")),
                started_at=_text_or_none(summary.get("started_at")),
                finished_at=_text_or_none(summary.get("finished_at")),
                written=_int_or_none(counts.get("written")),
                dead_lettered=_int_or_none(counts.get("dead_lettered")),
            )
        )
    runs.sort(key=lambda run: (run.started_at or "", run.run_id), reverse=True)
    return runs[:limit], skipped


def _text_or_none(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _notes(coverage: Coverage, tables: Mapping[str, int]) -> list[str]:
    """What the reader should know to read the numbers right: columns older files lack, tables never written."""
    notes = []
    older = {
        "entities": coverage.articles - coverage.with_entities,
        "the text source": coverage.articles - coverage.with_text_source,
        "story clusters": coverage.articles - coverage.with_clusters,
    }
    for what, missing in older.items():
        if coverage.articles and missing:
            notes.append(
                f"{missing} of {coverage.articles} article(s) were written by a version that did not record {what}"
            )
    if not tables.get(FEED_HEALTH):
        notes.append("no feed health recorded: no feed was fetched over HTTP into this output")
    return notes


def collect(
    output: str,
    window: DayRange = DayRange(),
    top: int = DEFAULT_TOP,
    now: Optional[dt.datetime] = None,
) -> Report:
    """Reads the output folder and computes every section of the report (raises ``ReportError`` on a bad DIR)."""
    if top < 1:
        raise ReportError("--top must be at least 1")
    check_output(output)
    con = _connect()
    skipped: list[SkippedFile] = []
    tables: dict[str, int] = {}
    for table, columns in (
        (ARTICLES, ARTICLE_COLUMNS),
        (DEAD_LETTERS, DEAD_LETTER_COLUMNS),
        (FEED_HEALTH, FEED_HEALTH_COLUMNS),
        (CLUSTERS, CLUSTER_COLUMNS),
    ):
        files, bad = readable_files(table_files(output, table), _KEY_COLUMN[table])
        skipped.extend(bad)
        tables[table] = len(files)
        skipped.extend(load_table(con, table, files, columns))
    collector = _Collector(con, window, top)
    collector.prepare()
    per_day, sources = collector.articles()
    languages = collector.tallies("coalesce(nullif(trim(language), ''), '(unknown)')")
    text_sources = collector.tallies("coalesce(text_source, '(not recorded)')")
    clusters = collector.clusters()
    repairs = collector.repairs()
    dead = collector.dead_letters()
    feeds = collector.feeds()
    pages = collector.pages()
    coverage = collector.coverage()
    entities = collector.entities()
    versions = collector.schema_versions()
    con.close()
    runs, bad_runs = read_runs(output, top)
    skipped.extend(bad_runs)
    days = sorted({d.day for d in per_day if d.day is not None})
    totals = Totals(
        articles=coverage.articles,
        sources=len(sources),
        days=len(days),
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
        dead_letters=sum(d.count for d in dead),
        feeds=feeds.feeds,
        failing_feeds=feeds.failing,
        clusters=collector.cluster_count,
        articles_in_clusters=collector.clustered,
        page_failures=pages.failed,
        repairs=sum(r.repairs for r in repairs),
    )
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return Report(
        output=output,
        generated_at=moment.strftime(_TIME),
        range={
            "since": window.since.isoformat() if window.since else None,
            "until": window.until.isoformat() if window.until else None,
        },
        totals=totals,
        coverage=coverage,
        schema_versions=versions,
        articles_per_day=per_day,
        sources=sources,
        languages=languages,
        text_sources=text_sources,
        entities=entities,
        clusters=clusters,
        repairs=repairs,
        dead_letters=dead,
        feeds=feeds,
        pages=pages,
        runs=runs,
        skipped_files=skipped,
        notes=_notes(coverage, tables),
    )
