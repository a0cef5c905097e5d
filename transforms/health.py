"""Feed health and feed state: what each fetched feed did, batch and streaming, and what to remember.

A feed's story is spread across the pipeline: the fetch (status, bytes,
retries), the parse (entries, or why none), dedup (new or duplicate) and the
dead letters of every later stage. Both modes join those into one
``FeedHealth`` row (``health_row``) per fetch:

* Batch, ``FeedHealthTable``: by the feed's URL, one row per fetched feed per
  run, and this run folded into the ``FeedState`` carried between runs
  (validators for conditional requests, failure streaks).
* Streaming, ``PollHealth``: by (URL, poll time) within the poll's window,
  one row per feed per poll; the failure streak runs on across polls in
  keyed state (the poll's own fetch state lives with the polling).

State lives in ``DIR/feed_state/`` as one small Parquet file per successful
run, named so that the newest sorts last. It is staged and published with the
run's other files, so a failed run leaves the previous state in force, and the
latest few files are kept for inspection.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils.timestamp import Timestamp

from schemas import (
    FEED_HEALTH_SCHEMA,
    FEED_STATE_SCHEMA,
    FeedFetch,
    FeedHealth,
    FeedOutcome,
    FeedState,
    read_parquet,
    to_arrow_table,
)
from transforms.errors import INPUT_STAGES, counter
from transforms.sinks import STAGING, join, write_parquet

FEED_HEALTH = "feed_health"
FEED_STATE = "feed_state"
#: How many state files (one per successful run) stay in ``feed_state/``.
KEEP_STATE_FILES = 10
_TIMESTAMP: Any = beam.DoFn.TimestampParam


def health_partition(row: FeedHealth) -> str:
    return "fetch_date=" + row.fetched_at.to_utc_datetime().strftime("%Y-%m-%d")


def state_file_name(ingested_at: Timestamp, run_id: str) -> str:
    """A name that sorts by time, whatever the run id looks like."""
    return f"state-{ingested_at.to_utc_datetime().strftime('%Y%m%dT%H%M%S%fZ')}-{run_id}.parquet"


def state_files(directory: str) -> list[str]:
    """This output's state files, oldest first."""
    pattern = join(directory, "state-*.parquet")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - no directory yet: no state
        return []
    return sorted((m.path for m in matched), key=posixpath.basename)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamp(moment: datetime) -> Timestamp:
    """A Beam timestamp from Arrow's aware datetime, exact to the microsecond."""
    return Timestamp(micros=(moment - _EPOCH) // timedelta(microseconds=1))


def read_latest_state(directory: str) -> Iterator[tuple[str, FeedState]]:
    """``(url, FeedState)`` from the newest state file; nothing on a first run.

    Files of every feed schema version read: columns a file predates (the
    refresh hint of version 2) come back null.
    """
    files = state_files(directory)
    if not files:
        return
    with FileSystems.open(files[-1], compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        table = read_parquet(handle)
    for row in table.to_pylist():
        state = FeedState(
            url=row["url"],
            kind=row["kind"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            last_status=row["last_status"],
            consecutive_failures=row["consecutive_failures"],
            last_attempt_at=_timestamp(row["last_attempt_at"]),
            last_success_at=_timestamp(row["last_success_at"]) if row["last_success_at"] is not None else None,
            run_id=row["run_id"],
            next_fetch_after=_timestamp(row["next_fetch_after"]) if row.get("next_fetch_after") is not None else None,
            refresh_hint=row.get("refresh_hint"),
        )
        yield state.url, state


class ReadFeedState(beam.PTransform):
    """The state the last successful run left, as ``(url, FeedState)`` pairs."""

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[tuple[str, FeedState]]:
        return (
            pbegin
            | "StateDir" >> beam.Create([self.directory])
            | "ReadLatest" >> beam.FlatMap(read_latest_state).with_output_types(tuple[str, FeedState])
        )


def health_row(
    run_id: str,
    fetch: FeedFetch,
    outcome: Optional[FeedOutcome],
    new_articles: int,
    duplicates: int,
    dead_lettered: int,
    previous: Optional[FeedState],
) -> FeedHealth:
    """One feed's health: the fetch, then what parsing and the later stages made of it.

    A fetch that succeeded but whose document was no feed (an HTML page, a
    broken XML file) is a failure of the feed all the same: its error is the
    parse error, and it extends the failure streak.
    """
    error_class, error_message = fetch.error_class, fetch.error_message
    if error_class is None and outcome is not None and outcome.error_class is not None:
        error_class, error_message = outcome.error_class, outcome.error_message
    failures = 0 if error_class is None else (previous.consecutive_failures if previous else 0) + 1
    return FeedHealth(
        run_id=run_id,
        url=fetch.url,
        final_url=fetch.final_url,
        parent=fetch.parent,
        kind=fetch.kind,
        status=fetch.status,
        error_class=error_class,
        error_message=error_message,
        bytes=fetch.bytes,
        entries_seen=np.int32(outcome.entries if outcome is not None else 0),
        new_articles=np.int32(new_articles),
        duplicates=np.int32(duplicates),
        dead_lettered=np.int32(dead_lettered),
        not_modified=fetch.not_modified,
        attempts=fetch.attempts,
        redirects=fetch.redirects,
        elapsed_ms=fetch.elapsed_ms,
        consecutive_failures=np.int32(failures),
        content_type=fetch.content_type,
        fetched_at=fetch.fetched_at,
    )


def next_state(previous: Optional[FeedState], fetch: FeedFetch, row: FeedHealth, run_id: str) -> FeedState:
    """What to remember about a feed after this run.

    Validators are taken from a response whose content was usable (or a 304);
    a feed whose content failed forgets them, so the next run fetches it in
    full and the failure stays visible instead of hiding behind a 304; a
    transport failure (500, timeout) keeps the previous ones. The
    publisher's refresh hint is this fetch's (a fetch without one clears
    it): what the feed said last is what holds.
    """
    ok = row.error_class is None
    if ok:
        etag, last_modified = fetch.etag, fetch.last_modified
    elif fetch.error_class is None:
        etag = last_modified = None  # fetched fine, content unusable
    else:
        etag = previous.etag if previous else None
        last_modified = previous.last_modified if previous else None
    return FeedState(
        url=fetch.url,
        kind=fetch.kind,
        etag=etag,
        last_modified=last_modified,
        last_status=fetch.status,
        consecutive_failures=row.consecutive_failures,
        last_attempt_at=fetch.fetched_at,
        last_success_at=fetch.fetched_at if ok else (previous.last_success_at if previous else None),
        run_id=run_id,
        next_fetch_after=fetch.next_fetch_after,
        refresh_hint=fetch.refresh_hint,
    )


def _single(values: Iterable[Any]) -> Optional[Any]:
    return next(iter(values), None)


class _JoinFeed(beam.DoFn):
    """Joins one URL's fetch, outcome and counts into its health row and next state."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._failing = counter("feeds.failing")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        url, grouped = element
        previous: Optional[FeedState] = _single(grouped["state"])
        fetches = list(grouped["fetch"])
        if not fetches:
            if previous is not None:
                yield beam.pvalue.TaggedOutput("state", previous)  # not fetched this run: remembered as it was
            return
        # One fetch per URL (FetchFeeds dedups); should a URL be fetched in
        # both rounds, the first round's row stands for it.
        fetch = min(fetches, key=lambda f: f.fetched_at)
        row = health_row(
            self.run_id,
            fetch,
            _single(grouped["outcome"]),
            sum(grouped["written"]),
            sum(grouped["duplicates"]),
            sum(grouped["dead"]),
            previous,
        )
        if row.error_class is not None:
            self._failing.inc()
        yield row
        yield beam.pvalue.TaggedOutput("state", next_state(previous, fetch, row, self.run_id))


class FeedHealthTable(beam.PTransform):
    """Per-feed health rows and the next feed state, from the pipeline's per-feed evidence.

    Takes a dict of PCollections: ``fetches`` (FeedFetch), ``outcomes``
    (FeedOutcome), ``written`` (written articles), ``duplicates`` (sources of
    dropped copies), ``dead_letters`` (DeadLetter) and ``state`` ((url,
    FeedState) from the previous run).
    """

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def expand(self, inputs: dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        def count(label: str, sources: beam.PCollection) -> beam.PCollection:
            return sources | f"Count{label}" >> beam.combiners.Count.PerElement()

        written = count("Written", inputs["written"] | "WrittenSource" >> beam.Map(lambda a: a.source))
        duplicates = count("Duplicates", inputs["duplicates"])
        dead = count(
            "DeadLetters",
            inputs["dead_letters"]
            | "EntryDeadLetters" >> beam.Filter(lambda d: d.stage not in INPUT_STAGES)  # no entries yet
            | "DeadSource" >> beam.Map(lambda d: d.source),
        )
        joined = (
            {
                "fetch": inputs["fetches"] | "KeyFetch" >> beam.Map(lambda f: (f.url, f)),
                "outcome": inputs["outcomes"] | "KeyOutcome" >> beam.Map(lambda o: (o.source, o)),
                "written": written,
                "duplicates": duplicates,
                "dead": dead,
                "state": inputs["state"],
            }
            | "GroupByFeed" >> beam.CoGroupByKey()
            | "Join"
            >> beam.ParDo(_JoinFeed(self.run_id)).with_output_types(FeedHealth).with_outputs("state", main="health")
        )
        return {"health": joined.health, "state": joined.state}


class _StampKey(beam.DoFn):
    """Keys a record by (its feed URL, its poll time): all of one poll's evidence meets under one key."""

    def __init__(self, url_of: Callable[[Any], str]):
        self.url_of = url_of

    def process(self, record: Any, polled_at: Timestamp = _TIMESTAMP) -> Iterator[tuple[tuple[str, int], Any]]:
        yield (self.url_of(record), polled_at.micros), record


class _JoinPoll(beam.DoFn):
    def __init__(self, run_id: str):
        self.run_id = run_id

    def process(self, element: tuple[tuple[str, int], dict[str, Iterable[Any]]]) -> Iterator[FeedHealth]:
        _, grouped = element
        fetches = list(grouped["fetch"])
        if not fetches:
            return
        fetch_ = fetches[0]
        streak = next(iter(grouped["streak"]), 0)
        previous = FeedState(
            fetch_.url, fetch_.kind, None, None, None, np.int32(streak), fetch_.fetched_at, None, self.run_id
        )
        yield health_row(
            self.run_id,
            fetch_,
            next(iter(grouped["outcome"]), None),
            sum(1 for _ in grouped["new"]),
            sum(1 for _ in grouped["duplicates"]),
            sum(1 for _ in grouped["dead"]),
            previous,
        )


class PollHealth(beam.PTransform):
    """One ``FeedHealth`` row per feed per poll, joined by (URL, poll time) within the poll's window.

    The streaming twin of ``FeedHealthTable``. Everything a poll leads to
    keeps the poll's timestamp until the articles are re-stamped with their
    event time, so the fetch, the parse outcome, the new and duplicate
    articles and the dead letters of one poll share a key and a window.
    Takes a dict of PCollections: ``fetches``, ``outcomes``, ``streaks``
    ((url, failures in a row before the poll), from the polls), ``new``,
    ``duplicates`` and ``dead_letters``.
    """

    def __init__(self, run_id: str, window_seconds: float):
        super().__init__()
        self.run_id = run_id
        self.window_seconds = window_seconds

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection[FeedHealth]:
        def keyed(label: str, name: str, url_of: Callable[[Any], str]) -> beam.PCollection:
            return (
                inputs[name]
                | f"Key{label}" >> beam.ParDo(_StampKey(url_of))
                | f"Window{label}" >> beam.WindowInto(window.FixedWindows(self.window_seconds))
            )

        joined = (
            {
                "fetch": keyed("Fetch", "fetches", lambda f: f.url),
                "outcome": keyed("Outcome", "outcomes", lambda o: o.source),
                "streak": keyed("Streak", "streaks", lambda s: s[0])
                | "StreakValue" >> beam.Map(lambda kv: (kv[0], kv[1][1])),
                "new": keyed("New", "new", lambda a: a.source),
                "duplicates": keyed("Duplicates", "duplicates", lambda source: source),
                "dead": keyed(
                    "Dead",
                    "dead_letters",
                    lambda d: d.source,
                )
                | "EntryDeadOnly" >> beam.Filter(lambda kv: kv[1].stage not in INPUT_STAGES),  # no entries yet
            }
            | "GroupByPoll" >> beam.CoGroupByKey()
            | "Join" >> beam.ParDo(_JoinPoll(self.run_id)).with_output_types(FeedHealth)
        )
        # Failure streaks across polls: keyed state lives per key and window,
        # so the rows visit the global window for it, then go back to theirs.
        return (
            joined
            | "KeyByUrl" >> beam.Map(lambda row: (row.url, row)).with_output_types(tuple[str, FeedHealth])
            | "AcrossWindows" >> beam.WindowInto(window.GlobalWindows())
            | "Streaks" >> beam.ParDo(_Streaks()).with_output_types(FeedHealth)
            | "BackToPollWindows" >> beam.WindowInto(window.FixedWindows(self.window_seconds))
        )


_STREAK = ReadModifyWriteStateSpec("streak", beam.coders.VarIntCoder())
_STREAK_PARAM = beam.DoFn.StateParam(_STREAK)


class _Streaks(beam.DoFn):
    """Counts a feed's failed polls in a row, content failures (an HTML page, a broken feed) included.

    The poll's keyed fetch state only sees transport failures; this sees the
    joined row. A feed's first row keeps the streak the fetch state started
    from (which a batch run's ``feed_state/`` may have seeded).
    """

    def process(self, element: tuple[str, FeedHealth], streak: Any = _STREAK_PARAM) -> Iterator[FeedHealth]:
        _, row = element
        previous = streak.read()
        if previous is None:
            current = int(row.consecutive_failures)
        else:
            current = previous + 1 if row.error_class is not None else 0
        streak.write(current)
        yield row._replace(consecutive_failures=np.int32(current))


def _write_state(
    _: Any, rows: list[FeedState], output: str, run_id: str, ingested_at: Timestamp
) -> Iterator[tuple[str, str]]:
    if not rows:
        return
    name = state_file_name(ingested_at, run_id)
    staged = join(output, STAGING, run_id, FEED_STATE, name)
    write_parquet(staged, to_arrow_table(sorted(rows, key=lambda s: s.url), FEED_STATE_SCHEMA))
    yield staged, join(output, FEED_STATE, name)


class WriteFeedState(beam.PTransform):
    """Stages this run's feed state as one file; outputs its (staged, final) move for ``Publish``."""

    def __init__(self, output: str, run_id: str, ingested_at: Timestamp):
        super().__init__()
        self.output = output
        self.run_id = run_id
        self.ingested_at = ingested_at

    def expand(self, states: beam.PCollection[FeedState]) -> beam.PCollection[tuple[str, str]]:
        return (
            states.pipeline
            | "Once" >> beam.Create([None])
            | "WriteState"
            >> beam.FlatMap(_write_state, beam.pvalue.AsList(states), self.output, self.run_id, self.ingested_at)
        )


def prune_state(_: Any, directory: str, keep: int = KEEP_STATE_FILES) -> int:
    """Deletes all but the newest ``keep`` state files; runs after a successful publish."""
    files = state_files(directory)
    old = files[:-keep] if keep > 0 else files
    if old:
        FileSystems.delete(old)
    return len(old)


def read_health(output: str, run_id: str) -> list[dict[str, Any]]:
    """This run's feed-health rows, read back from the published table (for the summary)."""
    pattern = join(output, FEED_HEALTH, "*", f"part-{run_id}-*.parquet")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # noqa: BLE001 - no feeds fetched: no table
        return []
    rows: list[dict[str, Any]] = []
    for metadata in sorted(matched, key=lambda m: m.path):
        with FileSystems.open(metadata.path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            rows.extend(read_parquet(handle, schema=FEED_HEALTH_SCHEMA).to_pylist())
    # The glob also matches runs whose id extends this one ("nightly-2" for "nightly").
    return [row for row in rows if row["run_id"] == run_id]
